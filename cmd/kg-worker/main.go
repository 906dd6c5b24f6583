// Command kg-worker runs one per-client worker role per process:
//
//	kg-worker event-normalizer | log-normalizer | graph-builder
//
// The control plane starts one job per (client, role) through Nomad; the job's
// task sets CLIENT_ID. Run with --help for roles, settings and examples.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kgrca/kgplane/clientid"
	"github.com/kgrca/kgplane/workers/eventnorm"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/lognorm"
	"github.com/kgrca/kgplane/workers/normalizer"
)

const usage = `kg-worker: one client's pipeline worker; one role per process.

Usage:
  kg-worker <role> [--help]

Roles:
  event-normalizer  raw.k8s.events -> events.normalized (bad records -> dlq.raw)
  log-normalizer    raw.k8s.logs   -> logs.normalized   (bad records -> dlq.raw)
  graph-builder     events.normalized + logs.normalized + state.k8s.topology
                    -> the client's fault propagation graph in Neo4j
                    (bad records -> dlq.normalized)

Each worker reads ONLY its client's partition of each input topic
(partition = murmur2(CLIENT_ID) % partitions, Kafka's default partitioner on
the client id), skips other clients' records sharing that partition,
forwards records that belong on another client's partition there, and
dead-letters records whose key names no client. It commits its offsets to
the group "<role>-<CLIENT_ID>" only after its output is acknowledged
(produce acked / Neo4j transaction committed). At most one process per
(role, client) consumes at a time; others wait as standbys. Raw keys are
<client>::event::<uid>, <client>::log::<uid> or the client id alone.

Environment:
  CLIENT_ID        required; the client cluster, e.g. af-9 (3-63 chars, [a-z0-9-],
                   starts with a letter, no trailing hyphen). Invalid: exit 2.
  KAFKA_BROKERS    comma-separated bootstrap brokers (default 127.0.0.1:9092)
  NEO4J_DATABASE   graph-builder: the client's database (default CLIENT_ID)
  NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD, NEO4J_ISOLATION (shared|database),
  GRAPH_BATCH_SIZE, GRAPH_BATCH_LINGER
                   graph-builder settings, see docs/graph.md
  METRICS_ADDR     address for /metrics and /healthz (default 127.0.0.1:0: a free
                   port, logged at start as "metrics listening")
  LOG_LEVEL        debug, info, warn or error (default info)
  LOG_FORMAT       text or json (default text)
  KG_TOPIC_SUFFIX  appended to every topic name (tests, side-by-side environments)

Exit status: 0 after SIGTERM/SIGINT (acknowledged work committed), 1 when the
worker fails (Nomad restarts it; it resumes from the committed offsets),
2 on a usage or configuration error.

Examples:
  CLIENT_ID=af-9 KAFKA_BROKERS=127.0.0.1:9092 kg-worker event-normalizer
  CLIENT_ID=af-9 METRICS_ADDR=127.0.0.1:9464 kg-worker log-normalizer
  CLIENT_ID=af-9 NEO4J_URI=bolt://127.0.0.1:7687 kg-worker graph-builder

  # its lag, as Kafka sees it
  scripts/kafka.sh tool consumer-groups --describe --group event-normalizer-af-9
`

// exitUsage is the exit status of usage and configuration errors.
const exitUsage = 2

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// settings is the environment, read and checked once.
type settings struct {
	role, clientID, metricsAddr, topicSuffix string
	brokers                                  []string
	kafkaSecurity                            kafkaio.Security
	level                                    slog.Level
	json                                     bool
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	role := args[0]
	switch role {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case kafkaio.RoleEventNormalizer, kafkaio.RoleLogNormalizer, kafkaio.RoleGraphBuilder:
	default:
		fmt.Fprintf(stderr, "kg-worker: unknown role %q (want event-normalizer, log-normalizer or graph-builder; see kg-worker --help)\n", role)
		return exitUsage
	}
	fs := flag.NewFlagSet("kg-worker "+role, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stdout, usage) }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kg-worker: unexpected arguments %q; settings come from the environment (see kg-worker --help)\n", fs.Args())
		return exitUsage
	}
	s, err := readSettings(role, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "kg-worker %s: %v\n", role, err)
		return exitUsage
	}
	opts := &slog.HandlerOptions{Level: s.level}
	var log *slog.Logger
	if s.json {
		log = slog.New(slog.NewJSONHandler(stderr, opts))
	} else {
		log = slog.New(slog.NewTextHandler(stderr, opts))
	}
	// The runners add role and client to their own lines.
	base := log
	log = log.With("role", role, "client", s.clientID)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", s.metricsAddr)
	if err != nil {
		fmt.Fprintf(stderr, "kg-worker %s: METRICS_ADDR=%s: %v\n", role, s.metricsAddr, err)
		return exitUsage
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", ln.Addr().String(), "kafka", strings.Join(s.brokers, ","))

	err = runRole(ctx, s, getenv, reg, base)

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	<-serveDone
	var cfgErr *configError
	switch {
	case errors.As(err, &cfgErr):
		fmt.Fprintf(stderr, "kg-worker %s: %v\n", role, err)
		return exitUsage
	case err != nil:
		log.Error("worker failed", "err", err)
		return 1
	}
	log.Info("worker stopped")
	return 0
}

// configError is a configuration error found by a role (exit 2, not 1: a
// restart cannot fix it).
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

func readSettings(role string, getenv func(string) string) (settings, error) {
	env := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	s := settings{
		role:        role,
		clientID:    strings.TrimSpace(getenv("CLIENT_ID")),
		metricsAddr: env("METRICS_ADDR", "127.0.0.1:0"),
		topicSuffix: env("KG_TOPIC_SUFFIX", ""),
	}
	if s.clientID == "" {
		return s, errors.New("CLIENT_ID is required: the client cluster this worker serves, e.g. CLIENT_ID=af-9")
	}
	if err := clientid.Validate(s.clientID); err != nil {
		return s, fmt.Errorf("CLIENT_ID: %w", err)
	}
	if s.brokers = kafkaio.ParseBrokers(env("KAFKA_BROKERS", kafkaio.DefaultBrokers(getenv))); len(s.brokers) == 0 {
		return s, errors.New("KAFKA_BROKERS: no broker")
	}
	var err error
	if s.kafkaSecurity, err = kafkaio.SecurityFromEnv(getenv); err != nil {
		return s, err
	}
	if err := s.level.UnmarshalText([]byte(env("LOG_LEVEL", "info"))); err != nil {
		return s, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", getenv("LOG_LEVEL"))
	}
	switch f := env("LOG_FORMAT", "text"); f {
	case "text":
	case "json":
		s.json = true
	default:
		return s, fmt.Errorf("LOG_FORMAT=%q: want text or json", f)
	}
	return s, nil
}

func runRole(ctx context.Context, s settings, getenv func(string) string, reg prometheus.Registerer, log *slog.Logger) error {
	switch s.role {
	case kafkaio.RoleEventNormalizer:
		return runNormalizer(ctx, s, eventnorm.Normalize, kafkaio.TopicRawEvents, kafkaio.TopicEventsNormalized, reg, log)
	case kafkaio.RoleLogNormalizer:
		return runNormalizer(ctx, s, lognorm.Normalize, kafkaio.TopicRawLogs, kafkaio.TopicLogsNormalized, reg, log)
	default:
		return runGraphBuilder(ctx, s, getenv, reg, log)
	}
}

func runNormalizer(ctx context.Context, s settings, fn normalizer.Func, in, out string, reg prometheus.Registerer, log *slog.Logger) error {
	return normalizer.Run(ctx, normalizer.Config{
		Role: s.role, Brokers: s.brokers, ClientID: s.clientID, Normalize: fn,
		InputTopic: in + s.topicSuffix, OutputTopic: out + s.topicSuffix, DLQTopic: kafkaio.TopicDLQRaw + s.topicSuffix,
		Logger: log, Metrics: kafkaio.NewMetrics(reg, s.role), KafkaSecurity: s.kafkaSecurity,
	})
}
