// Command kg-soak puts the whole kgplane system through faults and load and
// says, per client, whether anything was lost or leaked (package
// internal/soak). `make soak` runs it; run `kg-soak --help` for what it does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kgrca/kgplane/internal/soak"
)

const usage = `kg-soak: the whole kgplane system under faults and load — nothing lost, nothing leaked, measured.

Usage:
  kg-soak [run] [flags]      the soak (make soak)
  kg-soak load [flags]       the highest total rate held with a bounded lag, for 1, 10 and 100 clients (make soak-load)
  kg-soak restart [flags]    a control plane restarted under 10,000 clients: time until all are reconciled (make soak-restart)
  kg-soak clean [flags]      stop and delete the private services a killed soak left behind (make soak-clean)

What 'load' does: the same private services and one plane; for each count of
--load-clients, it registers that many clients, warms them up for a step
that is not counted (cold caches would say less), then offers --load-start
records/s in all and multiplies the rate by --load-factor every --load-step,
until the workers fall behind by more than --load-max-lag of load (or the lag
keeps growing). It prints, per step, the rate offered and acknowledged, the
lag, and where the CPU went (Kafka, Neo4j, each worker role, the planes, the
soak's own producers) with the load average, since the machine may be shared.

What 'restart' does: a private Kafka, a fake Nomad (in-process, rate-limited
like a real one by the plane's NOMAD_RATE_LIMIT) and one plane; --restart-clients
clients register and heartbeat; once all their jobs exist the plane is SIGKILLed
and started again, twice: with Nomad keeping every job (it adopts them), and
with Nomad having lost them all (it submits them again, three calls a job).

What 'run' does, on this machine only (loopback):
  1. starts a PRIVATE Kafka and Neo4j (scripts/kafka.sh, scripts/neo4j.sh on the
     soak's own ports and run folder: it stops them during the run, which the
     shared services must never see), and SOAK_PLANES control planes that elect
     a leader, with the embedded backend (or Nomad: SOAK_BACKEND=nomad);
  2. registers SOAK_CLIENTS simulated client clusters that heartbeat and publish
     the records of generated fault scenarios (events, logs, topology, as
     'kg-agent simulate' does) at SOAK_RATE records/s in all, plus a stream of
     poison records in every input topic (malformed JSON, wrong types, 2 MiB
     values, keys of unknown clients, invalid client ids, wrong separators,
     non-UTF-8 bytes, deep nesting, duplicate keys, numbers out of range,
     topology keys naming another resource, tombstones never seen, records on
     the wrong partition);
  3. for SOAK_MINUTES, runs the faults: a random client's worker SIGKILLed 20
     times, the leading plane SIGKILLed and restarted 3 times, Kafka stopped
     for 45 s, Neo4j stopped for 30 s, one client silent for 2.5 stale
     thresholds and back;
  4. stops the load, waits until every worker has committed everything, and
     checks per client, from the sources of truth: every record Kafka
     acknowledged against the client's graph in Neo4j and the dead-letter
     topics, the graph against a fault-free run of the same records through
     the same code (same nodes, same edges, same properties), no record in
     another client's graph, no duplicate node or edge, every poison record
     dead-lettered, no worker crash loop, no process left behind;
  5. prints one table and exits 1 on any loss or leak (0 when it held).
Progress is printed as it goes; the planes' and services' logs stay in the run
folder (.cache/soak) until the next soak.

Settings (flag, or environment variable):
`

const examples = `
Examples:
  make soak                                    # 10 minutes, 50 clients (about 20 minutes in all)
  SOAK_MINUTES=3 SOAK_CLIENTS=10 make soak     # a quicker look
  bin/kg-soak --short                          # the version make test runs (under 3 minutes)
  PATH=/opt/nomad/bin:$PATH SOAK_BACKEND=nomad make soak
  bin/kg-soak clean                            # after a soak killed with SIGKILL
  make soak-load                               # load: 1, 10 and 100 clients (about an hour)
  bin/kg-soak load --load-clients 10 --load-start 200
  make soak-restart                            # 10,000 clients, the plane restarted (about 20 minutes)

Exit status: 0 the soak held, 1 it found a loss or leak (the table says where),
2 it could not run (the message says why).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	verb := "run"
	if len(args) > 0 && (args[0] == "run" || args[0] == "clean" || args[0] == "load" || args[0] == "restart") {
		verb, args = args[0], args[1:]
	}
	cfg := soak.Full()
	fs := flag.NewFlagSet("kg-soak", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	short := fs.Bool("short", envOr("SOAK_SHORT", "") == "1", "the short version make test runs: 4 clients, 2 planes, 45 s of load, a few faults (SOAK_SHORT=1)")
	minutes := fs.Float64("minutes", mustFloat(envOr("SOAK_MINUTES", "10")), "minutes of load with faults; startup, drain and checks come on top (SOAK_MINUTES)")
	clients := fs.Int("clients", mustInt(envOr("SOAK_CLIENTS", "50")), "simulated client clusters (SOAK_CLIENTS)")
	rate := fs.Float64("rate", mustFloat(envOr("SOAK_RATE", "100")), "records per second all clients publish together (SOAK_RATE)")
	planes := fs.Int("planes", mustInt(envOr("SOAK_PLANES", "3")), "control planes; one leads (SOAK_PLANES)")
	backend := fs.String("backend", envOr("SOAK_BACKEND", "embedded"), "embedded, or nomad (needs nomad on PATH: a dev agent is started) (SOAK_BACKEND)")
	seed := fs.Int64("seed", int64(mustInt(envOr("SOAK_SEED", "1"))), "decides the scenarios, the poison and the fault times (SOAK_SEED)")
	partitions := fs.Int("partitions", mustInt(envOr("SOAK_PARTITIONS", "0")), "partitions of each data topic; 0 = 2 × clients, at least 8 (SOAK_PARTITIONS)")
	kafkaPort := fs.Int("kafka-port", mustInt(envOr("SOAK_KAFKA_PORT", strconv.Itoa(soak.DefaultKafkaPort))), "the private Kafka's port; its controller uses the next one (SOAK_KAFKA_PORT)")
	boltPort := fs.Int("neo4j-bolt-port", mustInt(envOr("SOAK_NEO4J_BOLT_PORT", strconv.Itoa(soak.DefaultNeo4jBoltPort))), "the private Neo4j's Bolt port (SOAK_NEO4J_BOLT_PORT)")
	httpPort := fs.Int("neo4j-http-port", mustInt(envOr("SOAK_NEO4J_HTTP_PORT", strconv.Itoa(soak.DefaultNeo4jHTTPPort))), "the private Neo4j's HTTP port (SOAK_NEO4J_HTTP_PORT)")
	binDir := fs.String("bin-dir", envOr("SOAK_BIN_DIR", defaultBinDir()), "the folder with kg-control-plane and kg-worker (make build puts them in bin/) (SOAK_BIN_DIR)")
	root := fs.String("root", envOr("SOAK_ROOT", findRoot()), "the kgplane repository: scripts/ and jobspecs/ (SOAK_ROOT)")
	runDir := fs.String("run-dir", envOr("SOAK_RUN_DIR", ""), "the private services' data and every log of the run (default <root>/.cache/soak) (SOAK_RUN_DIR)")
	cacheDir := fs.String("cache-dir", envOr("KG_CACHE_DIR", ""), "where the Kafka and Neo4j jars are downloaded (default <root>/.cache) (KG_CACHE_DIR)")
	keep := fs.Bool("keep", false, "leave the private services and their data running at the end, to look around")
	loadClients := fs.String("load-clients", envOr("SOAK_LOAD_CLIENTS", "1,10,100"), "load: the client counts measured, in turn (SOAK_LOAD_CLIENTS)")
	loadStart := fs.Float64("load-start", mustFloat(envOr("SOAK_LOAD_START", "50")), "load: the first total rate tried, records/s (SOAK_LOAD_START)")
	loadFactor := fs.Float64("load-factor", mustFloat(envOr("SOAK_LOAD_FACTOR", "1.5")), "load: each step multiplies the rate by this (SOAK_LOAD_FACTOR)")
	loadStep := fs.Duration("load-step", mustDuration(envOr("SOAK_LOAD_STEP", "60s")), "load: how long each rate is held (SOAK_LOAD_STEP)")
	loadMaxLag := fs.Duration("load-max-lag", mustDuration(envOr("SOAK_LOAD_MAX_LAG", "10s")), "load: a rate holds when the workers end its step at most this much load behind, not falling further behind (SOAK_LOAD_MAX_LAG)")
	restartClients := fs.Int("restart-clients", mustInt(envOr("SOAK_RESTART_CLIENTS", "10000")), "restart: registered clients (SOAK_RESTART_CLIENTS)")
	nomadRate := fs.Float64("nomad-rate", mustFloat(envOr("NOMAD_RATE_LIMIT", "200")), "restart: the plane's Nomad calls per second (NOMAD_RATE_LIMIT, the plane's default)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fmt.Fprint(stdout, examples)
			return 0
		}
		fmt.Fprintf(stderr, "kg-soak: %v (run kg-soak --help)\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kg-soak: unexpected argument %q (run kg-soak --help)\n", fs.Arg(0))
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *short {
		cfg = soak.Short()
	}
	// A setting given by flag or environment wins over the profile's.
	given := func(name, env string) bool { return set[name] || os.Getenv(env) != "" }
	if given("minutes", "SOAK_MINUTES") {
		cfg.Duration = time.Duration(*minutes * float64(time.Minute))
	}
	if given("clients", "SOAK_CLIENTS") {
		cfg.Clients = *clients
	}
	if given("rate", "SOAK_RATE") {
		cfg.Rate = *rate
	}
	if given("planes", "SOAK_PLANES") {
		cfg.Planes = *planes
	}
	cfg.Backend, cfg.Seed, cfg.Partitions, cfg.Keep = *backend, *seed, *partitions, *keep
	cfg.KafkaPort, cfg.Neo4jBoltPort, cfg.Neo4jHTTPPort = *kafkaPort, *boltPort, *httpPort
	cfg.BinDir, cfg.Root, cfg.RunDir, cfg.CacheDir = *binDir, *root, *runDir, *cacheDir
	if cfg.Root == "" {
		fmt.Fprintln(stderr, "kg-soak: cannot find the kgplane repository (scripts/kafka.sh) from here: run it from the checkout or set --root")
		return 2
	}
	if cfg.RunDir == "" {
		cfg.RunDir = filepath.Join(cfg.Root, ".cache", "soak")
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(cfg.Root, ".cache")
	}
	if cfg.Backend == "nomad" {
		cfg.NomadBin, _ = exec.LookPath("nomad")
	}
	if verb == "clean" {
		cfg.Services.Root = cfg.Root
		if err := cfg.Clean(ctx); err != nil {
			fmt.Fprintln(stderr, "kg-soak:", err)
			return 2
		}
		fmt.Fprintf(stdout, "kg-soak: the private services in %s are stopped and their data deleted\n", cfg.RunDir)
		return 0
	}
	if verb == "restart" {
		rc := soak.RestartConfig{Clients: *restartClients, NomadRate: *nomadRate, Root: cfg.Root, BinDir: cfg.BinDir, Services: cfg.Services, Keep: cfg.Keep}
		rep, err := soak.Restart(ctx, rc, stdout)
		if rep != nil {
			rep.Write(stdout)
		}
		if err != nil {
			fmt.Fprintln(stderr, "kg-soak:", err)
			return 2
		}
		return 0
	}
	for _, b := range []string{"kg-control-plane", "kg-worker"} {
		if _, err := os.Stat(filepath.Join(cfg.BinDir, b)); err != nil {
			fmt.Fprintf(stderr, "kg-soak: no %s in %s: run make build (or set --bin-dir)\n", b, cfg.BinDir)
			return 2
		}
	}
	if verb == "load" {
		lc := soak.DefaultLoad()
		lc.Start, lc.Factor, lc.Step, lc.MaxLag, lc.Seed = *loadStart, *loadFactor, *loadStep, *loadMaxLag, cfg.Seed
		lc.Root, lc.BinDir, lc.Services, lc.Keep = cfg.Root, cfg.BinDir, cfg.Services, cfg.Keep
		lc.Clients = nil
		for _, f := range strings.Split(*loadClients, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				fmt.Fprintf(stderr, "kg-soak: --load-clients %q: want counts like 1,10,100\n", *loadClients)
				return 2
			}
			lc.Clients = append(lc.Clients, n)
		}
		rep, err := soak.Load(ctx, lc, stdout)
		if rep != nil {
			rep.Write(stdout)
		}
		if err != nil {
			fmt.Fprintln(stderr, "kg-soak:", err)
			return 2
		}
		return 0
	}
	rep, err := soak.Run(ctx, cfg, stdout)
	if rep != nil && len(rep.Rows) > 0 {
		rep.Write(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "kg-soak:", err)
		return 2
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

func mustFloat(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return -1 // Validate says what is wrong
	}
	return v
}

func mustDuration(s string) time.Duration {
	v, err := time.ParseDuration(s)
	if err != nil {
		return -1
	}
	return v
}

func mustInt(s string) int {
	v, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return v
}

// defaultBinDir is the folder kg-soak itself is in (make build puts every
// binary in bin/).
func defaultBinDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "bin"
	}
	return filepath.Dir(exe)
}

// findRoot walks up from the working directory to the checkout.
func findRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "kafka.sh")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
