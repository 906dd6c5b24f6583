#!/usr/bin/env bash
# Shared helpers for the local-infrastructure scripts. Sourced, not run.
# Everything lives under KG_CACHE_DIR (downloads, kept) and KG_RUN_DIR (data, throwaway);
# both default to folders inside the checkout that .gitignore lists.

set -euo pipefail

KG_ROOT=${KG_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
KG_CACHE_DIR=${KG_CACHE_DIR:-$KG_ROOT/.cache}
KG_RUN_DIR=${KG_RUN_DIR:-$KG_CACHE_DIR/run}
JAVA=${JAVA:-java}
MVN=${MVN:-mvn}

log()  { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die()  { log "error: $*"; exit 1; }

need_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "no java on PATH (Java 17 or newer is needed); install a JDK or set JAVA=/path/to/java"
  local v
  v=$("$JAVA" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
  [ "${v%%.*}" -ge 17 ] 2>/dev/null || die "java $v is too old: Kafka 4 and Neo4j 5.26 need Java 17 or newer (set JAVA=...)"
}

# port_open PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_alive FILE: true when FILE names a running process.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# fetch_jars NAME POMDIR: copies the runtime class path of POMDIR/pom.xml into
# $KG_CACHE_DIR/NAME/lib once; a marker file makes later calls free.
fetch_jars() {
  local name=$1 pomdir=$2 dest=$KG_CACHE_DIR/$1
  local stamp
  stamp=$(sha256sum "$pomdir/pom.xml" | cut -c1-16)
  if [ -f "$dest/.complete-$stamp" ]; then return 0; fi
  command -v "$MVN" >/dev/null 2>&1 || die "no mvn on PATH: Maven is needed once to download $name from Maven Central (apt-get install maven)"
  log "downloading $name from Maven Central into $dest (first run only) ..."
  rm -rf "$dest/lib.tmp"
  mkdir -p "$dest"
  # -B drops colour, but Maven 3.8's jansi still writes a reset code (ESC[0m)
  # on each stream when it exits, which lands in our logs; noreset stops it.
  MAVEN_OPTS="${MAVEN_OPTS:-} -Djansi.noreset=true" \
  "$MVN" -q -B -f "$pomdir/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$dest/lib.tmp" >&2 \
    || die "maven could not resolve $name (see above); check that Maven Central is reachable"
  rm -rf "$dest/lib" && mv "$dest/lib.tmp" "$dest/lib"
  rm -f "$dest"/.complete-* && touch "$dest/.complete-$stamp"
  log "$name: $(ls "$dest/lib" | wc -l) jars cached"
}

# wait_for DESC TIMEOUT_S PIDFILE LOGFILE CHECK...: polls CHECK until it succeeds,
# failing early (with the log's tail) if the process dies.
wait_for() {
  local desc=$1 timeout=$2 pidfile=$3 logfile=$4; shift 4
  local deadline=$((SECONDS + timeout))
  while ! "$@"; do
    if ! pid_alive "$pidfile"; then
      log "$desc exited during start-up; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      log "$desc did not become ready within ${timeout}s; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

# stop_pid NAME PIDFILE: TERM, wait up to 30 s, then KILL.
stop_pid() {
  local name=$1 pidfile=$2
  if ! pid_alive "$pidfile"; then log "$name is not running"; rm -f "$pidfile"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then log "$name did not stop in 30s, killing"; kill -9 "$pid" 2>/dev/null || true; fi
    sleep 0.2
  done
  rm -f "$pidfile"
  log "$name stopped"
}
