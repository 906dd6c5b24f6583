# kg-worker image: one static binary, one role per container
# (docker run IMAGE event-normalizer | log-normalizer | graph-builder).
# Build: docker build -t ghcr.io/kgrca/kg-worker:<version> .
# (For a registry. On a host that cannot pull base images, `make image` builds
# kg-worker:dev FROM scratch instead: scripts/kg-worker.scratch.Dockerfile.)

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so source edits reuse the module cache layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/kg-worker ./cmd/kg-worker

# distroless static: CA certificates and a nonroot user, no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kg-worker /kg-worker
USER nonroot:nonroot
ENTRYPOINT ["/kg-worker"]
