# kg-worker image built without pulling anything (`make image`, scripts/image.sh):
# FROM scratch with the static binary and the host's CA bundle, both copied
# into the build context by the script. For a registry, use ./Dockerfile.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY kg-worker /kg-worker
# The distroless "nonroot" user: no root inside the container.
USER 65532:65532
ENTRYPOINT ["/kg-worker"]
