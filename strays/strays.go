// Package strays covers, for the control plane, the partitions of the data
// topics that no live client's worker reads.
//
// With P ≈ 10 × clients most partitions have no worker. A record that lands
// on one (a producer whose partitioner hashes the whole key, a key that names
// no client) would sit there unread. The Consumer, told the live client ids,
// reads exactly those partitions and treats every record as a worker treats a
// stray (kafkaio.Placer, kafkaio.StrayRouter): a record of a valid client on
// another partition is forwarded to its client's partition; one on its
// client's own partition is left for the client's worker (the client is not
// live, or its partition would be covered) and counted as unknown_client; a
// key that names no client is dead-lettered. In the steady state, with every
// producer routing correctly, these partitions receive nothing, so covering
// them costs no reads (docs/workers.md, "Strays").
package strays

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/kgrca/kgplane/clientid"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// DefaultGroupID is the group the Consumer commits its offsets under:
// `kafka-consumer-groups --describe --group kg-control-plane-strays` shows
// its position in every partition it ever covered.
const DefaultGroupID = "kg-control-plane-strays"

// worker is the kg-worker header of its dead letters and its HeaderForwardedBy.
const worker = "kg-control-plane"

// Topic is one data topic the Consumer covers.
type Topic struct {
	Name string
	// Role is the worker role that reads the topic; its per-client groups'
	// committed offsets tell where coverage of a partition starts.
	Role string
	// DeadLetter receives the records whose key names no client.
	DeadLetter string
}

// DefaultTopics are the contract's five data topics with their readers'
// roles and dead-letter topics, each name followed by suffix (tests and
// side-by-side environments; "" in production).
func DefaultTopics(suffix string) []Topic {
	return []Topic{
		{kafkaio.TopicRawEvents + suffix, kafkaio.RoleEventNormalizer, kafkaio.TopicDLQRaw + suffix},
		{kafkaio.TopicRawLogs + suffix, kafkaio.RoleLogNormalizer, kafkaio.TopicDLQRaw + suffix},
		{kafkaio.TopicTopology + suffix, kafkaio.RoleGraphBuilder, kafkaio.TopicDLQNormalized + suffix},
		{kafkaio.TopicEventsNormalized + suffix, kafkaio.RoleGraphBuilder, kafkaio.TopicDLQNormalized + suffix},
		{kafkaio.TopicLogsNormalized + suffix, kafkaio.RoleGraphBuilder, kafkaio.TopicDLQNormalized + suffix},
	}
}

// Config configures a Consumer.
type Config struct {
	Brokers []string
	// Topics to cover (default DefaultTopics("")).
	Topics []Topic
	// GroupID for the Consumer's own offsets (default DefaultGroupID).
	GroupID string
	// Sarama is the base client config (TLS, SASL); nil = sarama's defaults.
	// The Consumer sets the version, client id and consumer/offset settings.
	Sarama *sarama.Config
	// MaxBatch caps the strays forwarded per produce call (default 500).
	MaxBatch int
	// Linger is how long a partial batch waits (default 100ms).
	Linger time.Duration
	// Resync is how often partition counts are re-read and failed partitions
	// restarted (default 30s).
	Resync time.Duration
	Logger *slog.Logger
	// Registerer receives the metrics (nil: not registered).
	Registerer prometheus.Registerer
}

// Consumer reads the uncovered partitions. Tell it the live clients with
// SetLiveClients; it covers nothing before the first call. Run it on the
// leading control plane only: two planes covering the same partitions only
// forward duplicates, but the work is wasted.
type Consumer struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	update  chan []string // the latest live set; capacity 1, the newest wins
	kick    chan struct{} // a partition reader stopped on an error: reconcile soon

	mu      sync.Mutex
	readers map[partitionKey]*reader

	unreadable map[string]bool // topics whose partition count could not be read; Run's goroutine only
}

type partitionKey struct {
	topic     string
	partition int32
}

// New validates cfg and fills in defaults; it does not connect (Run does).
func New(cfg Config) (*Consumer, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("stray consumer: no Kafka brokers")
	}
	if cfg.Topics == nil {
		cfg.Topics = DefaultTopics("")
	}
	for _, t := range cfg.Topics {
		if t.Name == "" || t.DeadLetter == "" {
			return nil, fmt.Errorf("stray consumer: topic %+v needs a name and a dead-letter topic", t)
		}
	}
	if cfg.GroupID == "" {
		cfg.GroupID = DefaultGroupID
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 100 * time.Millisecond
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 30 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Consumer{
		cfg: cfg, log: log.With("part", "strays", "group", cfg.GroupID), metrics: newMetrics(cfg.Registerer),
		update: make(chan []string, 1), kick: make(chan struct{}, 1), readers: make(map[partitionKey]*reader),
		unreadable: make(map[string]bool),
	}, nil
}

// SetLiveClients tells the Consumer which clients are live now (their
// workers read their partitions). It never blocks; invalid ids are ignored.
func (c *Consumer) SetLiveClients(ids []string) {
	live := make([]string, 0, len(ids))
	for _, id := range ids {
		if clientid.Validate(id) == nil {
			live = append(live, id)
		}
	}
	slices.Sort(live)
	live = slices.Compact(live)
	for {
		select {
		case c.update <- live:
			return
		default:
		}
		select { // drop the older set still waiting
		case <-c.update:
		default:
		}
	}
}

// Covered returns, per topic, the partitions the Consumer reads now, sorted.
func (c *Consumer) Covered() map[string][]int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][]int32)
	for k := range c.readers {
		out[k.topic] = append(out[k.topic], k.partition)
	}
	for _, ps := range out {
		slices.Sort(ps)
	}
	return out
}

// conn is what one connection's life holds. Two Kafka clients: sarama
// serializes every request to a broker over one connection, including a
// fetch's long poll, so the control requests (metadata, offsets, the ~3
// round trips that start each covered partition) get their own client
// instead of queueing behind fetches.
type conn struct {
	client   sarama.Client  // metadata, offsets, admin
	fetch    *listedOffsets // the consumer's fetches; its ListOffsets listed in bulk on client
	consumer sarama.Consumer
	offsets  sarama.OffsetManager
	admin    sarama.ClusterAdmin
	routers  map[string]*kafkaio.StrayRouter
}

func (c *Consumer) saramaConfig() *sarama.Config {
	sc := c.cfg.Sarama
	if sc == nil {
		sc = sarama.NewConfig()
	}
	sc.Version = kafkaio.KafkaVersion()
	sc.ClientID = "kg-control-plane-strays"
	sc.Consumer.Return.Errors = true
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	// Offsets are marked only after a batch's forwards and dead letters are
	// acknowledged; auto-commit then flushes the marks every second.
	sc.Consumer.Offsets.AutoCommit.Enable = true
	sc.Consumer.Offsets.AutoCommit.Interval = time.Second
	// Most covered partitions are idle, and sarama lists every one of them in
	// each fetch request (no incremental fetch sessions): let the broker hold
	// a fetch until 64 KiB or 500 ms have accumulated rather than answer
	// each stray at once (a 100 ms wait cost 15 % of a core idle at 4,500
	// partitions). Forwarding a stray is not latency-critical.
	sc.Consumer.MaxWaitTime = 500 * time.Millisecond
	sc.Consumer.Fetch.Min = 64 << 10
	// Strays are rare: small per-partition buffers (sarama's default 256
	// messages and errors per partition is memory for nothing here).
	sc.ChannelBufferSize = 32
	return sc
}

// Run covers the uncovered partitions until ctx is done, following every
// SetLiveClients. Kafka errors are logged and retried (reconnecting with a
// backoff up to 30 s); Run returns when ctx ends.
func (c *Consumer) Run(ctx context.Context) {
	backoff := time.Second
	for {
		err := c.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		c.log.Error("stray consumer stopped; retrying (is Kafka up at KAFKA_BROKERS?)", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// runOnce is one connection's life: it returns nil when ctx ends and the
// error when it cannot connect.
func (c *Consumer) runOnce(ctx context.Context) error {
	client, err := sarama.NewClient(c.cfg.Brokers, c.saramaConfig())
	if err != nil {
		return fmt.Errorf("stray consumer: connecting to Kafka at %v: %w", c.cfg.Brokers, err)
	}
	defer client.Close()
	fetch, err := sarama.NewClient(c.cfg.Brokers, c.saramaConfig())
	if err != nil {
		return fmt.Errorf("stray consumer: connecting to Kafka at %v: %w", c.cfg.Brokers, err)
	}
	defer fetch.Close()
	k := &conn{client: client, fetch: newListedOffsets(fetch, client), routers: make(map[string]*kafkaio.StrayRouter)}
	if k.consumer, err = sarama.NewConsumerFromClient(k.fetch); err != nil {
		return fmt.Errorf("stray consumer: %w", err)
	}
	defer k.consumer.Close()
	if k.offsets, err = sarama.NewOffsetManagerFromClient(c.cfg.GroupID, client); err != nil {
		return fmt.Errorf("stray consumer: offsets of group %s: %w", c.cfg.GroupID, err)
	}
	// Closed after the readers stopped: the last marks are flushed then.
	defer k.offsets.Close()
	// Not closed: closing an admin made from a client closes the client,
	// which the deferred client.Close does.
	if k.admin, err = sarama.NewClusterAdminFromClient(client); err != nil {
		return fmt.Errorf("stray consumer: %w", err)
	}
	producer, err := kafkaio.NewProducer(kafkaio.ProducerConfig{Brokers: c.cfg.Brokers, Logger: c.log})
	if err != nil {
		return fmt.Errorf("stray consumer: %w", err)
	}
	defer producer.Close()
	for _, t := range c.cfg.Topics {
		k.routers[t.Name] = &kafkaio.StrayRouter{Producer: producer, Worker: worker, By: worker,
			DeadLetterTopic: t.DeadLetter, Counter: c.metrics.strays, Logger: c.log}
	}
	defer c.stopAll(k)

	var live []string
	select {
	case <-ctx.Done():
		return nil
	case live = <-c.update:
	}
	c.log.Info("stray consumer started", "topics", len(c.cfg.Topics), "live_clients", len(live))
	resync := time.NewTicker(c.cfg.Resync)
	defer resync.Stop()
	refresh := false
	for {
		c.reconcile(ctx, k, live, refresh)
		refresh = false
		select {
		case <-ctx.Done():
			return nil
		case next := <-c.update:
			if slices.Equal(next, live) {
				continue
			}
			live = next
		case <-c.kick:
			// A reader failed or offsets were still being released: give
			// Kafka a second before trying again.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		case <-resync.C:
			refresh = true
		}
	}
}

// reconcile starts a reader on every partition no live client maps to and
// stops the readers of partitions that gained one.
func (c *Consumer) reconcile(ctx context.Context, k *conn, live []string, refresh bool) {
	if refresh {
		names := make([]string, len(c.cfg.Topics))
		for i, t := range c.cfg.Topics {
			names[i] = t.Name
		}
		if err := k.client.RefreshMetadata(names...); err != nil {
			c.log.Debug("refreshing topic metadata", "err", err)
		}
	}
	groups := &workerGroups{}
	for _, t := range c.cfg.Topics {
		parts, err := k.client.Partitions(t.Name)
		if err != nil {
			c.metrics.topicError(t.Name)
			level := slog.LevelWarn
			if c.unreadable[t.Name] {
				level = slog.LevelDebug // said once; retried every Resync
			}
			c.unreadable[t.Name] = true
			c.log.Log(ctx, level, "cannot read the partitions of a data topic (missing? create it with kgctl topics ensure); its strays wait until it can be read",
				"topic", t.Name, "err", err, "retry_in", c.cfg.Resync)
			continue
		}
		if c.unreadable[t.Name] {
			delete(c.unreadable, t.Name)
			c.log.Info("data topic readable again", "topic", t.Name)
		}
		n := int32(len(parts))
		covered := make(map[int32]bool, len(live))
		for _, id := range live {
			covered[kafkaio.PartitionFor(id, n)] = true
		}
		var start []int32
		c.mu.Lock()
		var stop []*reader
		for key, r := range c.readers {
			if key.topic == t.Name && (covered[key.partition] || r.partitions != n || r.stopped()) {
				stop = append(stop, r)
			}
		}
		c.mu.Unlock()
		for _, r := range stop {
			c.stop(k, r)
		}
		c.mu.Lock()
		for p := range n {
			if !covered[p] && c.readers[partitionKey{t.Name, p}] == nil {
				start = append(start, p)
			}
		}
		c.mu.Unlock()
		if len(start) > 0 {
			c.start(ctx, k, groups, t, n, start)
		}
		c.metrics.partitions.WithLabelValues(t.Name).Set(float64(int(n) - len(covered)))
	}
}

// startConcurrency bounds the partitions set up at once: each costs an
// OffsetFetch and ListOffsets round trip, and a plane that starts on 900
// idle partitions must not take 900 sequential round trips to cover them.
const startConcurrency = 32

// start begins reading partitions of t where no worker's or our own
// committed offset says the records were already handled.
func (c *Consumer) start(ctx context.Context, k *conn, groups *workerGroups, t Topic, n int32, parts []int32) {
	workers := c.workerOffsets(k, groups, t, n, parts)
	k.fetch.list(t.Name, parts)
	var (
		mu       sync.Mutex
		started  int
		failed   []int32
		firstErr error
	)
	var g errgroup.Group
	g.SetLimit(startConcurrency)
	for _, p := range parts {
		g.Go(func() error {
			err := c.startOne(ctx, k, t, n, p, workers[p])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, p)
				firstErr = cmp.Or(firstErr, err)
			} else {
				started++
			}
			return nil
		})
	}
	_ = g.Wait()
	if len(failed) > 0 {
		// A fresh topic's partitions may not have a leader yet; offsets of a
		// stopped reader may still be releasing. The next reconcile retries.
		slices.Sort(failed)
		c.log.Warn("cannot read some partitions no live client owns yet; retrying in a second", "topic", t.Name,
			"partitions", len(failed), "first", failed[0], "err", firstErr)
		c.kickSoon()
	}
	if started > 0 {
		c.log.Info("covering partitions no live client owns", "topic", t.Name, "partitions", started, "of", n)
	}
}

// startOne starts the reader of partition p at the highest of our own and
// the workers' (workerOffset) committed offsets.
func (c *Consumer) startOne(ctx context.Context, k *conn, t Topic, n, p int32, workerOffset int64) error {
	pom, err := k.offsets.ManagePartition(t.Name, p)
	if err != nil {
		return fmt.Errorf("managing the offsets of %s/%d: %w", t.Name, p, err)
	}
	own, _ := pom.NextOffset()
	from := max(own, workerOffset)
	if from < 0 {
		from = sarama.OffsetOldest
	}
	pc, err := k.consumer.ConsumePartition(t.Name, p, from)
	if errors.Is(err, sarama.ErrOffsetOutOfRange) {
		// Records arrived after the offsets were listed (ask again), or
		// retention removed records past the committed offset (read from
		// the oldest).
		k.fetch.forget(t.Name, p)
		if pc, err = k.consumer.ConsumePartition(t.Name, p, from); errors.Is(err, sarama.ErrOffsetOutOfRange) {
			from = sarama.OffsetOldest
			pc, err = k.consumer.ConsumePartition(t.Name, p, from)
		}
	}
	k.fetch.forget(t.Name, p)
	if err != nil {
		pom.AsyncClose()
		k.offsets.Commit()
		return fmt.Errorf("reading %s/%d: %w", t.Name, p, err)
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &reader{topic: t.Name, partition: p, partitions: n, cancel: cancel, done: make(chan struct{}), pom: pom}
	c.mu.Lock()
	c.readers[partitionKey{t.Name, p}] = r
	c.mu.Unlock()
	go func() {
		defer close(r.done)
		defer pc.Close()
		if err := c.read(rctx, r, pc, k.routers[t.Name]); err != nil && rctx.Err() == nil {
			c.log.Warn("reading a partition no live client owns failed; it restarts from its committed offset", "topic", t.Name, "partition", p, "err", err)
			r.fail()
			c.kickSoon()
		}
	}()
	c.log.Debug("covering a partition no live client owns", "topic", t.Name, "partition", p, "from", from)
	return nil
}

// workerOffsets returns, per partition, the highest offset committed by a
// worker group of t's role whose client maps to that partition, or -1. Any
// worker's commit means every stray before it was forwarded by that worker;
// starting there spares re-reading what was handled, and a group missed here
// only means an earlier start: duplicates, never a gap.
func (c *Consumer) workerOffsets(k *conn, groups *workerGroups, t Topic, n int32, parts []int32) map[int32]int64 {
	out := make(map[int32]int64, len(parts))
	for _, p := range parts {
		out[p] = -1
	}
	if t.Role == "" {
		return out
	}
	names, err := groups.list(k)
	if err != nil {
		c.log.Warn("listing consumer groups; coverage starts at our own offsets", "err", err)
		return out
	}
	want := make(map[string]map[string][]int32)
	for _, g := range names {
		client, ok := strings.CutPrefix(g, t.Role+"-")
		if !ok || clientid.Validate(client) != nil {
			continue
		}
		if p := kafkaio.PartitionFor(client, n); out[p] == -1 {
			want[g] = map[string][]int32{t.Name: {p}}
		}
	}
	// One OffsetFetch per coordinator for many groups (Kafka ≥ 3.0), in
	// chunks: a broker keeps the groups of every client seen for a week.
	for chunk := range chunks(want, offsetFetchGroups) {
		res, err := k.admin.ListConsumerGroupOffsetsBatch(chunk)
		if err != nil {
			c.log.Debug("offsets of worker groups", "groups", len(chunk), "err", err)
			continue
		}
		for g, resp := range res {
			if resp == nil || !errors.Is(resp.Err, sarama.ErrNoError) {
				continue
			}
			for _, p := range chunk[g][t.Name] {
				if b := resp.GetBlock(t.Name, p); b != nil && errors.Is(b.Err, sarama.ErrNoError) && b.Offset > out[p] {
					out[p] = b.Offset
				}
			}
		}
	}
	return out
}

// offsetFetchGroups bounds the groups asked for in one OffsetFetch.
const offsetFetchGroups = 500

// chunks yields m in maps of at most size entries.
func chunks[V any](m map[string]V, size int) func(yield func(map[string]V) bool) {
	return func(yield func(map[string]V) bool) {
		chunk := make(map[string]V, min(size, len(m)))
		for k, v := range m {
			chunk[k] = v
			if len(chunk) == size {
				if !yield(chunk) {
					return
				}
				chunk = make(map[string]V, size)
			}
		}
		if len(chunk) > 0 {
			yield(chunk)
		}
	}
}

// workerGroups lists the broker's consumer groups once per reconcile, when
// the first topic needs them.
type workerGroups struct {
	names []string
	err   error
	done  bool
}

func (w *workerGroups) list(k *conn) ([]string, error) {
	if !w.done {
		w.done = true
		var groups map[string]string
		if groups, w.err = k.admin.ListConsumerGroups(); w.err == nil {
			for g := range groups {
				w.names = append(w.names, g)
			}
		}
	}
	return w.names, w.err
}

func (c *Consumer) kickSoon() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// stop ends a reader: its batch in flight is abandoned unmarked (the next
// reader, ours or the new owner's worker, reads it again), its marks are
// flushed.
func (c *Consumer) stop(k *conn, r *reader) {
	r.cancel()
	<-r.done
	r.pom.AsyncClose()
	k.offsets.Commit()
	c.mu.Lock()
	delete(c.readers, partitionKey{r.topic, r.partition})
	c.mu.Unlock()
	if !r.stopped() {
		c.log.Debug("a live client owns the partition now; stopped covering it", "topic", r.topic, "partition", r.partition)
	}
}

func (c *Consumer) stopAll(k *conn) {
	c.mu.Lock()
	all := make([]*reader, 0, len(c.readers))
	for _, r := range c.readers {
		all = append(all, r)
	}
	c.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].topic < all[j].topic })
	for _, r := range all {
		c.stop(k, r)
	}
}
