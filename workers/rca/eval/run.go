package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/kgrca/kgplane/agent/publish"
	"github.com/kgrca/kgplane/agent/replay"
	"github.com/kgrca/kgplane/internal/graphload"
	"github.com/kgrca/kgplane/workers/eventnorm"
	"github.com/kgrca/kgplane/workers/graph"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/lognorm"
	"github.com/kgrca/kgplane/workers/normalizer"
	"github.com/kgrca/kgplane/workers/rca"
)

// Config configures a run.
type Config struct {
	// Direct writes each scenario straight into the graph (normalizers and
	// builder in-process, no Kafka): seconds instead of minutes, for working
	// on the ranking. The default replays through Kafka and the real workers.
	Direct  bool
	Brokers []string
	Neo4j   rca.Config
	// Topics: the topics the pipeline runs on. Zero value: the contract's.
	Topics Topics
	// CreateTopics creates Topics (Partitions each) before the run and
	// deletes them after it: a run of its own, apart from other traffic.
	CreateTopics bool
	Partitions   int32
	// Parallel scenarios at a time (default 3).
	Parallel int
	// RunID names the run's clients: rca-<RunID>-<n>. Fresh per run.
	RunID string
	// Keep leaves the clients' graphs in Neo4j (to look at them); by default
	// they are deleted after the run.
	Keep bool
	// Timeout bounds one scenario (default 3 min).
	Timeout time.Duration
	// Progress receives one line per scenario; nil: none.
	Progress io.Writer
	Logger   *slog.Logger
}

// Topics are the pipeline's topics for a run.
type Topics struct {
	RawEvents, RawLogs, Topology, EventsNormalized, LogsNormalized, DLQRaw, DLQNormalized string
}

// ContractTopics are the contract's topics.
func ContractTopics() Topics {
	return Topics{kafkaio.TopicRawEvents, kafkaio.TopicRawLogs, kafkaio.TopicTopology, kafkaio.TopicEventsNormalized,
		kafkaio.TopicLogsNormalized, kafkaio.TopicDLQRaw, kafkaio.TopicDLQNormalized}
}

// WithSuffix is every topic with suffix appended.
func (t Topics) WithSuffix(suffix string) Topics {
	return Topics{t.RawEvents + suffix, t.RawLogs + suffix, t.Topology + suffix, t.EventsNormalized + suffix,
		t.LogsNormalized + suffix, t.DLQRaw + suffix, t.DLQNormalized + suffix}
}

// All lists them.
func (t Topics) All() []string {
	return []string{t.RawEvents, t.RawLogs, t.Topology, t.EventsNormalized, t.LogsNormalized, t.DLQRaw, t.DLQNormalized}
}

// Run evaluates every scenario and returns one result each, in order. A
// scenario that fails (a timeout, Neo4j refusing) is a result with Err, not
// the end of the run; Run returns an error only when it cannot start.
func Run(ctx context.Context, cfg Config, scenarios []Scenario) ([]Result, error) {
	if cfg.Parallel <= 0 {
		cfg.Parallel = 3
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Minute
	}
	if cfg.Topics == (Topics{}) {
		cfg.Topics = ContractTopics()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.RunID == "" {
		cfg.RunID = fmt.Sprintf("%x", time.Now().UnixNano()%0xffffffff)
	}
	set := rca.DefaultSettings()
	set.Timeout = time.Minute
	engine, closeDriver, err := rca.Open(cfg.Neo4j, set)
	if err != nil {
		return nil, err
	}
	defer closeDriver(context.WithoutCancel(ctx))
	driver, err := graph.NewDriver(graph.Config{Neo4jURI: cfg.Neo4j.Neo4jURI, Neo4jUser: cfg.Neo4j.Neo4jUser,
		Neo4jPassword: cfg.Neo4j.Neo4jPassword, MaxRetryTime: 15 * time.Second})
	if err != nil {
		return nil, err
	}
	defer driver.Close(context.WithoutCancel(ctx))
	if err := driver.VerifyConnectivity(ctx); err != nil {
		return nil, fmt.Errorf("Neo4j at %s does not answer (start it with scripts/infra.sh up, or set NEO4J_URI): %w", cfg.Neo4j.Neo4jURI, err)
	}
	r := &runner{cfg: cfg, engine: engine, driver: driver}
	if !cfg.Direct {
		if err := r.connectKafka(); err != nil {
			return nil, err
		}
		defer r.kc.Close()
		defer r.admin.Close()
		if cfg.CreateTopics {
			defer r.deleteTopics()
		}
		if err := publish.CheckTopics(cfg.Brokers, cfg.Topics.All()...); err != nil {
			return nil, err
		}
	}
	results := make([]Result, len(scenarios))
	sem := make(chan struct{}, cfg.Parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, s := range scenarios {
		client := fmt.Sprintf("rca-%s-%d", cfg.RunID, i+1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = Result{Scenario: s, Client: client, Err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			began := time.Now()
			res := r.one(ctx, client, s)
			if !cfg.Keep {
				if err := r.deleteClient(context.WithoutCancel(ctx), client); err != nil {
					cfg.Logger.Warn("deleting an evaluation client's graph", "client", client, "err", err)
				}
			}
			results[i] = res
			mu.Lock()
			done++
			if cfg.Progress != nil {
				outcome := "miss"
				switch {
				case res.Err != nil:
					outcome = "error: " + res.Err.Error()
				case res.Rank > 0:
					outcome = fmt.Sprintf("rank %d", res.Rank)
				}
				fmt.Fprintf(cfg.Progress, "[%d/%d] %s: %s (%s)\n", done, len(scenarios), s.File.Header.Scenario, outcome,
					time.Since(began).Round(100*time.Millisecond))
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results, ctx.Err()
}

type runner struct {
	cfg    Config
	engine *rca.Engine
	driver neo4j.DriverWithContext
	kc     sarama.Client
	admin  sarama.ClusterAdmin
}

func (r *runner) one(ctx context.Context, client string, s Scenario) Result {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var rejected int
	var err error
	if r.cfg.Direct {
		rejected, err = r.direct(ctx, client, s)
	} else {
		err = r.throughKafka(ctx, client, s)
	}
	if err != nil {
		return Result{Scenario: s, Client: client, Err: err}
	}
	res := ask(ctx, r.engine, client, s)
	res.Rejected = rejected
	return res
}

// direct writes the scenario into the graph in-process.
func (r *runner) direct(ctx context.Context, client string, s Scenario) (int, error) {
	b, err := graph.NewBuilder(r.driver, client, "", graph.DefaultTopics(), graph.DefaultRules(),
		func(context.Context, kafkaio.Record, error) error { return nil }, prometheus.NewRegistry(), r.cfg.Logger)
	if err != nil {
		return 0, err
	}
	if err := b.EnsureSchema(ctx, graph.IsolationShared); err != nil {
		return 0, err
	}
	st, err := graphload.Load(ctx, b.Handle, client, s.File, 0)
	return st.Rejected, err
}

// throughKafka runs the client's normalizers and graph builder, replays the
// scenario to its raw topics, and returns once the builder has committed
// everything the replay caused.
func (r *runner) throughKafka(ctx context.Context, client string, s Scenario) error {
	t := r.cfg.Topics
	log := r.cfg.Logger.With("client", client)
	wctx, stopWorkers := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(wctx)
	g.Go(func() error {
		return normalizer.Run(gctx, normalizer.Config{Role: kafkaio.RoleEventNormalizer, Brokers: r.cfg.Brokers, ClientID: client,
			Normalize: eventnorm.Normalize, InputTopic: t.RawEvents, OutputTopic: t.EventsNormalized, DLQTopic: t.DLQRaw, Logger: log})
	})
	g.Go(func() error {
		return normalizer.Run(gctx, normalizer.Config{Role: kafkaio.RoleLogNormalizer, Brokers: r.cfg.Brokers, ClientID: client,
			Normalize: lognorm.Normalize, InputTopic: t.RawLogs, OutputTopic: t.LogsNormalized, DLQTopic: t.DLQRaw, Logger: log})
	})
	g.Go(func() error {
		return graph.Run(gctx, graph.Config{ClientID: client, KafkaBrokers: r.cfg.Brokers, Neo4jURI: r.cfg.Neo4j.Neo4jURI,
			Neo4jUser: r.cfg.Neo4j.Neo4jUser, Neo4jPassword: r.cfg.Neo4j.Neo4jPassword, Isolation: graph.IsolationShared,
			SharedDatabase: r.cfg.Neo4j.SharedDatabase, BatchSize: graph.DefaultBatchSize, BatchLinger: 50 * time.Millisecond,
			MaxRetryTime: graph.DefaultMaxRetryTime,
			Topics:       graph.Topics{Events: t.EventsNormalized, Logs: t.LogsNormalized, Topology: t.Topology, DeadLetter: t.DLQNormalized},
		}, prometheus.NewRegistry(), log)
	})
	defer func() {
		stopWorkers()
		_ = g.Wait()
		r.deleteGroups(client)
	}()

	pub, err := publish.New(publish.Config{Brokers: r.cfg.Brokers, Client: client, Logger: log,
		Topics: publish.Topics{Events: t.RawEvents, Logs: t.RawLogs, Topology: t.Topology}})
	if err != nil {
		return err
	}
	_, err = replay.Records(ctx, pub, s.File.Records, replay.Options{})
	pub.Close()
	if err != nil {
		return err
	}
	// Caught up: the normalizers have committed everything replayed, then
	// the builder everything they (and the replay's topology) produced.
	workersFailed := make(chan error, 1)
	go func() { workersFailed <- g.Wait() }()
	wait := func(role string, topics ...string) error {
		targets, err := r.ends(client, topics...)
		if err != nil {
			return err
		}
		return r.waitCommitted(ctx, workersFailed, kafkaio.GroupID(role, client), targets)
	}
	if err := wait(kafkaio.RoleEventNormalizer, t.RawEvents); err != nil {
		return err
	}
	if err := wait(kafkaio.RoleLogNormalizer, t.RawLogs); err != nil {
		return err
	}
	return wait(kafkaio.RoleGraphBuilder, t.EventsNormalized, t.LogsNormalized, t.Topology)
}

func (r *runner) connectKafka() error {
	sc := sarama.NewConfig()
	sc.Version = kafkaio.KafkaVersion()
	sc.ClientID = "kg-rca-eval"
	kc, err := sarama.NewClient(r.cfg.Brokers, sc)
	if err != nil {
		return fmt.Errorf("connecting to Kafka at %v (start it with scripts/infra.sh up, or set KAFKA_BROKERS): %w", r.cfg.Brokers, err)
	}
	admin, err := sarama.NewClusterAdminFromClient(kc)
	if err != nil {
		kc.Close()
		return err
	}
	r.kc, r.admin = kc, admin
	if !r.cfg.CreateTopics {
		return nil
	}
	parts := r.cfg.Partitions
	if parts <= 0 {
		parts = 4
	}
	for _, t := range r.cfg.Topics.All() {
		err := admin.CreateTopic(t, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 1}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			r.deleteTopics()
			admin.Close()
			kc.Close()
			return fmt.Errorf("creating topic %s: %w", t, err)
		}
	}
	// New topics take a moment to reach every broker's metadata.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := kc.RefreshMetadata(r.cfg.Topics.All()...)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			r.deleteTopics()
			return fmt.Errorf("waiting for the run's topics: %w", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// deleteTopics removes the run's own topics.
func (r *runner) deleteTopics() {
	for _, t := range r.cfg.Topics.All() {
		_ = r.admin.DeleteTopic(t)
	}
}

// ends returns the end offsets of client's partition of topics now.
func (r *runner) ends(client string, topics ...string) (map[string]map[int32]int64, error) {
	out := map[string]map[int32]int64{}
	for _, topic := range topics {
		parts, err := r.kc.Partitions(topic)
		if err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", topic, err)
		}
		p := kafkaio.PartitionFor(client, int32(len(parts)))
		end, err := r.kc.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p, err)
		}
		out[topic] = map[int32]int64{p: end}
	}
	return out, nil
}

// waitCommitted waits until group has committed at least targets.
func (r *runner) waitCommitted(ctx context.Context, failed <-chan error, group string, targets map[string]map[int32]int64) error {
	parts := map[string][]int32{}
	for topic, m := range targets {
		for p := range m {
			parts[topic] = append(parts[topic], p)
		}
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := r.admin.ListConsumerGroupOffsets(group, parts)
		if err == nil {
			behind := false
			for topic, m := range targets {
				for p, end := range m {
					b := resp.GetBlock(topic, p)
					if end > 0 && (b == nil || b.Offset < end) {
						behind = true
					}
				}
			}
			if !behind {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to catch up: %w", group, ctx.Err())
		case err := <-failed:
			if err == nil {
				err = errors.New("stopped")
			}
			return fmt.Errorf("a worker of the pipeline stopped while %s caught up: %w", group, err)
		case <-tick.C:
		}
	}
}

// deleteGroups removes the client's consumer groups (a fresh client is used
// once).
func (r *runner) deleteGroups(client string) {
	if r.admin == nil {
		return
	}
	for _, role := range []string{kafkaio.RoleEventNormalizer, kafkaio.RoleLogNormalizer, kafkaio.RoleGraphBuilder} {
		_ = r.admin.DeleteConsumerGroup(kafkaio.GroupID(role, client))
	}
}

// deleteClient removes the client's graph, in batches (each label through
// its (client, key) index).
func (r *runner) deleteClient(ctx context.Context, client string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	session := r.driver.NewSession(ctx, neo4j.SessionConfig{DatabaseName: r.cfg.Neo4j.SharedDatabase})
	defer session.Close(ctx)
	for _, q := range []string{
		"MATCH (n:Event) WHERE n.client = $client AND n.eid IS NOT NULL CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS",
		"MATCH (n:Resource) WHERE n.client = $client AND n.rid IS NOT NULL CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS",
		"MATCH (n:IP) WHERE n.client = $client AND n.ip IS NOT NULL CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS",
	} {
		res, err := session.Run(ctx, q, map[string]any{"client": client})
		if err == nil {
			_, err = res.Consume(ctx)
		}
		if err != nil {
			return fmt.Errorf("deleting the graph of %s: %w", client, err)
		}
	}
	return nil
}
