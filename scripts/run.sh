#!/usr/bin/env bash
# `make run`: the whole pipeline on this machine, until Ctrl-C. Kafka and Neo4j
# are already up (make infra-up); this script
#   1. creates the Kafka topics (kgctl topics ensure),
#   2. picks where the workers run (KG_BACKEND, default auto):
#      - nomad: the agent answering at NOMAD_ADDR, or `nomad agent -dev` started
#        here when a nomad binary is on PATH; docker tasks from the local image
#        (make image) when dockerd answers, raw_exec tasks otherwise;
#      - embedded: no Nomad at all: the control plane runs the raw_exec tasks as
#        its own child processes;
#   3. writes the var-file for that choice (worker binary, Neo4j URI),
#   4. starts kg-control-plane and two simulated clients (kg-agent simulate
#      --loop) with different fault scenarios,
#   5. says where to look, and reports the graph as it grows.
# Ctrl-C stops, in order: the control plane (embedded: with its workers), the
# clients (they deregister), the Nomad dev agent's jobs, then the agent.
#
# Settings: KG_BACKEND (auto|nomad|embedded), KG_DRIVER (docker|raw_exec, with
# Nomad), KG_DEMO_CLIENTS ("demo-shop:oom-kill-loop demo-pay:database-down"),
# KG_DEMO_RATE (records/s per client, 20), KG_STALE_MINUTES (2), and the
# usual KAFKA_BROKERS, NEO4J_URI, NEO4J_HTTP_PORT, NOMAD_ADDR, KG_HTTP_ADDR,
# KG_STATE_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KG_ROOT"

export KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:${KAFKA_PORT:-9092}}
export NEO4J_URI=${NEO4J_URI:-bolt://127.0.0.1:${NEO4J_BOLT_PORT:-7687}}
export KG_HTTP_ADDR=${KG_HTTP_ADDR:-127.0.0.1:8080}
export JOBSPECS_DIR=${JOBSPECS_DIR:-$KG_ROOT/jobspecs}
export KG_STATE_DIR=${KG_STATE_DIR:-$KG_RUN_DIR/embedded}
export STALE_CLIENT_THRESHOLD_MINUTES=${KG_STALE_MINUTES:-${STALE_CLIENT_THRESHOLD_MINUTES:-2}}
neo4j_http=http://127.0.0.1:${NEO4J_HTTP_PORT:-7474}
backend=${KG_BACKEND:-auto}
demo_clients=${KG_DEMO_CLIENTS:-demo-shop:oom-kill-loop demo-pay:database-down}
rate=${KG_DEMO_RATE:-20}
run_dir=$KG_RUN_DIR/make-run
nomad_dir=$run_dir/nomad
mkdir -p "$run_dir" "$nomad_dir"
started=$SECONDS

for b in kg-control-plane kgctl kg-worker kg-agent; do
  [ -x "bin/$b" ] || die "bin/$b is missing: run 'make build' (make run does it for you)"
done
case "$backend" in auto|nomad|embedded) ;; *) die "KG_BACKEND=$backend: want auto, nomad or embedded" ;; esac

log "creating Kafka topics (idempotent)"
bin/kgctl topics ensure >"$run_dir/topics.log" 2>&1 || { cat "$run_dir/topics.log" >&2; die "could not create the topics (is Kafka up at $KAFKA_BROKERS? make infra-status)"; }

# ---- where the workers run ------------------------------------------------------
nomad_url=${NOMAD_ADDR:-http://127.0.0.1:4646}
nomad_up() { curl -fsS -m 2 "$nomad_url/v1/status/leader" 2>/dev/null | grep -q ':'; }
docker_up() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }
agent_pid=
if [ "$backend" = auto ]; then
  if nomad_up || command -v nomad >/dev/null 2>&1; then backend=nomad; else backend=embedded; fi
fi

if [ "$backend" = nomad ]; then
  export NOMAD_ADDR=$nomad_url KG_BACKEND=nomad
  if nomad_up; then
    log "using the Nomad agent at $NOMAD_ADDR"
  else
    command -v nomad >/dev/null 2>&1 || die "KG_BACKEND=nomad but no Nomad answers at $NOMAD_ADDR and no nomad binary is on PATH"
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
ports {
  http = $port
  rpc  = $((port + 1))
  serf = $((port + 2))
}
client {
  options = { "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean" }
}
plugin "raw_exec" {
  config { enabled = true }
}
HCL
    log "starting 'nomad agent -dev' on $NOMAD_ADDR (log: $nomad_dir/agent.log)"
    # Its own session: a Ctrl-C must not reach it before its tasks are stopped.
    setsid nomad agent -dev -bind=127.0.0.1 -network-interface=lo -config="$nomad_dir/dev.hcl" >"$nomad_dir/agent.log" 2>&1 &
    agent_pid=$!
    deadline=$((SECONDS + 90))
    until nomad_up; do
      kill -0 "$agent_pid" 2>/dev/null || { tail -n 30 "$nomad_dir/agent.log" >&2; die "the Nomad dev agent exited"; }
      [ $SECONDS -lt $deadline ] || die "the Nomad dev agent did not elect a leader in 90s (see $nomad_dir/agent.log)"
      sleep 0.5
    done
    log "Nomad dev agent ready"
  fi
  driver=${KG_DRIVER:-}
  if [ -z "$driver" ]; then
    if docker_up; then driver=docker; else driver=raw_exec; fi
  fi
  if [ "$driver" = docker ]; then
    docker_up || die "KG_DRIVER=docker but no Docker daemon answers (start one: dockerd --bridge=none --iptables=false)"
    log "building the kg-worker image (make image)"
    scripts/image.sh
    template_vars=jobspecs/vars/dev-docker.vars.hcl
  else
    template_vars=jobspecs/vars/dev.vars.hcl
  fi
else
  export KG_BACKEND=embedded
  unset NOMAD_ADDR
  driver=raw_exec
  template_vars=jobspecs/vars/dev.vars.hcl
  log "no Nomad here: the control plane runs the workers itself (embedded backend; logs under $KG_STATE_DIR/logs)"
fi

# The shipped dev var-files name a placeholder binary and the default Neo4j;
# point them at ours.
vars=$run_dir/run.vars.hcl
sed -e "s|^worker_binary .*|worker_binary   = \"$KG_ROOT/bin/kg-worker\"|" \
    -e "s|^neo4j_uri .*|neo4j_uri       = \"$NEO4J_URI\"|" \
    "$template_vars" > "$vars"
export JOBSPEC_VARS_FILE=${JOBSPEC_VARS_FILE:-$vars}

# ---- start and stop ---------------------------------------------------------------
plane_pid=
agent_pids=()
stopping=
cleanup() {
  [ -n "$stopping" ] && return
  stopping=1
  trap '' INT TERM
  echo >&2
  # The control plane first: with Nomad its jobs keep running (a control plane
  # restart must not touch them) and are stopped below; embedded, it stops
  # its workers with their kill signal.
  if [ -n "$plane_pid" ]; then
    log "stopping the control plane$([ "$KG_BACKEND" = embedded ] && echo " and its workers")"
    kill -TERM "$plane_pid" 2>/dev/null || true
    wait "$plane_pid" 2>/dev/null || true
  fi
  if [ ${#agent_pids[@]} -gt 0 ]; then
    log "stopping the simulated clients (they deregister)"
    # CONT first: a client paused with kill -STOP would never see the INT.
    kill -CONT "${agent_pids[@]}" 2>/dev/null || true
    kill -INT "${agent_pids[@]}" 2>/dev/null || true
    for p in "${agent_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  fi
  if [ -n "$agent_pid" ]; then
    # Stop (not purge) every job, so its allocations stay visible until the
    # client has stopped their tasks; only then stop the agent: raw_exec
    # executors and docker containers would outlive an agent stopped first.
    log "stopping the Nomad dev agent's jobs, then the agent"
    for j in $(curl -fsS -m 5 "$NOMAD_ADDR/v1/jobs" 2>/dev/null | grep -o '"ID":"[^"]*"' | cut -d'"' -f4 | sort -u); do
      curl -fsS -m 5 -X DELETE "$NOMAD_ADDR/v1/job/$j" >/dev/null 2>&1 || true
    done
    deadline=$((SECONDS + 60))
    while curl -fsS -m 2 "$NOMAD_ADDR/v1/allocations" 2>/dev/null | grep -Eq '"ClientStatus":"(running|pending)"' && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
    kill -INT "$agent_pid" 2>/dev/null || true
    deadline=$((SECONDS + 20))
    while kill -0 "$agent_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -KILL -- "-$agent_pid" 2>/dev/null || true
  fi
  log "stopped. Kafka and Neo4j keep running for the next 'make run' (make infra-down stops them)."
}
trap cleanup EXIT
# A requested stop is not a failure: exit 0 after the cleanup.
trap 'exit 0' INT TERM

log "starting kg-control-plane (KG_BACKEND=$KG_BACKEND, driver $driver; log: $run_dir/control-plane.log)"
setsid bin/kg-control-plane >"$run_dir/control-plane.log" 2>&1 &
plane_pid=$!
deadline=$((SECONDS + 60))
until curl -fsS -m 2 "http://$KG_HTTP_ADDR/readyz" >/dev/null 2>&1; do
  if ! kill -0 "$plane_pid" 2>/dev/null; then
    tail -n 20 "$run_dir/control-plane.log" >&2
    plane_pid=
    die "kg-control-plane exited (above: the end of its log)"
  fi
  [ $SECONDS -lt $deadline ] || { tail -n 20 "$run_dir/control-plane.log" >&2; die "kg-control-plane is not ready after 60s (see $run_dir/control-plane.log)"; }
  sleep 0.5
done

clients=()
for spec in $demo_clients; do clients+=("${spec%%:*}"); done
quoted=$(printf "'%s'," "${clients[@]}"); quoted=${quoted%,}
# Report the graph as it grows (Neo4j's HTTP API; no extra tool needed).
graph_counts() {
  curl -fsS -m 5 -H 'Content-Type: application/json' "$neo4j_http/db/neo4j/tx/commit" -d "{\"statements\":[{\"statement\":
    \"MATCH (e:Event) WHERE e.client IN [$quoted] WITH count(e) AS events OPTIONAL MATCH (:Event)-[x:CAUSES]->(c:Event) WHERE c.client IN [$quoted] RETURN events, count(x)\"}]}" 2>/dev/null |
    grep -o '"row":\[[0-9]*,[0-9]*\]' | grep -o '[0-9]*,[0-9]*' || true
}
# The graph may hold these clients' edges from an earlier run: count from here.
base=$(graph_counts); base_edges=${base#*,}; base_edges=${base_edges:-0}

for spec in $demo_clients; do
  client=${spec%%:*} scenario=${spec#*:}
  log "simulated client $client: scenario $scenario in a loop, $rate records/s (log: $run_dir/$client.log)"
  setsid bin/kg-agent simulate --client "$client" --scenario "$scenario" --loop --rate "$rate" \
    --heartbeat-every 10s --deregister-on-exit --cluster-name "make-run-$client" >"$run_dir/$client.log" 2>&1 &
  agent_pids+=($!)
done

browser="$neo4j_http/browser/"
curl -fsS -m 2 -o /dev/null "$browser" 2>/dev/null || browser="(not served by this Neo4j: it was started before Neo4j Browser was added; restart it with 'make infra-down infra-up')"
cat >&2 <<MSG

  kgplane is running: Kafka, Neo4j, the control plane ($KG_BACKEND backend, $driver tasks)
  and two simulated clients: ${clients[*]}.

  Where to look:
    bin/kgctl clients                      the clients, their phase and their jobs
    bin/kgctl rca --client ${clients[0]}        what caused it: the incidents and their ranked root causes
    control plane  http://$KG_HTTP_ADDR/ lists its endpoints: /healthz /readyz /metrics
                   /v1/clients (what kgctl clients shows) /v1/clients/<id>/rca (what kgctl rca shows)
    Neo4j Browser  $browser
                   connect to $NEO4J_URI (no authentication), then paste:

      MATCH (c:Event)-[x:CAUSES]->(e:Event)-[:ABOUT]->(r:Resource)
      WHERE c.client IN [$quoted]
      RETURN c, x, e, r LIMIT 300
$( if [ "$KG_BACKEND" = nomad ]; then
     echo "    Nomad UI       $NOMAD_ADDR/ui/jobs (each client's three jobs and their HCL source)"
   else
     echo "    worker logs    $KG_STATE_DIR/logs/<job id>/<task>.log, e.g. kg-graph-builder-${clients[0]}/graph-builder.log"
   fi )
    logs           $run_dir/{control-plane,${clients[0]},...}.log

  Next: pause a client (kill -STOP \$(pgrep -f 'client ${clients[0]}')): no heartbeat, its jobs go after
  ${STALE_CLIENT_THRESHOLD_MINUTES} min; kill -CONT brings it back. More scenarios: bin/kg-agent simulate --list.
  Ctrl-C stops everything this started.

MSG

# jobs_summary: "demo-shop active 3/3 jobs running; ..." from kgctl clients.
jobs_summary() {
  bin/kgctl clients 2>/dev/null | awk -v list=" ${clients[*]} " 'index(list, " " $1 " ") {
    n = gsub(/\(running\)/, "&"); total = ($NF == "-") ? 0 : NF - 5
    printf "%s %s %d/%d jobs running; ", $1, $2, n, total }'
}
first_edges=
last_report=0
while true; do
  for i in "${!agent_pids[@]}"; do
    kill -0 "${agent_pids[$i]}" 2>/dev/null || { tail -n 15 "$run_dir/${clients[$i]}.log" >&2; die "the simulated client ${clients[$i]} exited (above: the end of its log)"; }
  done
  kill -0 "$plane_pid" 2>/dev/null || { tail -n 20 "$run_dir/control-plane.log" >&2; die "kg-control-plane exited (above: the end of its log)"; }
  counts=$(graph_counts)
  events=${counts%,*} edges=${counts#*,}
  if [ -z "$first_edges" ] && [ -n "$counts" ] && [ "${edges:-0}" -gt "$base_edges" ]; then
    first_edges=$((SECONDS - started))
    log "the graph is being built: first new CAUSES edges ${first_edges}s after start ($events events, $edges edges); paste the query above into Neo4j Browser"
    last_report=$SECONDS
  elif [ $((SECONDS - last_report)) -ge 30 ]; then
    log "graph of ${clients[*]}: ${events:-0} events, ${edges:-0} CAUSES edges; $(jobs_summary)"
    last_report=$SECONDS
  fi
  sleep 3 &
  wait $! || true
done
