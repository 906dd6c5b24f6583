# Operator variables for a development host with Docker and Nomad: the workers
# run as Nomad docker tasks from the locally built image (`make image`), with
# host networking because the dev dockerd runs without a bridge
# (dockerd --bridge=none --iptables=false) and Kafka and Neo4j listen on
# 127.0.0.1. `make run` uses this file when `nomad` is on PATH and dockerd
# answers; it rewrites the neo4j_uri line (keep it on one line).
#
# Never put secrets here: they come from Nomad Variables (docs/templates.md).

driver          = "docker"
image           = "kg-worker:dev"
network_mode    = "host"
datacenters     = ["*"]
cpu             = 100
memory          = 128
neo4j_uri       = "bolt://127.0.0.1:7687"
neo4j_isolation = "shared"
