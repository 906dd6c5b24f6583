package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// Sink receives the records the ingester reads. *Controller implements it.
type Sink interface {
	HandleRegistry(key, value []byte, ts time.Time, offset int64)
	HandleHeartbeat(key, value []byte, ts time.Time, offset int64)
	CaughtUp()
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
	// Sarama lets tests and operators adjust the client (TLS, SASL); nil = defaults.
	Sarama *sarama.Config
}

// Ingest reads the whole compacted registry, then heartbeats from now − Lookback,
// tells the sink it is caught up, and then follows both topics until ctx is done.
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
	sc := cfg.Sarama
	if sc == nil {
		sc = sarama.NewConfig()
	}
	sc.Version = kafkaio.KafkaVersion()
	sc.ClientID = "kg-control-plane"
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
	regDone, err := follow(ctx, &wg, client, consumer, cfg.RegistryTopic, func(p int32) (int64, error) {
		return sarama.OffsetOldest, nil
	}, sink.HandleRegistry, cfg.Logger, fail)
	if err != nil {
		return err
	}
	if !waitAll(ctx, regDone) {
		wg.Wait()
		return firstErr(errc)
	}
	since := time.Now().Add(-cfg.Lookback).UnixMilli()
	hbDone, err := follow(ctx, &wg, client, consumer, cfg.HeartbeatTopic, func(p int32) (int64, error) {
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
	if waitAll(ctx, hbDone) {
		cfg.Logger.Info("caught up with the registry and recent heartbeats")
		sink.CaughtUp()
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

func waitAll(ctx context.Context, chans []chan struct{}) bool {
	for _, ch := range chans {
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
	return true
}

// catchUpQuiet is how long a partition may deliver nothing before it counts as
// read to its end during the start-up catch-up.
const catchUpQuiet = 2 * time.Second

// follow starts one partition consumer per partition of topic and returns, per
// partition, a channel closed once the records present at start have been handled.
func follow(ctx context.Context, wg *sync.WaitGroup, client sarama.Client, consumer sarama.Consumer, topic string,
	start func(int32) (int64, error), handle func(k, v []byte, ts time.Time, offset int64), log *slog.Logger, fail func(error)) ([]chan struct{}, error) {
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("reading partitions of %s (does the topic exist? `kgctl topics ensure` creates it): %w", topic, err)
	}
	var done []chan struct{}
	for _, p := range parts {
		hwm, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("reading the end offset of %s/%d: %w", topic, p, err)
		}
		off, err := start(p)
		if err != nil {
			return nil, fmt.Errorf("finding the start offset of %s/%d: %w", topic, p, err)
		}
		pc, err := consumer.ConsumePartition(topic, p, off)
		if err != nil {
			return nil, fmt.Errorf("consuming %s/%d: %w", topic, p, err)
		}
		ch := make(chan struct{})
		done = append(done, ch)
		var once sync.Once
		caught := func() { once.Do(func() { close(ch) }) }
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, fmt.Errorf("reading the start offset of %s/%d: %w", topic, p, err)
		}
		if off == sarama.OffsetNewest || oldest >= hwm || off >= 0 && off >= hwm {
			caught() // nothing to read up to the end offset seen at start
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			// The record at hwm-1 may never come: compaction removes old
			// tombstones, and transaction markers take offsets. A partition
			// that delivers nothing for a while is caught up as well.
			quiet := time.NewTimer(catchUpQuiet)
			defer quiet.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-quiet.C:
					caught()
				case m, ok := <-pc.Messages():
					if !ok {
						return
					}
					handle(m.Key, m.Value, m.Timestamp, m.Offset)
					if m.Offset+1 >= hwm {
						caught()
					}
					quiet.Reset(catchUpQuiet)
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
		}()
	}
	return done, nil
}
