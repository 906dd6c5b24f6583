#!/usr/bin/env bash
# `make run`: the local stack in one command. Kafka and Neo4j are already up
# (make infra-up); this script
#   1. creates the Kafka topics (kgctl topics ensure),
#   2. uses the Nomad agent answering at NOMAD_ADDR, or starts `nomad agent -dev`
#      on 127.0.0.1 when a nomad binary is on PATH (cloud fingerprinters denied),
#   3. writes a dev var-file pointing the raw_exec templates at ./bin/kg-worker,
#   4. runs kg-control-plane in the foreground (Ctrl-C stops it and the dev agent).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KG_ROOT"

export KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:${KAFKA_PORT:-9092}}
export NEO4J_URI=${NEO4J_URI:-bolt://127.0.0.1:${NEO4J_BOLT_PORT:-7687}}
export NOMAD_ADDR=${NOMAD_ADDR:-http://127.0.0.1:4646}
export KG_HTTP_ADDR=${KG_HTTP_ADDR:-127.0.0.1:8080}
export JOBSPECS_DIR=${JOBSPECS_DIR:-$KG_ROOT/jobspecs}
nomad_dir=$KG_RUN_DIR/nomad
mkdir -p "$nomad_dir"

[ -x bin/kg-control-plane ] && [ -x bin/kgctl ] && [ -x bin/kg-worker ] || die "binaries missing: run 'make build' (make run does it for you)"

log "creating Kafka topics (idempotent)"
bin/kgctl topics ensure >&2

nomad_up() { curl -fsS -m 2 "$NOMAD_ADDR/v1/status/leader" 2>/dev/null | grep -q ':'; }
agent_pid=
if nomad_up; then
  log "using the Nomad agent at $NOMAD_ADDR"
elif command -v nomad >/dev/null 2>&1; then
  case "$NOMAD_ADDR" in
    http://127.0.0.1:*|http://localhost:*) ;;
    *) die "no Nomad answers at NOMAD_ADDR=$NOMAD_ADDR and it is not local, so a dev agent cannot stand in for it" ;;
  esac
  port=${NOMAD_ADDR##*:}
  # The cloud fingerprinters probe link-local metadata addresses and the update
  # check calls HashiCorp; a dev agent has no business with either.
  cat > "$nomad_dir/dev.hcl" <<HCL
bind_addr = "127.0.0.1"
disable_update_check = true
ports { http = $port }
client {
  options = { "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean" }
}
plugin "raw_exec" {
  config { enabled = true }
}
HCL
  log "starting 'nomad agent -dev' on $NOMAD_ADDR (log: $nomad_dir/agent.log)"
  nomad agent -dev -bind=127.0.0.1 -network-interface=lo -config="$nomad_dir/dev.hcl" >"$nomad_dir/agent.log" 2>&1 &
  agent_pid=$!
  echo "$agent_pid" > "$nomad_dir/agent.pid"
  deadline=$((SECONDS + 60))
  until nomad_up; do
    kill -0 "$agent_pid" 2>/dev/null || { tail -n 30 "$nomad_dir/agent.log" >&2; die "the Nomad dev agent exited"; }
    [ $SECONDS -lt $deadline ] || die "the Nomad dev agent did not elect a leader in 60s (see $nomad_dir/agent.log)"
    sleep 0.5
  done
  log "Nomad dev agent ready: UI at $NOMAD_ADDR/ui"
else
  log "WARNING: no Nomad agent answers at $NOMAD_ADDR and no 'nomad' binary is on PATH."
  log "         Install Nomad (https://developer.hashicorp.com/nomad/install) or point NOMAD_ADDR at an agent."
  log "         The control plane starts anyway and submits the jobs as soon as Nomad answers."
fi

# The shipped dev var-file names a placeholder binary; point it at ours.
vars=$KG_RUN_DIR/dev.vars.hcl
sed -e "s|^worker_binary .*|worker_binary   = \"$KG_ROOT/bin/kg-worker\"|" \
    -e "s|^neo4j_uri .*|neo4j_uri       = \"$NEO4J_URI\"|" \
    jobspecs/vars/dev.vars.hcl > "$vars"
export JOBSPEC_VARS_FILE=${JOBSPEC_VARS_FILE:-$vars}

cleanup() {
  if [ -n "$agent_pid" ]; then
    log "stopping the Nomad dev agent"
    kill "$agent_pid" 2>/dev/null || true
    wait "$agent_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

cat >&2 <<MSG

  kgplane control plane: http://$KG_HTTP_ADDR/v1/clients  (metrics: /metrics)
  Try, in another terminal:
    bin/kgctl register --client af-9 --cluster-name demo
    bin/kgctl heartbeat --client af-9 --every 30s
    bin/kgctl clients
  Ctrl-C stops the control plane$( [ -n "$agent_pid" ] && echo " and the Nomad dev agent" ); Kafka and Neo4j keep
  running until 'make infra-down'.

MSG
bin/kg-control-plane
