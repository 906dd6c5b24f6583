package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// Sink receives the records the ingester reads. *Controller implements it.
type Sink interface {
	HandleRegistry(key, value []byte, ts time.Time, offset int64)
	HandleHeartbeat(key, value []byte, ts time.Time, offset int64)
	CaughtUp()
	// ReadUpTo says every heartbeat appended before t has been handled.
	ReadUpTo(t time.Time)
}

// IngestConfig says what the ingester reads.
type IngestConfig struct {
	Brokers        []string
	RegistryTopic  string // default cluster.registry
	HeartbeatTopic string // default cluster.heartbeat
	// Lookback is how far back heartbeats are read at start: the stale threshold,
	// so a restarted control plane knows who was alive a threshold ago.
	Lookback time.Duration
	Logger   *slog.Logger
	// Security is the connection's SASL/TLS (kafkaio.SecurityFromEnv).
	Security kafkaio.Security
	// ClientID names this plane to the brokers (default kg-control-plane).
	ClientID string
	// ProbeInterval is how often the heartbeat partitions' end offsets are
	// read to confirm the ingest is caught up with them (default 250ms): the
	// control plane decides staleness only up to the last confirmation.
	ProbeInterval time.Duration
	// Sarama, when set, is used instead of kafkaio.NewSaramaConfig(Security,
	// ClientID) (tests shrink fetch sizes with it).
	Sarama *sarama.Config
}

// Ingest reads the whole compacted registry, then heartbeats from now − Lookback,
// tells the sink it is caught up, and then follows both topics until ctx is done,
// confirming every ProbeInterval how far the heartbeats are read (Sink.ReadUpTo).
//
// "Caught up" means: every partition read up to the end offset it had when
// the ingest started, checked on offsets, never on a quiet period (a slow
// broker or a leader election would pass for the end of the topic).
//
// It uses plain partition consumers, not a consumer group: the control plane must
// see the whole registry from the beginning on every start, which is exactly what
// a group's committed offsets would prevent.
func Ingest(ctx context.Context, cfg IngestConfig, sink Sink) error {
	if cfg.RegistryTopic == "" {
		cfg.RegistryTopic = kafkaio.TopicRegistry
	}
	if cfg.HeartbeatTopic == "" {
		cfg.HeartbeatTopic = kafkaio.TopicHeartbeat
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "kg-control-plane"
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = 250 * time.Millisecond
	}
	sc := cfg.Sarama
	if sc == nil {
		sc = kafkaio.NewSaramaConfig(cfg.Security, cfg.ClientID)
	}
	sc.Consumer.Return.Errors = true
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return fmt.Errorf("connecting to Kafka at %v: %w", cfg.Brokers, err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("creating Kafka consumer: %w", err)
	}
	defer consumer.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
		cancel()
	}

	// Registry first, to its end, so no heartbeat is read before the registration
	// it belongs to; then heartbeats.
	reg, err := follow(ctx, &wg, client, consumer, cfg.RegistryTopic, func(p int32) (int64, error) {
		return sarama.OffsetOldest, nil
	}, sink.HandleRegistry, cfg.Logger, fail)
	if err != nil {
		return err
	}
	if !reg.wait(ctx) {
		wg.Wait()
		return firstErr(errc)
	}
	since := time.Now().Add(-cfg.Lookback).UnixMilli()
	hb, err := follow(ctx, &wg, client, consumer, cfg.HeartbeatTopic, func(p int32) (int64, error) {
		off, err := client.GetOffset(cfg.HeartbeatTopic, p, since)
		if err != nil {
			return 0, err
		}
		if off < 0 { // nothing that recent: start at the end
			return sarama.OffsetNewest, nil
		}
		return off, nil
	}, sink.HandleHeartbeat, cfg.Logger, fail)
	if err != nil {
		cancel()
		wg.Wait()
		return err
	}
	if hb.wait(ctx) {
		cfg.Logger.Info("caught up with the registry and recent heartbeats")
		sink.CaughtUp()
		wg.Go(func() { hb.probe(ctx, client, cfg.ProbeInterval, sink.ReadUpTo, cfg.Logger) })
	}
	<-ctx.Done()
	wg.Wait()
	return firstErr(errc)
}

func firstErr(errc chan error) error {
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// followed is one topic being followed: per partition, the next offset to
// handle and whether the start-up catch-up is done.
type followed struct {
	topic string
	parts []int32
	next  []*atomic.Int64 // offset after the last record handled
	done  []chan struct{} // closed once the end offset seen at start is reached
}

func (f *followed) wait(ctx context.Context) bool {
	for _, ch := range f.done {
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
	return true
}

// probe reads the partitions' end offsets every interval and reports, through
// readUpTo, the time of the newest read whose offsets have all been handled:
// every record appended before that time has been. While Kafka cannot answer,
// nothing is reported, and the control plane holds its purges.
func (f *followed) probe(ctx context.Context, client sarama.Client, interval time.Duration, readUpTo func(time.Time), log *slog.Logger) {
	type probe struct {
		at   time.Time
		ends []int64
	}
	var pending []probe
	tick := time.NewTicker(interval)
	defer tick.Stop()
	failing := false
	for {
		at := time.Now()
		ends := make([]int64, len(f.parts))
		var err error
		for i, p := range f.parts {
			if ends[i], err = client.GetOffset(f.topic, p, sarama.OffsetNewest); err != nil {
				break
			}
		}
		switch {
		case err != nil && !failing:
			failing = true
			log.Warn("cannot read the end offsets of the heartbeat topic; purges are held until it can", "topic", f.topic, "error", err)
		case err == nil:
			if failing {
				log.Info("heartbeat topic readable again", "topic", f.topic)
			}
			failing = false
			pending = append(pending, probe{at, ends})
			if len(pending) > 256 { // the consumer is far behind; keep the newest
				pending = pending[len(pending)-256:]
			}
		}
		var reached time.Time
		for len(pending) > 0 && f.reached(pending[0].ends) {
			reached, pending = pending[0].at, pending[1:]
		}
		if !reached.IsZero() {
			readUpTo(reached)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (f *followed) reached(ends []int64) bool {
	for i, end := range ends {
		if f.next[i].Load() < end {
			return false
		}
	}
	return true
}

// tailQuiet is how long a partition short of its start-up end offset may
// deliver nothing before the ingest asks the broker directly what lies
// between (a transaction marker takes an offset but is never delivered).
// It only triggers that check; it never counts as caught up by itself.
const tailQuiet = 2 * time.Second

// follow starts one partition consumer per partition of topic.
func follow(ctx context.Context, wg *sync.WaitGroup, client sarama.Client, consumer sarama.Consumer, topic string,
	start func(int32) (int64, error), handle func(k, v []byte, ts time.Time, offset int64), log *slog.Logger, fail func(error)) (*followed, error) {
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("reading partitions of %s (does the topic exist? `kgctl topics ensure` creates it): %w", topic, err)
	}
	f := &followed{topic: topic, parts: parts}
	for _, p := range parts {
		hwm, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("reading the end offset of %s/%d: %w", topic, p, err)
		}
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, fmt.Errorf("reading the start offset of %s/%d: %w", topic, p, err)
		}
		off, err := start(p)
		if err != nil {
			return nil, fmt.Errorf("finding the start offset of %s/%d: %w", topic, p, err)
		}
		pc, err := consumer.ConsumePartition(topic, p, off)
		if err != nil {
			return nil, fmt.Errorf("consuming %s/%d: %w", topic, p, err)
		}
		next := &atomic.Int64{}
		switch off {
		case sarama.OffsetNewest:
			next.Store(hwm)
		case sarama.OffsetOldest:
			next.Store(oldest)
		default:
			next.Store(off)
		}
		ch := make(chan struct{})
		f.next = append(f.next, next)
		f.done = append(f.done, ch)
		var once sync.Once
		caught := func() { once.Do(func() { close(ch) }) }
		if next.Load() >= hwm {
			caught() // nothing to read up to the end offset seen at start
		}
		wg.Go(func() {
			defer pc.AsyncClose()
			quiet := time.NewTimer(tailQuiet)
			defer quiet.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-quiet.C:
					if n := next.Load(); n < hwm {
						empty, err := tailEmpty(client, topic, p, n, hwm)
						if err != nil {
							log.Warn("catching up: checking the rest of the partition failed; waiting", "topic", topic, "partition", p, "at", n, "end", hwm, "error", err)
						} else if empty {
							next.CompareAndSwap(n, hwm)
							caught()
						} else {
							log.Info("catching up: records remain to be read; waiting for the broker", "topic", topic, "partition", p, "at", n, "end", hwm)
						}
					}
					quiet.Reset(tailQuiet)
				case m, ok := <-pc.Messages():
					if !ok {
						return
					}
					handle(m.Key, m.Value, m.Timestamp, m.Offset)
					next.Store(m.Offset + 1)
					if m.Offset+1 >= hwm {
						caught()
					}
					quiet.Reset(tailQuiet)
				case e, ok := <-pc.Errors():
					if !ok {
						return
					}
					if errors.Is(e.Err, sarama.ErrOffsetOutOfRange) {
						fail(fmt.Errorf("consuming %s/%d: %w", topic, p, e.Err))
						return
					}
					log.Warn("Kafka consumer error (retrying)", "topic", topic, "partition", p, "error", e.Err)
				}
			}
		})
	}
	return f, nil
}

// tailEmpty asks the partition's leader whether any data record lies in
// [from, end): false when one does (the consumer has just not delivered it
// yet), true when only control records (transaction markers) or nothing
// remain there.
func tailEmpty(client sarama.Client, topic string, p int32, from, end int64) (bool, error) {
	b, err := client.Leader(topic, p)
	if err != nil {
		return false, err
	}
	req := &sarama.FetchRequest{Version: 4, MaxWaitTime: 0, MinBytes: 1, MaxBytes: 1 << 20, Isolation: sarama.ReadUncommitted}
	req.AddBlock(topic, p, from, 1<<20, -1)
	resp, err := b.Fetch(req)
	if err != nil {
		return false, err
	}
	block := resp.GetBlock(topic, p)
	if block == nil {
		return false, fmt.Errorf("no answer for %s/%d", topic, p)
	}
	if block.Err != sarama.ErrNoError {
		return false, block.Err
	}
	for _, rs := range block.RecordsSet {
		if rs == nil || rs.RecordBatch == nil {
			if rs != nil && rs.MsgSet != nil && len(rs.MsgSet.Messages) > 0 {
				return false, nil
			}
			continue
		}
		rb := rs.RecordBatch
		if rb.Control {
			continue
		}
		for _, r := range rb.Records {
			if o := rb.FirstOffset + r.OffsetDelta; o >= from && o < end {
				return false, nil
			}
		}
	}
	return true, nil
}
