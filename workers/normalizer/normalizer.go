// Package normalizer turns a pure normalize function (eventnorm.Normalize,
// lognorm.Normalize) into a per-client Kafka process: it consumes the client's
// partition of the raw topic, normalizes each record of the client, produces
// the results to the normalized topic and dead-letters what it cannot
// process, committing its input offsets only after every output is acked.
package normalizer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// Func is a pure normalizer: keyID is the <uid> part of the raw key, "" for a
// key that is the client id alone (the normalizer then derives the id from
// the record); id is "evt-<hex>" or "log-<hex>", out the normalized JSON. It
// must be deterministic: a redelivered record must yield a byte-identical
// output.
type Func func(keyID string, raw []byte) (id string, out []byte, err error)

// Config configures one normalizer process.
type Config struct {
	// Role is kafkaio.RoleEventNormalizer or kafkaio.RoleLogNormalizer; it
	// picks the default topics, the expected key types and the group id.
	Role      string
	Brokers   []string
	ClientID  string
	Normalize Func
	// Topic overrides (tests, or a migration to new topics); empty = the
	// contract's topic for Role.
	InputTopic, OutputTopic, DLQTopic string
	// Consumer batching and group settings; zero = kafkaio defaults.
	MaxBatch       int
	Linger         time.Duration
	SessionTimeout time.Duration
	// ProducerLinger is how long output records wait to fill a batch.
	ProducerLinger time.Duration
	Logger         *slog.Logger
	Metrics        *kafkaio.Metrics
	// KafkaSecurity is the SASL/TLS of the Kafka connections (kafkaio.SecurityFromEnv).
	KafkaSecurity kafkaio.Security
}

// roleSpec is what differs between the two normalizers.
type roleSpec struct {
	in, out        string // contract topics
	rawType        string // raw key type, e.g. "event"
	normalizedType string // kafkaio.TypeNormalizedEvent / TypeNormalizedLog
}

var roles = map[string]roleSpec{
	kafkaio.RoleEventNormalizer: {kafkaio.TopicRawEvents, kafkaio.TopicEventsNormalized, kafkaio.TypeEvent, kafkaio.TypeNormalizedEvent},
	kafkaio.RoleLogNormalizer:   {kafkaio.TopicRawLogs, kafkaio.TopicLogsNormalized, kafkaio.TypeLog, kafkaio.TypeNormalizedLog},
}

// Run consumes and normalizes until ctx is done (returns nil after a
// graceful stop) or output cannot be produced (returns the error; the
// process should exit non-zero and be restarted).
func Run(ctx context.Context, cfg Config) error {
	spec, ok := roles[cfg.Role]
	if !ok {
		return fmt.Errorf("normalizer: unknown role %q (want %s or %s)", cfg.Role, kafkaio.RoleEventNormalizer, kafkaio.RoleLogNormalizer)
	}
	if cfg.Normalize == nil {
		return errors.New("normalizer: no Normalize function")
	}
	if cfg.InputTopic == "" {
		cfg.InputTopic = spec.in
	}
	if cfg.OutputTopic == "" {
		cfg.OutputTopic = spec.out
	}
	if cfg.DLQTopic == "" {
		cfg.DLQTopic = kafkaio.TopicDLQRaw
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("role", cfg.Role, "client", cfg.ClientID)

	producer, err := kafkaio.NewProducer(kafkaio.ProducerConfig{
		Brokers: cfg.Brokers, ClientID: cfg.ClientID, Linger: cfg.ProducerLinger, Logger: log, Metrics: cfg.Metrics, Security: cfg.KafkaSecurity,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Role, err)
	}
	defer producer.Close()
	consumer, err := kafkaio.NewConsumer(kafkaio.ConsumerConfig{
		Brokers: cfg.Brokers, Role: cfg.Role, ClientID: cfg.ClientID, Topics: []string{cfg.InputTopic},
		MaxBatch: cfg.MaxBatch, Linger: cfg.Linger, SessionTimeout: cfg.SessionTimeout,
		Producer: producer, DeadLetterTopic: cfg.DLQTopic, Logger: log, Metrics: cfg.Metrics, Security: cfg.KafkaSecurity,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Role, err)
	}

	n := &runner{cfg: cfg, spec: spec, producer: producer, log: log}
	log.Info("normalizer started", "input", cfg.InputTopic, "output", cfg.OutputTopic, "dlq", cfg.DLQTopic,
		"group", kafkaio.GroupID(cfg.Role, cfg.ClientID))
	if err := consumer.Run(ctx, n.handle); err != nil {
		return fmt.Errorf("%s for %s: %w", cfg.Role, cfg.ClientID, err)
	}
	log.Info("normalizer stopped")
	return nil
}

type runner struct {
	cfg      Config
	spec     roleSpec
	producer *kafkaio.Producer
	log      *slog.Logger
}

// handle normalizes a batch and returns once all outputs and dead letters
// are acked; the consumer commits the batch only then.
func (n *runner) handle(ctx context.Context, batch []kafkaio.Record) error {
	msgs := make([]*sarama.ProducerMessage, 0, len(batch))
	for _, rec := range batch {
		msg, reason := n.normalize(rec)
		if reason != nil {
			n.log.Warn("dead-lettering record", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset, "reason", reason)
			msg = n.producer.DeadLetterMessage(n.cfg.DLQTopic, rec, n.cfg.Role, reason)
		}
		msgs = append(msgs, msg)
	}
	if err := n.producer.SendBatch(ctx, msgs); err != nil {
		return fmt.Errorf("producing %d records: %w", len(msgs), err)
	}
	return nil
}

// normalize returns the output record of rec, or why rec must be dead-lettered.
func (n *runner) normalize(rec kafkaio.Record) (*sarama.ProducerMessage, error) {
	key, out, err := Output(n.cfg.Role, n.safeNormalize, rec)
	if err != nil {
		return nil, err
	}
	return &sarama.ProducerMessage{
		Topic:     n.cfg.OutputTopic,
		Key:       sarama.StringEncoder(key),
		Value:     sarama.ByteEncoder(out),
		Timestamp: rec.Timestamp,
	}, nil
}

// Output is the whole decision the normalizer of role makes about one record
// of its client: the normalized record's key and value, or why the record is
// dead-lettered. It is exported so that a fault-free reference run (the
// soak's, internal/soak) decides exactly as the workers do.
func Output(role string, normalize Func, rec kafkaio.Record) (key string, value []byte, err error) {
	spec, ok := roles[role]
	if !ok {
		return "", nil, fmt.Errorf("normalizer: unknown role %q", role)
	}
	k, err := kafkaio.ParseKey(rec.Key)
	if err != nil {
		return "", nil, fmt.Errorf("parsing key: %w", err)
	}
	// A key that is the client id alone has no uid (k.ID is ""): the
	// normalizer derives the id from the record (docs/workers.md, "Keys").
	if k.Type != spec.rawType && k.Type != kafkaio.TypeClient {
		return "", nil, fmt.Errorf("key type %q on %s, want %q (or the client id alone)", k.Type, rec.Topic, spec.rawType)
	}
	id, out, err := normalize(k.ID, rec.Value)
	if err != nil {
		return "", nil, fmt.Errorf("normalizing: %w", err)
	}
	outKey := kafkaio.Key{Client: k.Client, Type: spec.normalizedType, ID: id}
	if pk, err := kafkaio.ParseKey([]byte(outKey.String())); err != nil || pk.Type != spec.normalizedType {
		// A normalizer bug, not bad input, but the record must still not be lost.
		return "", nil, fmt.Errorf("normalizer returned an invalid id %q", id)
	}
	return outKey.String(), out, nil
}

// safeNormalize turns a panic in the normalizer into an error: one poisonous
// record must not crash-loop the worker and block the client's partition.
func (n *runner) safeNormalize(keyID string, raw []byte) (id string, out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("normalizer panicked", "key_id", keyID, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("normalizer panicked: %v", r)
		}
	}()
	return n.cfg.Normalize(keyID, raw)
}
