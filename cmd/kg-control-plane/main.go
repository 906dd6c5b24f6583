// Command kg-control-plane keeps one set of Nomad jobs per live client cluster.
//
// It reads client registrations and heartbeats from Kafka, renders the jobspec
// templates for every live client, submits them through the Nomad API and purges
// the jobs of clients that go stale or deregister. Run with --help for settings.
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
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kgrca/kgplane/nomad"
	"github.com/kgrca/kgplane/scheduler"
	"github.com/kgrca/kgplane/scheduler/election"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

const usage = `kg-control-plane: per-client Nomad jobs driven by Kafka registrations and heartbeats.

For every client registered in cluster.registry and heartbeating on
cluster.heartbeat, it renders every jobspecs/*.nomad.hcl template with the
client's variables and hands the job to a backend (--backend): Nomad, or, on
one machine without Nomad, the embedded backend that runs the raw_exec tasks
as its own child processes. A client silent for the stale threshold, or
tombstoned in the registry, has its jobs purged at once.

Usage:
  kg-control-plane [flags]

Every flag has an environment variable; the flag wins when both are set.
With the nomad backend, Nomad is reached with Nomad's own NOMAD_ADDR,
NOMAD_TOKEN, NOMAD_NAMESPACE, NOMAD_REGION (and NOMAD_CACERT etc. for TLS);
the embedded backend uses none of them (auto only checks NOMAD_ADDR to choose).

Flags:
`

const examples = `
Examples:
  # local development with a Nomad agent ('make run' when Nomad answers at
  # NOMAD_ADDR or a nomad binary is on PATH; it starts 'nomad agent -dev')
  KG_BACKEND=nomad NOMAD_ADDR=http://127.0.0.1:4646 JOBSPEC_VARS_FILE=jobspecs/vars/dev.vars.hcl kg-control-plane

  # one machine, no Nomad ('make run' otherwise): the jobs' raw_exec tasks run
  # as child processes; the var-file must name a real worker_binary
  KG_BACKEND=embedded JOBSPEC_VARS_FILE=my-dev.vars.hcl kg-control-plane

  # register a client and watch its jobs appear
  kgctl register --client af-9 --cluster-name prod-us-east
  kgctl clients

  # re-read the templates after an edit (they are also watched)
  kill -HUP $(pidof kg-control-plane)

Endpoints (GET / lists them): /healthz /readyz /metrics /v1/clients on --listen, and
/v1/clients/<id>/rca?resource=<rid>: root causes from the client's graph
(docs/rca.md; Neo4j from NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD,
NEO4J_ISOLATION, NEO4J_SHARED_DATABASE, as the graph builder reads them).
`

type config struct {
	brokers        string
	threshold      time.Duration
	checkInterval  time.Duration
	jobspecsDir    string
	varsFile       string
	listen         string
	dataPartitions int
	ensureTopics   bool
	nomadRate      float64
	workers        int
	logLevel       string
	logFormat      string
	registryTopic  string
	heartbeatTopic string
	brokerList     []string
	backend        string // auto, nomad or embedded (backend.go)
	stateDir       string // the embedded backend's task logs
	plane          string
	instance       string
	elect          bool
	lease          time.Duration
	disruption     float64
	kafkaSecurity  kafkaio.Security
	coverStrays    bool
	topicSuffix    string
}

// Plane and instance names go into Kafka group and client ids and Nomad meta.
var (
	validName        = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	invalidNameChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)
)

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

func parseConfig(args []string, stdout io.Writer) (config, error) {
	var c config
	var thresholdMin, intervalS, partitions, ensure, rate, workers, elect, leaseS, disruption, coverStrays string
	fs := flag.NewFlagSet("kg-control-plane", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned once, with a hint; --help goes to stdout
	fs.StringVar(&c.brokers, "kafka-brokers", envOr("KAFKA_BROKERS", kafkaio.DefaultBrokers(os.Getenv)), "Kafka bootstrap brokers, comma-separated (KAFKA_BROKERS)")
	fs.StringVar(&thresholdMin, "stale-threshold-minutes", envOr("STALE_CLIENT_THRESHOLD_MINUTES", "2"), "minutes without a heartbeat before a client is stale and its jobs purged; fractions allowed, e.g. 0.1 (STALE_CLIENT_THRESHOLD_MINUTES)")
	fs.StringVar(&intervalS, "heartbeat-check-interval-seconds", envOr("HEARTBEAT_CHECK_INTERVAL_SECONDS", "30"), "full resync against Nomad every this many seconds; staleness itself is detected on each client's deadline (HEARTBEAT_CHECK_INTERVAL_SECONDS)")
	fs.StringVar(&c.jobspecsDir, "jobspecs-dir", envOr("JOBSPECS_DIR", "jobspecs"), "folder of *.nomad.hcl templates, watched for changes (JOBSPECS_DIR)")
	fs.StringVar(&c.varsFile, "jobspec-vars-file", envOr("JOBSPEC_VARS_FILE", ""), "operator var-file (HCL) for the templates: driver, image, resources, Neo4j URI... (JOBSPEC_VARS_FILE)")
	fs.StringVar(&c.listen, "listen", envOr("KG_HTTP_ADDR", "127.0.0.1:8080"), "address for /healthz /readyz /metrics /v1/clients (KG_HTTP_ADDR)")
	fs.StringVar(&partitions, "data-partitions", envOr("KG_DATA_PARTITIONS", "12"), "partitions of the per-client data topics when they are created; size it ~10x the clients you expect (KG_DATA_PARTITIONS)")
	fs.StringVar(&ensure, "ensure-topics", envOr("KG_ENSURE_TOPICS", "true"), "create missing topics at start: true or false (KG_ENSURE_TOPICS)")
	fs.StringVar(&rate, "nomad-rate", envOr("NOMAD_RATE_LIMIT", "200"), "Nomad API operations per second at most (NOMAD_RATE_LIMIT)")
	fs.StringVar(&workers, "workers", envOr("KG_RECONCILE_WORKERS", "4"), "clients reconciled in parallel (KG_RECONCILE_WORKERS)")
	fs.StringVar(&c.registryTopic, "registry-topic", envOr("KG_REGISTRY_TOPIC", kafkaio.TopicRegistry), "registrations topic (KG_REGISTRY_TOPIC); change only to run several planes on one cluster")
	fs.StringVar(&c.heartbeatTopic, "heartbeat-topic", envOr("KG_HEARTBEAT_TOPIC", kafkaio.TopicHeartbeat), "heartbeats topic (KG_HEARTBEAT_TOPIC)")
	fs.StringVar(&c.backend, "backend", envOr("KG_BACKEND", backendAuto), "where jobs run: nomad (the Nomad API), embedded (child processes of this control plane, raw_exec tasks only: one machine, dev, CI) or auto (nomad when NOMAD_ADDR is set, an agent answers at the default address or nomad is on PATH; else embedded). Production: set nomad (KG_BACKEND)")
	fs.StringVar(&c.stateDir, "state-dir", envOr("KG_STATE_DIR", defaultStateDir(os.Getenv)), "embedded backend: task logs (logs/<job id>/<task>.log) and allocation folders (KG_STATE_DIR)")
	fs.StringVar(&c.plane, "plane", envOr("KG_PLANE", ""), "this control plane's identity: its jobs carry kg_plane=<plane>, and it never touches another plane's jobs; planes that share one registry share it (KG_PLANE, default: the registry topic's name)")
	fs.StringVar(&c.instance, "instance", envOr("KG_INSTANCE", ""), "this instance's name among the planes that elect a leader, shown by /readyz (KG_INSTANCE, default: host name and HTTP port)")
	fs.StringVar(&elect, "elect", envOr("KG_ELECTION", "true"), "elect one leader among the planes of the same KG_PLANE through a Kafka group; false = this is the only plane (KG_ELECTION)")
	fs.StringVar(&leaseS, "lease-seconds", envOr("KG_LEASE_SECONDS", "6"), "a leader not heard from for this long is replaced; it stops writing after two thirds of it without proof (KG_LEASE_SECONDS)")
	fs.StringVar(&disruption, "disruption-fraction", envOr("KG_DISRUPTION_FRACTION", "0.55"), "when this share of live clients (3 or more) go silent at once, purges are held: the silence is taken for a disruption on our side; 1 disables (KG_DISRUPTION_FRACTION)")
	fs.StringVar(&coverStrays, "cover-strays", envOr("KG_COVER_STRAYS", "true"), "read the data-topic partitions no live client owns and forward misplaced records to their client's partition: true or false (KG_COVER_STRAYS; docs/workers.md)")
	fs.StringVar(&c.topicSuffix, "topic-suffix", envOr("KG_TOPIC_SUFFIX", ""), "appended to the data topic names the stray consumer covers, as kg-worker does (KG_TOPIC_SUFFIX; tests, side-by-side environments)")
	fs.StringVar(&c.logLevel, "log-level", envOr("LOG_LEVEL", "info"), "debug, info, warn or error (LOG_LEVEL); debug logs every heartbeat")
	fs.StringVar(&c.logFormat, "log-format", envOr("LOG_FORMAT", "text"), "text or json (LOG_FORMAT)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fmt.Fprint(stdout, examples)
			return c, err
		}
		return c, fmt.Errorf("%w (run kg-control-plane --help for the settings)", err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (run kg-control-plane --help for the settings)", fs.Arg(0))
	}
	var err error
	m, err := strconv.ParseFloat(thresholdMin, 64)
	if err != nil || m <= 0 {
		return c, fmt.Errorf("STALE_CLIENT_THRESHOLD_MINUTES=%q: want a positive number of minutes", thresholdMin)
	}
	c.threshold = time.Duration(m * float64(time.Minute))
	s, err := strconv.ParseFloat(intervalS, 64)
	if err != nil || s <= 0 {
		return c, fmt.Errorf("HEARTBEAT_CHECK_INTERVAL_SECONDS=%q: want a positive number of seconds", intervalS)
	}
	c.checkInterval = time.Duration(s * float64(time.Second))
	if c.dataPartitions, err = strconv.Atoi(partitions); err != nil || c.dataPartitions <= 0 {
		return c, fmt.Errorf("KG_DATA_PARTITIONS=%q: want a positive whole number", partitions)
	}
	if c.ensureTopics, err = strconv.ParseBool(ensure); err != nil {
		return c, fmt.Errorf("KG_ENSURE_TOPICS=%q: want true or false", ensure)
	}
	if c.coverStrays, err = strconv.ParseBool(coverStrays); err != nil {
		return c, fmt.Errorf("KG_COVER_STRAYS=%q: want true or false", coverStrays)
	}
	if c.nomadRate, err = strconv.ParseFloat(rate, 64); err != nil || c.nomadRate <= 0 {
		return c, fmt.Errorf("NOMAD_RATE_LIMIT=%q: want a positive number of operations per second", rate)
	}
	if c.workers, err = strconv.Atoi(workers); err != nil || c.workers <= 0 {
		return c, fmt.Errorf("KG_RECONCILE_WORKERS=%q: want a positive whole number", workers)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return c, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", c.logLevel)
	}
	if c.backend != backendAuto && c.backend != backendNomad && c.backend != backendEmbedded {
		return c, fmt.Errorf("KG_BACKEND=%q: want auto, nomad or embedded", c.backend)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return c, fmt.Errorf("LOG_FORMAT=%q: want text or json", c.logFormat)
	}
	if c.brokerList = kafkaio.ParseBrokers(c.brokers); len(c.brokerList) == 0 {
		return c, fmt.Errorf("KAFKA_BROKERS is empty: want host:port[,host:port...]")
	}
	c.brokers = strings.Join(c.brokerList, ",")
	if c.elect, err = strconv.ParseBool(elect); err != nil {
		return c, fmt.Errorf("KG_ELECTION=%q: want true or false", elect)
	}
	l, err := strconv.ParseFloat(leaseS, 64)
	if err != nil || l < 1 {
		return c, fmt.Errorf("KG_LEASE_SECONDS=%q: want a number of seconds, at least 1", leaseS)
	}
	c.lease = time.Duration(l * float64(time.Second))
	if c.disruption, err = strconv.ParseFloat(disruption, 64); err != nil || c.disruption <= 0 {
		return c, fmt.Errorf("KG_DISRUPTION_FRACTION=%q: want a share above 0 (1 disables)", disruption)
	}
	if c.plane == "" {
		c.plane = c.registryTopic
	}
	if !validName.MatchString(c.plane) {
		return c, fmt.Errorf("KG_PLANE=%q: want letters, digits, '.', '_' and '-' only", c.plane)
	}
	if c.instance == "" {
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(c.listen)
		c.instance = invalidNameChars.ReplaceAllString(host+"-"+port, "-")
	}
	if !validName.MatchString(c.instance) {
		return c, fmt.Errorf("KG_INSTANCE=%q: want letters, digits, '.', '_' and '-' only", c.instance)
	}
	if c.kafkaSecurity, err = kafkaio.SecurityFromEnv(os.Getenv); err != nil {
		return c, err
	}
	return c, nil
}

func newLogger(c config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.logLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	if err := run(ctx, os.Args[1:], hup, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "kg-control-plane:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, hup <-chan os.Signal, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stdout)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	brokers := cfg.brokerList

	// A bad template set stops the start: better no control plane than one that
	// submits jobs nobody can read.
	templates, err := nomad.LoadTemplates(cfg.jobspecsDir, cfg.varsFile)
	if err != nil {
		return fmt.Errorf("job templates in %s are invalid:\n%w", cfg.jobspecsDir, err)
	}
	names := make([]string, 0, len(templates.Templates))
	for _, t := range templates.Templates {
		names = append(names, t.Name)
	}
	log.Info("job templates loaded", "dir", cfg.jobspecsDir, "vars_file", cfg.varsFile, "templates", names)

	// The controller is the backend's fence (created just below): every
	// write first checks that this plane still leads.
	var ctrl *scheduler.Controller
	nc, closeBackend, err := newBackend(ctx, cfg, templates, log, func(ctx context.Context) error { return ctrl.Fence(ctx) })
	if err != nil {
		return err
	}
	// The embedded backend's tasks are this process's children: they stop
	// with it (kill_signal, then SIGKILL after kill_timeout).
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := closeBackend(stopCtx); err != nil {
			log.Error("stopping the backend", "error", err)
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var leader scheduler.Leader
	var elector *election.Elector
	if cfg.elect {
		elector, err = election.New(election.Config{
			Brokers: brokers, Security: cfg.kafkaSecurity, Plane: cfg.plane, Self: cfg.instance,
			SessionTimeout: cfg.lease, Logger: log,
		})
		if err != nil {
			return err
		}
		leader = elector
	}
	ctrl, err = scheduler.New(scheduler.Config{
		StaleThreshold:     cfg.threshold,
		ResyncInterval:     cfg.checkInterval,
		KafkaBrokers:       cfg.brokers,
		Plane:              cfg.plane,
		Workers:            cfg.workers,
		Leader:             leader,
		DisruptionFraction: cfg.disruption,
	}, nc, templates, log, reg)
	if err != nil {
		return err
	}
	ctrl.TemplateLoaded()

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listening on %s (set KG_HTTP_ADDR or --listen to a free address): %w", cfg.listen, err)
	}
	handler, closeRCA, err := withRCA(ctrl.Handler(reg), os.Getenv, log)
	if err != nil {
		return fmt.Errorf("root-cause endpoint settings: %w", err)
	}
	defer closeRCA(context.Background())
	srv := &http.Server{Handler: withIndex(handler), ReadHeaderTimeout: 5 * time.Second}
	log.Info("control plane starting", append([]any{"plane", cfg.plane, "instance", cfg.instance, "election", cfg.elect,
		"http", ln.Addr().String(), "kafka", cfg.brokers, "kafka_security", cfg.kafkaSecurity.String(),
		"stale_threshold", cfg.threshold, "resync_interval", cfg.checkInterval}, backendAttrs(nc)...)...)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan string, 5)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server failed", "error", err)
		}
		done <- "http"
	}()
	go func() {
		if err := ctrl.Run(ctx); err != nil {
			log.Error("controller stopped", "error", err)
		}
		done <- "controller"
	}()
	go func() {
		runIngest(ctx, cfg, brokers, ctrl, log)
		done <- "ingest"
	}()
	running := 4
	if elector != nil {
		running++
		go func() {
			// Campaign only once the topics exist (the ingest ensures them).
			if err := ensureElectionTopic(ctx, cfg, brokers, log); err == nil {
				if err := elector.Run(ctx); err != nil {
					log.Error("leader election stopped", "error", err)
				}
			}
			done <- "election"
		}()
	}
	go func() {
		err := scheduler.WatchTemplates(ctx, scheduler.WatchConfig{Dir: cfg.jobspecsDir, VarsFile: cfg.varsFile, Reload: hup, Logger: log}, ctrl)
		if err != nil {
			log.Error("template watch stopped; edits need a restart", "error", err)
		}
		done <- "watch"
	}()

	if cfg.coverStrays {
		running++
		go func() {
			runStrays(ctx, cfg, ctrl, reg, log)
			done <- "strays"
		}()
	}

	// Run until a signal, or until a part that must not stop does: a control
	// plane whose HTTP server or controller died must not look healthy. The
	// template watch may stop (edits then need a restart; it said so), and so
	// may the stray consumer (it logged why).
	var failed error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case part := <-done:
			running--
			if part == "watch" || part == "strays" {
				continue
			}
			failed = fmt.Errorf("the %s stopped unexpectedly; shutting down so the supervisor restarts the control plane", part)
			log.Error("control plane part stopped", "part", part)
			break wait
		}
	}
	cancel()
	log.Info("shutting down")
	shutdownCtx, c2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer c2()
	srv.Shutdown(shutdownCtx)
	for ; running > 0; running-- {
		select {
		case <-done:
		case <-shutdownCtx.Done():
			return errors.New("shutdown timed out")
		}
	}
	log.Info("stopped")
	return failed
}

// runIngest ensures the topics exist and follows the registry and heartbeats,
// starting over with a backoff when Kafka fails; the controller keeps its state.
func runIngest(ctx context.Context, cfg config, brokers []string, ctrl *scheduler.Controller, log *slog.Logger) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := ingestOnce(ctx, cfg, brokers, ctrl, log)
		if ctx.Err() != nil {
			return
		}
		log.Error("Kafka ingest stopped; retrying (is Kafka up at KAFKA_BROKERS?)", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func ingestOnce(ctx context.Context, cfg config, brokers []string, ctrl *scheduler.Controller, log *slog.Logger) error {
	if cfg.ensureTopics {
		// The plane's own registry and heartbeat topics, not only the defaults.
		specs := kafkaio.Named(kafkaio.Topics(int32(cfg.dataPartitions)), map[string]string{
			kafkaio.TopicRegistry: cfg.registryTopic, kafkaio.TopicHeartbeat: cfg.heartbeatTopic})
		if err := ensureTopics(cfg, brokers, specs, log); err != nil {
			return err
		}
	}
	return scheduler.Ingest(ctx, scheduler.IngestConfig{
		Brokers: brokers, RegistryTopic: cfg.registryTopic, HeartbeatTopic: cfg.heartbeatTopic, Lookback: cfg.threshold, Logger: log,
		Security: cfg.kafkaSecurity, ClientID: "kg-control-plane-" + cfg.instance,
	}, ctrl)
}

func ensureTopics(cfg config, brokers []string, specs []kafkaio.TopicSpec, log *slog.Logger) error {
	admin, err := sarama.NewClusterAdmin(brokers, kafkaio.NewSaramaConfig(cfg.kafkaSecurity, "kg-control-plane-"+cfg.instance))
	if err != nil {
		return fmt.Errorf("connecting to Kafka at %s: %w", cfg.brokers, err)
	}
	defer admin.Close()
	res, err := kafkaio.EnsureTopics(admin, specs)
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Created {
			log.Info("topic created", "topic", r.Topic, "partitions", r.Partitions)
		}
		if len(r.Corrected) > 0 {
			log.Info("topic setting corrected", "topic", r.Topic, "set", r.Corrected)
		}
		if r.Warning != "" {
			log.Warn("topic differs from the contract", "topic", r.Topic, "detail", r.Warning)
		}
	}
	return nil
}

// ensureElectionTopic makes sure the election's topic exists before the
// plane campaigns, retrying until Kafka answers: it creates it with
// KG_ENSURE_TOPICS=true; with false (a Kafka user without the right to create
// topics) it only checks, and says how to create it.
func ensureElectionTopic(ctx context.Context, cfg config, brokers []string, log *slog.Logger) error {
	for backoff := time.Second; ; backoff = min(2*backoff, 30*time.Second) {
		var err error
		if cfg.ensureTopics {
			err = ensureTopics(cfg, brokers, []kafkaio.TopicSpec{election.TopicSpec()}, log)
		} else {
			err = topicExists(cfg, brokers, election.Topic)
		}
		if err == nil {
			return nil
		}
		log.Warn("the election topic is not there yet; retrying", "topic", election.Topic, "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// topicExists checks, without creating anything, that a topic exists.
func topicExists(cfg config, brokers []string, topic string) error {
	admin, err := sarama.NewClusterAdmin(brokers, kafkaio.NewSaramaConfig(cfg.kafkaSecurity, "kg-control-plane-"+cfg.instance))
	if err != nil {
		return fmt.Errorf("connecting to Kafka at %s: %w", cfg.brokers, err)
	}
	defer admin.Close()
	md, err := admin.DescribeTopics([]string{topic})
	if err != nil {
		return fmt.Errorf("describing topic %s: %w", topic, err)
	}
	if len(md) != 1 || md[0].Err != sarama.ErrNoError {
		return fmt.Errorf("topic %s does not exist and KG_ENSURE_TOPICS=false: create it with `kgctl topics ensure`, or run a single plane with KG_ELECTION=false", topic)
	}
	return nil
}
