#!/usr/bin/env bash
# Neo4j Community 5.26 LTS (Bolt) for development and tests, from Maven Central.
#
#   scripts/neo4j.sh start    download on first use, start, wait until Bolt answers
#   scripts/neo4j.sh stop     stop it (data stays until 'clean')
#   scripts/neo4j.sh status   exit 0 when it answers
#   scripts/neo4j.sh clean    stop and delete its data
#
# Settings: NEO4J_BOLT_PORT (7687), NEO4J_HTTP_PORT (7474), NEO4J_HEAP (1g),
# NEO4J_PAGECACHE (512m), KG_CACHE_DIR, KG_RUN_DIR. Bound to 127.0.0.1 only.
# Authentication is off: this is a throwaway local server (NEO4J_USER/NEO4J_PASSWORD
# are still honoured by kgplane for real servers).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NEO4J_BOLT_PORT=${NEO4J_BOLT_PORT:-7687}
NEO4J_HTTP_PORT=${NEO4J_HTTP_PORT:-7474}
NEO4J_HEAP=${NEO4J_HEAP:-1g}
NEO4J_PAGECACHE=${NEO4J_PAGECACHE:-512m}
home=$KG_CACHE_DIR/neo4j
dir=$KG_RUN_DIR/neo4j-$NEO4J_BOLT_PORT
pidfile=$dir/neo4j.pid
logfile=$dir/neo4j.out

write_config() {
  mkdir -p "$dir"/{conf,data,logs,run,plugins,import}
  cat > "$dir/conf/neo4j.conf" <<CONF
server.default_listen_address=127.0.0.1
server.default_advertised_address=127.0.0.1
server.bolt.listen_address=127.0.0.1:$NEO4J_BOLT_PORT
server.bolt.advertised_address=127.0.0.1:$NEO4J_BOLT_PORT
server.http.listen_address=127.0.0.1:$NEO4J_HTTP_PORT
server.http.advertised_address=127.0.0.1:$NEO4J_HTTP_PORT
server.https.enabled=false
dbms.security.auth_enabled=false
dbms.usage_report.enabled=false
server.memory.pagecache.size=$NEO4J_PAGECACHE
db.tx_log.rotation.retention_policy=100M size
server.directories.data=$dir/data
server.directories.logs=$dir/logs
server.directories.run=$dir/run
server.directories.plugins=$dir/plugins
server.directories.import=$dir/import
CONF
}

ready() { curl -fsS -m 2 "http://127.0.0.1:$NEO4J_HTTP_PORT/" >/dev/null 2>&1 && port_open "$NEO4J_BOLT_PORT"; }

case "${1:-}" in
  start)
    need_java
    command -v curl >/dev/null || die "curl is needed to probe Neo4j (apt-get install curl)"
    if pid_alive "$pidfile" && ready; then log "already running, bolt://127.0.0.1:$NEO4J_BOLT_PORT"; exit 0; fi
    for p in "$NEO4J_BOLT_PORT" "$NEO4J_HTTP_PORT"; do
      port_open "$p" && die "127.0.0.1:$p is taken by another process; set NEO4J_BOLT_PORT / NEO4J_HTTP_PORT (and NEO4J_URI for kgplane) to free ports"
    done
    fetch_jars neo4j "$KG_ROOT/scripts/maven/neo4j"
    write_config
    log "starting Neo4j Community on bolt://127.0.0.1:$NEO4J_BOLT_PORT (data: $dir)"
    nohup "$JAVA" -Xms256m -Xmx"$NEO4J_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
      -cp "$home/lib/*" org.neo4j.server.CommunityEntryPoint \
      --home-dir="$dir" --config-dir="$dir/conf" >"$logfile" 2>&1 &
    echo $! > "$pidfile"
    wait_for "Neo4j" 180 "$pidfile" "$dir/logs/neo4j.log" ready
    log "Neo4j is ready: NEO4J_URI=bolt://127.0.0.1:$NEO4J_BOLT_PORT"
    ;;
  stop) stop_pid Neo4j "$pidfile" ;;
  status)
    if ready; then echo "neo4j: up, bolt://127.0.0.1:$NEO4J_BOLT_PORT"; else echo "neo4j: down (bolt 127.0.0.1:$NEO4J_BOLT_PORT)"; exit 1; fi ;;
  clean) stop_pid Neo4j "$pidfile"; rm -rf "$dir"; log "removed $dir" ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
