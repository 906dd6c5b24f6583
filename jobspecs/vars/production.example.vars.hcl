# Example operator variables for production (Docker on every Nomad client).
# Copy, adjust, and point the control plane at it: JOBSPEC_VARS_FILE=<file>.
#
# Every template receives this whole file, so it may only set variables that
# every template declares, and never client_id, neo4j_database or kafka_brokers
# (the control plane supplies those per client). Secrets do not belong here:
# put them in Nomad Variables (docs/templates.md).

driver          = "docker"
image           = "ghcr.io/kgrca/kg-worker:1.0.0"
datacenters     = ["dc1"]
cpu             = 500
memory          = 512
neo4j_uri       = "neo4j://neo4j.service.internal:7687"
neo4j_isolation = "database"
