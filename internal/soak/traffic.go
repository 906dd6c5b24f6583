package soak

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/agent/lifecycle"
	"github.com/kgrca/kgplane/agent/publish"
	"github.com/kgrca/kgplane/agent/simulate"
	"github.com/kgrca/kgplane/scenario"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// sent is one record Kafka acknowledged: the source of truth the checks
// compare the graph and the dead-letter topics with.
type sent struct {
	Topic  string
	Key    []byte
	Value  []byte // nil: a tombstone
	Time   time.Time
	Poison string // the poison kind; "" for the client's own traffic
	Expect string // a poison record's expected outcome (expectDLQ, ...)
}

// ledger holds, per client, what Kafka acknowledged, in the order it was
// acknowledged (which is the order on the client's partition for records
// of one producer), and the poison records no live client owns.
type ledger struct {
	mu       sync.Mutex
	byClient map[string][]sent
	keyLevel []poisonRecord
	acked    atomic.Int64
	poison   atomic.Int64
}

func newLedger() *ledger { return &ledger{byClient: map[string][]sent{}} }

func (l *ledger) add(client string, recs ...sent) {
	l.mu.Lock()
	l.byClient[client] = append(l.byClient[client], recs...)
	l.mu.Unlock()
	l.acked.Add(int64(len(recs)))
}

func (l *ledger) addKeyLevel(p poisonRecord) {
	l.mu.Lock()
	l.keyLevel = append(l.keyLevel, p)
	l.mu.Unlock()
	l.poison.Add(1)
}

// records returns a copy of a client's acknowledged records.
func (l *ledger) records(client string) []sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sent(nil), l.byClient[client]...)
}

func (l *ledger) keyLevelPoison() []poisonRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]poisonRecord(nil), l.keyLevel...)
}

// traffic is the simulated clients: each registers, heartbeats and publishes
// the records of generated fault scenarios (agent/simulate, as `kg-agent
// simulate` does) at its share of the total rate, retrying a batch until
// Kafka acknowledges it, as an agent would.
type traffic struct {
	cfg    Config
	data   *kafkaio.Producer // every client's data records: the client partitioner routes by key
	beats  *kafkaio.Producer // registrations and heartbeats, apart so data back-pressure never delays them
	ledger *ledger
	log    *slog.Logger

	mu       sync.Mutex
	hbCancel map[string]context.CancelFunc
	hbCtx    context.Context
	sendErrs atomic.Int64
	sent     atomic.Int64 // acknowledged records when there is no ledger (load runs)
	wg       sync.WaitGroup
}

func newTraffic(cfg Config, l *ledger, log *slog.Logger) (*traffic, error) {
	data, err := kafkaio.NewProducer(kafkaio.ProducerConfig{Brokers: cfg.Brokers(), Linger: 20 * time.Millisecond, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("the clients' data producer: %w", err)
	}
	beats, err := kafkaio.NewProducer(kafkaio.ProducerConfig{Brokers: cfg.Brokers(), Logger: log})
	if err != nil {
		data.Close()
		return nil, fmt.Errorf("the clients' heartbeat producer: %w", err)
	}
	return &traffic{cfg: cfg, data: data, beats: beats, ledger: l, log: log, hbCancel: map[string]context.CancelFunc{}}, nil
}

func (t *traffic) close() {
	t.data.Close()
	t.beats.Close()
}

// sender sends a client's control records keyed by its id (lifecycle.Sender).
type sender struct {
	p      *kafkaio.Producer
	client string
}

func (s sender) Send(ctx context.Context, topic string, value []byte) error {
	msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(s.client)}
	if value != nil {
		msg.Value = sarama.ByteEncoder(value)
	}
	return s.p.SendBatch(ctx, []*sarama.ProducerMessage{msg})
}

// register publishes every client's registration, retrying while Kafka is not
// ready, and starts its heartbeats (until ctx ends or pause).
func (t *traffic) register(ctx context.Context, clients []string) error {
	t.mu.Lock()
	t.hbCtx = ctx
	t.mu.Unlock()
	for _, id := range clients {
		reg := lifecycle.Registration{ClientID: id, ClusterName: "soak-" + id, K8sVersion: "v1.31.0", RegisteredAt: time.Now(),
			Metadata: map[string]string{"agent": "kg-soak"}}
		if err := lifecycle.RegisterPatiently(ctx, sender{t.beats, id}, kafkaio.TopicRegistry, reg, t.log); err != nil {
			return err
		}
		t.resume(id)
	}
	return nil
}

// pause stops a client's heartbeats (its data keeps flowing).
func (t *traffic) pause(client string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.hbCancel[client]; c != nil {
		c()
		delete(t.hbCancel, client)
	}
}

// resume starts a client's heartbeats again.
func (t *traffic) resume(client string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hbCancel[client] != nil || t.hbCtx == nil {
		return
	}
	ctx, cancel := context.WithCancel(t.hbCtx)
	t.hbCancel[client] = cancel
	hb := &lifecycle.Heartbeater{Sender: sender{t.beats, client}, Topic: kafkaio.TopicHeartbeat, Client: client,
		Agent: "kg-soak", Every: t.cfg.HeartbeatEvery, Log: t.log}
	t.wg.Add(1)
	go func() { defer t.wg.Done(); hb.Run(ctx) }()
}

// scenarioSeed is a client's n-th scenario's seed: distinct per client, so
// no two clients publish the same uids (a record in another client's graph
// is then recognisable), and the same in every run with the same seed.
func scenarioSeed(seed int64, client string, n int) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s/%d", seed, client, n)
	return int64(h.Sum64() >> 1)
}

// stream is one client's endless stream of scenario records: the same
// records in every run with the same seed.
type stream struct {
	client string
	seed   int64
	queue  []scenario.Record
	n      int
}

func newStream(client string, seed int64) *stream { return &stream{client: client, seed: seed} }

// take returns the next k records, generating scenarios as needed.
func (s *stream) take(k int) ([]scenario.Record, error) {
	names := simulate.Names()
	for len(s.queue) < k {
		seed := scenarioSeed(s.seed, s.client, s.n)
		f, err := simulate.Generate(names[int(uint64(seed)%uint64(len(names)))], simulate.Options{Seed: seed, Noise: 1, Base: time.Now().UTC().Truncate(time.Second)})
		if err != nil {
			return nil, fmt.Errorf("generating a scenario for %s: %w", s.client, err)
		}
		s.queue = append(s.queue, f.Records...)
		s.n++
	}
	out := s.queue[:k]
	s.queue = s.queue[k:]
	return out, nil
}

// publishLoop publishes a stream's records at perSecond until stop is
// closed; the batch in flight is always finished (acknowledged records are
// the ledger, and a record Kafka may hold must be in it). It returns when
// done or ctx ends.
func (t *traffic) publishLoop(ctx context.Context, stop <-chan struct{}, s *stream, perSecond float64) {
	const tick = 250 * time.Millisecond
	client := s.client
	budget := 0.0
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-ticker.C:
		}
		budget += perSecond * tick.Seconds()
		k := int(budget)
		if k == 0 {
			continue
		}
		budget -= float64(k)
		batch, err := s.take(k)
		if err != nil {
			t.log.Error("generating records", "client", client, "error", err)
			return
		}
		now := time.Now()
		msgs := make([]*sarama.ProducerMessage, 0, len(batch))
		recs := make([]sent, 0, len(batch))
		for _, r := range batch {
			msg, err := publish.Message(client, publish.DefaultTopics(), r)
			if err != nil {
				t.log.Error("building a record", "client", client, "error", err)
				return
			}
			// The timestamp is set here, not by the producer: topology
			// relations end at their tombstone's Kafka timestamp, and the
			// reference run must see the same one.
			msg.Timestamp = now
			msgs = append(msgs, msg)
			recs = append(recs, sent{Topic: msg.Topic, Key: []byte(r.FullKey(client)), Value: nilIfTombstone(r), Time: now})
		}
		if !t.sendUntilAcked(ctx, client, msgs) {
			return
		}
		if t.ledger != nil {
			t.ledger.add(client, recs...)
		} else {
			t.sent.Add(int64(len(recs)))
		}
	}
}

func nilIfTombstone(r scenario.Record) []byte {
	if r.Tombstone() {
		return nil
	}
	return []byte(r.Value)
}

// sendUntilAcked sends msgs until Kafka acknowledges all of them (an outage
// is waited out, as an agent does), or ctx ends (false).
func (t *traffic) sendUntilAcked(ctx context.Context, client string, msgs []*sarama.ProducerMessage) bool {
	backoff := time.Second
	for {
		err := t.data.SendBatch(context.WithoutCancel(ctx), msgs)
		if err == nil {
			return true
		}
		t.sendErrs.Add(1)
		t.log.Debug("publishing failed; retrying", "client", client, "error", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
		// A message that failed carries the producer's state for it; send copies.
		for i, m := range msgs {
			msgs[i] = &sarama.ProducerMessage{Topic: m.Topic, Key: m.Key, Value: m.Value, Timestamp: m.Timestamp}
		}
	}
}
