# Operator variables for a development host without Docker (dev, CI).
#
# worker_binary is a placeholder: scripts/run.sh builds bin/kg-worker and writes
# a generated var-file with its absolute path (and the local Neo4j URI), which it
# passes to the control plane as JOBSPEC_VARS_FILE instead of this file (it
# rewrites the `worker_binary` and `neo4j_uri` lines, so keep each on one line).
# To run a template by hand, edit the path or add
# -var worker_binary=$PWD/bin/kg-worker.
#
# Never put secrets here: they come from Nomad Variables (docs/templates.md).

driver          = "raw_exec"
worker_binary   = "/usr/local/bin/kg-worker"
datacenters     = ["*"]
cpu             = 100
memory          = 128
neo4j_uri       = "bolt://127.0.0.1:7687"
neo4j_isolation = "shared"
