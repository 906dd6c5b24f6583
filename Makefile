# kgplane — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin
export KAFKA_BROKERS ?= 127.0.0.1:$(or $(KAFKA_PORT),9092)
export NEO4J_URI ?= bolt://127.0.0.1:$(or $(NEO4J_BOLT_PORT),7687)

.PHONY: help build image run soak soak-load soak-restart soak-clean test test-unit test-nomad-e2e vet fuzz tools infra-up infra-down infra-status infra-clean bench bench-control-plane bench-ha bench-normalizers bench-workers bench-strays bench-graph bench-rca eval-rca clean

help: ## this list
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-22s %s\n", $$1, $$2}'

build: ## every binary of cmd/ into ./bin (kg-control-plane, kg-worker, kgctl, kg-agent, kg-rca-eval, kg-soak, ...)
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

image: ## build the kg-worker Docker image locally (FROM scratch, nothing pulled): kg-worker:dev
	scripts/image.sh

run: build infra-up ## the whole pipeline until Ctrl-C: Kafka, Neo4j, the control plane (Nomad if there is one, embedded otherwise), two simulated clients
	scripts/run.sh

soak: build ## the whole system under faults and load: SOAK_MINUTES (10) of SOAK_CLIENTS (50) on a private Kafka and Neo4j; one table, fails on any loss or leak (kg-soak --help)
	$(BIN)/kg-soak

soak-load: build ## the highest total rate held with a bounded lag for 1, 10 and 100 clients, and where the CPU goes (SOAK_LOAD_*; about an hour)
	$(BIN)/kg-soak load

soak-restart: build ## a control plane SIGKILLed and restarted under SOAK_RESTART_CLIENTS (10,000) clients: time until all are reconciled
	$(BIN)/kg-soak restart

soak-clean: build ## stop and delete the private Kafka and Neo4j a killed soak left behind
	$(BIN)/kg-soak clean

test: infra-up tools vet ## the whole suite: unit, integration (real Kafka and Neo4j), bounded fuzzing
	KG_REQUIRE_INFRA=1 $(GO) test -count=1 -timeout 45m ./...
	# The parsers' fuzz targets, 10 s each. The differential targets (go-json
	# against encoding/json) explore the two libraries' corner cases, not our
	# contract: they run in make fuzz; their seed corpora run above with go test.
	FUZZTIME=$(or $(FUZZTIME),10s) FUZZ_SKIP='MatchesStdlib$$' scripts/fuzz.sh

test-unit: ## unit tests only (integration tests skip without the services)
	$(GO) test -count=1 -short ./...

vet: ## go vet, gofmt and go mod tidy checks
	$(GO) vet ./...
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

test-nomad-e2e: infra-up ## only the real-agent tests (needs nomad on PATH, or NOMAD_BIN_DIR=/dir/with/nomad)
	PATH=$(if $(NOMAD_BIN_DIR),$(NOMAD_BIN_DIR):)$$PATH $(GO) test -count=1 -run 'E2E|EndToEnd' -v ./nomad ./cmd/kg-control-plane ./e2e

fuzz: ## every fuzz target for FUZZTIME (default 5m) each
	FUZZTIME=$(or $(FUZZTIME),5m) scripts/fuzz.sh

tools: ## install the CLI tools some tests drive (kcat) when missing and root/apt-get allow
	scripts/tools.sh ensure

infra-up: ## start Kafka and Neo4j (downloaded from Maven Central on first use)
	scripts/infra.sh up
infra-down: ## stop them, keeping their data
	scripts/infra.sh down
infra-status: ## say whether Kafka and Neo4j answer
	scripts/infra.sh status
infra-clean: ## stop them and delete their data
	scripts/infra.sh clean

bench-control-plane: infra-up ## 10,000 clients against real Kafka and a fake Nomad: latencies, CPU, memory (~6 min)
	KG_BENCH=1 KG_BENCH_OUT=$(or $(KG_BENCH_OUT),/tmp/kg-bench-control-plane.txt) $(GO) test -count=1 -run TestBenchControlPlane -v -timeout 30m ./cmd/kg-control-plane

bench-ha: infra-up ## three control planes, 1,000 live clients, the leader killed 3 times and paused once: takeover times (~4 min)
	KG_HA_CLIENTS=$(or $(KG_HA_CLIENTS),1000) KG_BENCH_OUT=$(or $(KG_BENCH_OUT),/tmp/kg-bench-ha.txt) $(GO) test -count=1 -run TestHAFailoverUnderLiveClients -v -timeout 30m ./cmd/kg-control-plane

bench-normalizers: ## decode-normalize-encode per record on one core (Go benchmarks)
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./workers/eventnorm ./workers/lognorm

bench-workers: infra-up ## events/s through Kafka and read amplification, ours against the seed's model (1, 10, 100 clients)
	$(GO) run ./cmd/kafkabench -clients 1,10,100 -events 20000

bench-strays: infra-up ## the control plane's stray consumer at 100 clients, 5 topics × 1,000 partitions: time to cover, idle CPU and memory (~3 min)
	KG_BENCH=1 $(GO) test -count=1 -run TestBenchIdleCoverage -v -timeout 15m ./strays

bench-graph: infra-up ## graph builder: batched vs per-event events/s into Neo4j, end-to-end latency at 1,000 events/s
	$(GO) test -count=1 -run '^$$' -bench 'GraphWrite/batch=(500|1)$$' -benchtime 10s ./workers/graph
	KG_BENCH=1 $(GO) test -count=1 -run TestBenchEndToEndLatency -v -timeout 5m ./workers/graph

# The root-cause evaluation: EVAL_DIR=path scores any directory of scenario
# files; without it, kg-agent simulate writes every fault type x
# EVAL_VARIANTS (5) with seed EVAL_SEED (1) into a temporary directory first.
# EVAL_FLAGS passes flags to kg-rca-eval (e.g. --direct, --parallel 2, --keep).
EVAL_VARIANTS ?= 5
EVAL_SEED ?= 1
eval-rca: infra-up ## root-cause accuracy: A@1/A@3/A@5 and mean rank per fault type (EVAL_DIR=path for your own scenarios)
	@set -e; dir="$(EVAL_DIR)"; \
	if [ -z "$$dir" ]; then \
		dir=$$(mktemp -d "$${TMPDIR:-/tmp}/kg-eval-rca.XXXXXX"); trap 'rm -rf "$$dir"' EXIT; \
		$(GO) run ./cmd/kg-agent simulate --all --variants $(EVAL_VARIANTS) --seed $(EVAL_SEED) --out-dir "$$dir"; \
	fi; \
	$(GO) run ./cmd/kg-rca-eval --dir "$$dir" $(EVAL_FLAGS)

bench-rca: ## root-cause answer latency on a 1,000,000-event client graph (a private Neo4j on 27687, ~30 min)
	KG_BENCH=1 $(GO) test -count=1 -run TestBenchRCALatency -v -timeout 90m ./workers/rca

bench: bench-normalizers bench-workers bench-strays bench-graph bench-control-plane bench-ha ## every benchmark (~15 min; bench-rca is apart: ~30 min); copy the numbers into docs/benchmarks.md

clean: ## remove ./bin
	rm -rf $(BIN)
