package kafkaio

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/clientid"
)

// Dead-letter headers (contract: "Kafka topics", dlq.*).
const (
	HeaderError           = "kg-error"
	HeaderSourceTopic     = "kg-source-topic"
	HeaderSourcePartition = "kg-source-partition"
	HeaderSourceOffset    = "kg-source-offset"
	HeaderWorker          = "kg-worker"
	// HeaderValueTruncated is set on a dead letter whose value was cut to
	// MaxDeadLetterValue bytes: the original's length in bytes. The original
	// is still in its source topic (kg-source-*) until retention removes it.
	HeaderValueTruncated = "kg-value-truncated"
	// HeaderValueSHA256 is the hex SHA-256 of the original value of a
	// truncated dead letter, to tell which record it was.
	HeaderValueSHA256 = "kg-value-sha256"
)

// MaxDeadLetterValue bounds the value a dead letter carries. A record can
// arrive far larger than the producer may send (a 2 MiB value compresses
// under the broker's 1 MiB limit, while the producer checks the size before
// compression): copied whole, its dead letter could never be produced, and
// the worker would fail on it forever. Past this size the letter carries the
// value's first MaxDeadLetterValue bytes and the two headers above.
const MaxDeadLetterValue = 256 << 10

// MaxForwardValue bounds the value of a stray that is forwarded to its
// client's partition; a larger one is dead-lettered instead. Every reader
// refuses values over 1 MiB (the normalizers' and the graph's limit), so
// forwarding one would only move the dead letter, and the copy might not be
// producible at all.
const MaxForwardValue = 1 << 20

// maxErrorHeader bounds the kg-error header; a reason is a sentence, not a dump.
const maxErrorHeader = 2048

// ProducerConfig configures a worker's producer.
type ProducerConfig struct {
	Brokers []string
	// ClientID is the client the producer serves: its dead letters go to
	// that client's partition. Empty for a producer that serves no client
	// (the control plane's stray consumer): its dead letters are spread by
	// key.
	ClientID string
	// Linger is how long records wait to fill a batch (default 5ms).
	Linger  time.Duration
	Logger  *slog.Logger
	Metrics *Metrics
	// Security is the SASL/TLS of the connection (SecurityFromEnv); the zero
	// value is plaintext.
	Security Security
}

// Producer is an idempotent, lz4-compressed, batching producer with acks=all
// and the client-affine partitioner. SendBatch returns once every record is
// acknowledged, so callers commit their input offsets after it.
type Producer struct {
	client string
	ap     sarama.AsyncProducer
	log    *slog.Logger
	m      *Metrics
	done   chan struct{}
	close  sync.Once
}

// msgMeta rides in ProducerMessage.Metadata: the ack group of the SendBatch
// call and the client whose partition the record goes to: for dead letters
// the producer's client (the key may be garbage and cannot be trusted to
// route it), for forwarded strays the key's client, already parsed.
type msgMeta struct {
	acks       *ackGroup
	client     string
	deadLetter bool
	forward    bool
}

// NewProducer connects an idempotent producer.
func NewProducer(cfg ProducerConfig) (*Producer, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("producer config: no Kafka brokers")
	}
	if cfg.ClientID != "" {
		if err := clientid.Validate(cfg.ClientID); err != nil {
			return nil, fmt.Errorf("producer config: %w", err)
		}
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 5 * time.Millisecond
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	sc := NewSaramaConfig(cfg.Security, strings.TrimSuffix("kg-producer-"+cfg.ClientID, "-"))
	// Idempotence gives exactly-once per partition across retries and, with
	// one request in flight, keeps per-client order.
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Net.MaxOpenRequests = 1
	// Ride out a leader election or a broker restart (~30s in all) before
	// SendBatch fails and the worker exits to be restarted.
	sc.Producer.Retry.Max = 20
	sc.Producer.Retry.BackoffFunc = func(retries, _ int) time.Duration {
		return min(100*time.Millisecond<<min(retries, 5), 2*time.Second)
	}
	// lz4 over zstd: a fraction of the CPU on a 2-core worker, still ~3-5x on JSON.
	sc.Producer.Compression = sarama.CompressionLZ4
	sc.Producer.Flush.Frequency = cfg.Linger
	sc.Producer.Flush.Bytes = 512 << 10
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Partitioner = func(topic string) sarama.Partitioner { return NewClientPartitioner(topic) }
	ap, err := sarama.NewAsyncProducer(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("connecting producer to %v: %w", cfg.Brokers, err)
	}
	p := &Producer{client: cfg.ClientID, ap: ap, log: log, m: cfg.Metrics, done: make(chan struct{})}
	go p.dispatch() // ends when Close closes the async producer
	return p, nil
}

// dispatch routes each acknowledgement to the SendBatch call that sent it.
func (p *Producer) dispatch() {
	defer close(p.done)
	succ, errs := p.ap.Successes(), p.ap.Errors()
	for succ != nil || errs != nil {
		select {
		case msg, ok := <-succ:
			if !ok {
				succ = nil
				continue
			}
			meta, _ := msg.Metadata.(*msgMeta)
			if meta == nil {
				continue
			}
			switch {
			case meta.deadLetter:
				p.m.deadLettered(msg.Topic)
			case !meta.forward: // forwarded strays are counted by the StrayRouter
				p.m.out(msg.Topic)
			}
			meta.acks.ack(nil)
		case perr, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			p.m.error("produce")
			meta, _ := perr.Msg.Metadata.(*msgMeta)
			if meta == nil {
				continue
			}
			meta.acks.ack(fmt.Errorf("producing to %s: %w", perr.Msg.Topic, perr.Err))
		}
	}
}

// ackGroup waits for the acknowledgements of one SendBatch call.
type ackGroup struct {
	mu      sync.Mutex
	pending int
	err     error
	done    chan struct{}
}

func newAckGroup(n int) *ackGroup { return &ackGroup{pending: n, done: make(chan struct{})} }

func (g *ackGroup) ack(err error) { g.settle(1, err) }

func (g *ackGroup) settle(n int, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil && g.err == nil {
		g.err = err
	}
	g.pending -= n
	if g.pending == 0 {
		close(g.done)
	}
}

// SendBatch produces msgs and returns when ALL are acknowledged, or the first
// error once all have settled, or ctx's error. It owns msgs' Metadata field.
func (p *Producer) SendBatch(ctx context.Context, msgs []*sarama.ProducerMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	acks := newAckGroup(len(msgs))
	for i, msg := range msgs {
		if meta, ok := msg.Metadata.(*msgMeta); ok {
			meta.acks = acks
		} else {
			msg.Metadata = &msgMeta{acks: acks}
		}
		select {
		case p.ap.Input() <- msg:
		case <-ctx.Done():
			acks.settle(len(msgs)-i, nil)
			return fmt.Errorf("producing a batch of %d: %w", len(msgs), ctx.Err())
		}
	}
	select {
	case <-acks.done:
		return acks.err
	case <-ctx.Done():
		return fmt.Errorf("waiting for acks of a batch of %d: %w", len(msgs), ctx.Err())
	}
}

// DeadLetterMessage builds the dead letter of rec for topic (dlq.raw or
// dlq.normalized): the original key, value and headers plus kg-error,
// kg-source-topic, kg-source-partition, kg-source-offset and kg-worker. It goes
// to the producer's client's partition whatever the key says (a producer
// without a client spreads them by key). Send it with SendBatch (together with
// the batch's good output) or DeadLetter.
func (p *Producer) DeadLetterMessage(topic string, rec Record, worker string, reason error) *sarama.ProducerMessage {
	msg := DeadLetterMessage(topic, rec, worker, reason)
	msg.Metadata = &msgMeta{client: p.client, deadLetter: true}
	return msg
}

// DeadLetter writes one dead letter and waits for its acknowledgement.
func (p *Producer) DeadLetter(ctx context.Context, topic string, rec Record, worker string, reason error) error {
	if err := p.SendBatch(ctx, []*sarama.ProducerMessage{p.DeadLetterMessage(topic, rec, worker, reason)}); err != nil {
		return fmt.Errorf("dead-lettering %s/%d@%d to %s: %w", rec.Topic, rec.Partition, rec.Offset, topic, err)
	}
	return nil
}

// forwardMessage builds the forward of a misplaced record of client: the
// same topic, key, value (nil stays nil: a topology tombstone), timestamp and
// headers, plus HeaderForwardedFrom and HeaderForwardedBy. It goes to the
// client's partition.
func (p *Producer) forwardMessage(rec Record, client, by string) *sarama.ProducerMessage {
	msg := copyRecord(rec.Topic, rec)
	msg.Headers = append(msg.Headers,
		sarama.RecordHeader{Key: []byte(HeaderForwardedFrom), Value: []byte(forwardedFrom(rec))},
		sarama.RecordHeader{Key: []byte(HeaderForwardedBy), Value: []byte(by)},
	)
	msg.Metadata = &msgMeta{client: client, forward: true}
	return msg
}

// copyRecord is rec's key, value, timestamp and headers, unchanged, as a
// message for topic.
func copyRecord(topic string, rec Record) *sarama.ProducerMessage {
	msg := &sarama.ProducerMessage{Topic: topic, Timestamp: rec.Timestamp}
	if rec.Key != nil {
		msg.Key = sarama.ByteEncoder(rec.Key)
	}
	if rec.Value != nil {
		msg.Value = sarama.ByteEncoder(rec.Value)
	}
	for _, h := range rec.Headers {
		if h != nil {
			msg.Headers = append(msg.Headers, *h)
		}
	}
	return msg
}

// DeadLetterMessage is the producer-independent part of
// (*Producer).DeadLetterMessage, for tests and tools.
func DeadLetterMessage(topic string, rec Record, worker string, reason error) *sarama.ProducerMessage {
	msg := copyRecord(topic, rec)
	why := "unknown error"
	if reason != nil {
		why = reason.Error()
	}
	if len(why) > maxErrorHeader {
		why = why[:maxErrorHeader] + "..."
	}
	// A record that was dead-lettered before (replayed from a DLQ) carries
	// kg-* headers already: drop them, or the letter would have two kg-error
	// headers and readers would take the old one.
	msg.Headers = slices.DeleteFunc(msg.Headers, func(h sarama.RecordHeader) bool {
		return strings.HasPrefix(string(h.Key), "kg-")
	})
	if len(rec.Value) > MaxDeadLetterValue {
		sum := sha256.Sum256(rec.Value)
		msg.Value = sarama.ByteEncoder(rec.Value[:MaxDeadLetterValue])
		msg.Headers = append(msg.Headers,
			sarama.RecordHeader{Key: []byte(HeaderValueTruncated), Value: []byte(strconv.Itoa(len(rec.Value)))},
			sarama.RecordHeader{Key: []byte(HeaderValueSHA256), Value: []byte(hex.EncodeToString(sum[:]))})
	}
	msg.Headers = append(msg.Headers,
		sarama.RecordHeader{Key: []byte(HeaderError), Value: []byte(why)},
		sarama.RecordHeader{Key: []byte(HeaderSourceTopic), Value: []byte(rec.Topic)},
		sarama.RecordHeader{Key: []byte(HeaderSourcePartition), Value: []byte(strconv.Itoa(int(rec.Partition)))},
		sarama.RecordHeader{Key: []byte(HeaderSourceOffset), Value: []byte(strconv.FormatInt(rec.Offset, 10))},
		sarama.RecordHeader{Key: []byte(HeaderWorker), Value: []byte(worker)},
	)
	return msg
}

// Close flushes what is buffered and stops the producer.
func (p *Producer) Close() error {
	p.close.Do(func() { p.ap.AsyncClose() })
	<-p.done
	return nil
}
