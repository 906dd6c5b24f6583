#!/usr/bin/env bash
# `make image`: the kg-worker image for the docker driver, built locally without
# pulling anything: FROM scratch with the static binary (CGO_ENABLED=0) and the
# host's CA bundle (scripts/kg-worker.scratch.Dockerfile). The repository's
# Dockerfile (distroless, multi-stage) stays the way to build it for a registry.
#
# Settings: KG_WORKER_IMAGE (kg-worker:dev, the name jobspecs/vars/dev-docker.vars.hcl
# uses), CA_BUNDLE (/etc/ssl/certs/ca-certificates.crt), GO (go).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KG_ROOT"

image=${KG_WORKER_IMAGE:-kg-worker:dev}
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
command -v docker >/dev/null 2>&1 || die "no docker CLI on PATH (apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "no Docker daemon answers; start one (on a dev host without a bridge: dockerd --bridge=none --iptables=false)"
[ -r "$ca" ] || die "no CA bundle at $ca (apt-get install ca-certificates, or set CA_BUNDLE)"

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
log "building a static kg-worker"
CGO_ENABLED=0 GOOS=linux "${GO:-go}" build -trimpath -ldflags="-s -w" -o "$ctx/kg-worker" ./cmd/kg-worker
cp "$ca" "$ctx/ca-certificates.crt"
cp scripts/kg-worker.scratch.Dockerfile "$ctx/Dockerfile"
log "building image $image (FROM scratch: nothing is pulled)"
# --pull=false: never ask a registry, even for a cache check.
docker build --pull=false -q -t "$image" "$ctx" >/dev/null
log "image $image: $(docker image inspect -f '{{.Id}} {{.Size}} bytes' "$image")"
