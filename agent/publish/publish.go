// Package publish sends one client's records to Kafka: data records
// (raw.k8s.events, raw.k8s.logs, state.k8s.topology) with their full
// "<client>::<type>::<id>" keys, and the client's own registry and heartbeat
// records keyed by the bare client id. Every record goes to the client's
// partition (kafkaio's client-affine partitioner) through an idempotent,
// acks=all producer, so a client's records keep their order end to end.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/clientid"
	"github.com/kgrca/kgplane/scenario"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// Topics maps the contract's topic names to the ones actually used (tests use
// private copies; operators may rename the control-plane topics).
type Topics struct {
	Events, Logs, Topology, Registry, Heartbeat string
}

// DefaultTopics are the contract's topics.
func DefaultTopics() Topics {
	return Topics{Events: kafkaio.TopicRawEvents, Logs: kafkaio.TopicRawLogs, Topology: kafkaio.TopicTopology,
		Registry: kafkaio.TopicRegistry, Heartbeat: kafkaio.TopicHeartbeat}
}

// data returns the topic a scenario record's topic is published to.
func (t Topics) data(topic string) (string, error) {
	switch topic {
	case scenario.TopicEvents:
		return t.Events, nil
	case scenario.TopicLogs:
		return t.Logs, nil
	case scenario.TopicTopology:
		return t.Topology, nil
	}
	return "", fmt.Errorf("unknown data topic %q", topic)
}

// Sink is where the agent's data records go: a Publisher, or a test's recorder.
type Sink interface {
	Publish(ctx context.Context, recs []scenario.Record) error
}

// Sender sends one record keyed by the bare client id (registry, heartbeat).
type Sender interface {
	Send(ctx context.Context, topic string, value []byte) error
}

// Config configures a Publisher.
type Config struct {
	Brokers []string
	Client  string
	Topics  Topics // zero value: DefaultTopics
	Logger  *slog.Logger
}

// Publisher publishes one client's records. It is safe for concurrent use.
type Publisher struct {
	client string
	topics Topics
	prod   *kafkaio.Producer
}

// New connects a Publisher. It fails at once when no broker answers; see
// Connect for the agent's patient variant.
func New(cfg Config) (*Publisher, error) {
	if err := clientid.Validate(cfg.Client); err != nil {
		return nil, err
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("no Kafka brokers (set --kafka-brokers or KAFKA_BROKERS)")
	}
	if cfg.Topics == (Topics{}) {
		cfg.Topics = DefaultTopics()
	}
	// A larger linger than the workers' 5ms: the agent's records come in
	// bursts (an informer's initial list, a replayed file), not one by one.
	prod, err := kafkaio.NewProducer(kafkaio.ProducerConfig{Brokers: cfg.Brokers, ClientID: cfg.Client,
		Linger: 20 * time.Millisecond, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("connecting to Kafka at %v (start it with scripts/kafka.sh start, or set KAFKA_BROKERS): %w", cfg.Brokers, err)
	}
	return &Publisher{client: cfg.Client, topics: cfg.Topics, prod: prod}, nil
}

// Connect is New retried with backoff (1 s doubling to 30 s) until it
// succeeds or ctx ends: an agent started while Kafka is down waits for it
// instead of crash-looping. Each failure is logged.
func Connect(ctx context.Context, cfg Config, log *slog.Logger) (*Publisher, error) {
	if err := clientid.Validate(cfg.Client); err != nil {
		return nil, err // no retry can fix this
	}
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		p, err := New(cfg)
		if err == nil {
			if attempt > 1 {
				log.Info("connected to Kafka", "brokers", cfg.Brokers, "attempts", attempt)
			}
			return p, nil
		}
		log.Warn("Kafka is not reachable; retrying", "err", err, "attempt", attempt, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to Kafka: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// Client is the client id the Publisher publishes for.
func (p *Publisher) Client() string { return p.client }

// Topics are the topics the Publisher writes to.
func (p *Publisher) Topics() Topics { return p.topics }

// Message builds the Kafka message of a data record: its full key, its value
// (nil for a topology tombstone).
func Message(client string, topics Topics, r scenario.Record) (*sarama.ProducerMessage, error) {
	topic, err := topics.data(r.Topic)
	if err != nil {
		return nil, err
	}
	msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(r.FullKey(client))}
	if !r.Tombstone() {
		msg.Value = sarama.ByteEncoder(r.Value)
	}
	return msg, nil
}

// Publish sends recs in order and returns once every one is acknowledged.
func (p *Publisher) Publish(ctx context.Context, recs []scenario.Record) error {
	msgs := make([]*sarama.ProducerMessage, 0, len(recs))
	for _, r := range recs {
		msg, err := Message(p.client, p.topics, r)
		if err != nil {
			return err
		}
		msgs = append(msgs, msg)
	}
	if err := p.prod.SendBatch(ctx, msgs); err != nil {
		return fmt.Errorf("publishing %d records of %s: %w", len(msgs), p.client, err)
	}
	return nil
}

// Send publishes value (nil: a tombstone) keyed by the client id to topic
// and waits for its acknowledgement.
func (p *Publisher) Send(ctx context.Context, topic string, value []byte) error {
	msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(p.client)}
	if value != nil {
		msg.Value = sarama.ByteEncoder(value)
	}
	if err := p.prod.SendBatch(ctx, []*sarama.ProducerMessage{msg}); err != nil {
		return fmt.Errorf("publishing to %s for %s: %w", topic, p.client, err)
	}
	return nil
}

// Close flushes what is buffered and disconnects.
func (p *Publisher) Close() error { return p.prod.Close() }

// CheckTopics says which of topics the cluster at brokers lacks, with what
// to do about it: publishing to a missing topic would otherwise retry for
// half a minute and fail with "unknown topic".
func CheckTopics(brokers []string, topics ...string) error {
	sc := sarama.NewConfig()
	sc.Version = kafkaio.KafkaVersion()
	sc.ClientID = "kg-agent-check"
	c, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return fmt.Errorf("connecting to Kafka at %v (start it with scripts/kafka.sh start, or set KAFKA_BROKERS): %w", brokers, err)
	}
	defer c.Close()
	have, err := c.Topics()
	if err != nil {
		return fmt.Errorf("listing topics: %w", err)
	}
	set := make(map[string]bool, len(have))
	for _, t := range have {
		set[t] = true
	}
	var missing []string
	for _, t := range topics {
		if !set[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("Kafka at %v has no topic %v: run 'kgctl topics ensure' (the control plane creates them at start too)", brokers, missing)
	}
	return nil
}
