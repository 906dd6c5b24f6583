#!/usr/bin/env bash
# The whole local infrastructure at once: Kafka and Neo4j.
#   scripts/infra.sh up | down | status | clean
# See scripts/kafka.sh and scripts/neo4j.sh for the settings.
set -euo pipefail
here=$(dirname "${BASH_SOURCE[0]}")
case "${1:-}" in
  up)     "$here/kafka.sh" start; "$here/neo4j.sh" start ;;
  down)   "$here/kafka.sh" stop;  "$here/neo4j.sh" stop ;;
  clean)  "$here/kafka.sh" clean; "$here/neo4j.sh" clean ;;
  status) rc=0; "$here/kafka.sh" status || rc=1; "$here/neo4j.sh" status || rc=1; exit $rc ;;
  *) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
