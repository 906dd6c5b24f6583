package kafkaio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/clientid"
)

// Worker roles; each is also the prefix of the role's consumer group id.
const (
	RoleEventNormalizer = "event-normalizer"
	RoleLogNormalizer   = "log-normalizer"
	RoleGraphBuilder    = "graph-builder"
)

// Record is one record of this client, as the handler sees it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Timestamp time.Time
	Headers   []*sarama.RecordHeader
}

// Handler processes a batch of this client's records from one topic-partition,
// in offset order (other clients' records are already skipped and counted,
// strays forwarded or dead-lettered).
// nil ⇒ the offsets of the whole batch are committed; an error ⇒ nothing is
// committed and Run returns the error, unless ctx was already done (shutdown or
// rebalance), in which case the batch is abandoned and redelivered later.
// Handler calls never overlap. A handler must return soon after ctx is done:
// shutdown and rebalances wait for it.
type Handler func(ctx context.Context, batch []Record) error

// ConsumerConfig configures a per-client consumer.
type ConsumerConfig struct {
	Brokers  []string
	Role     string // event-normalizer | log-normalizer | graph-builder (any non-empty name works)
	ClientID string
	Topics   []string
	// MaxBatch caps the records per handler call (default 500).
	MaxBatch int
	// Linger is how long a partial batch waits for more records (default 50ms).
	Linger time.Duration
	// InitialOffset is where a group without a committed offset starts
	// (default sarama.OffsetOldest: a new client's backlog is processed).
	InitialOffset int64
	// SessionTimeout is the group session timeout (default 10s): how long a
	// crashed member keeps its partition before a replacement takes over.
	SessionTimeout time.Duration
	// RebalanceTimeout is how long a member busy in the handler may hold up a
	// rebalance before the group goes on without it and fences it off: its
	// later commit is rejected (default 60s).
	RebalanceTimeout time.Duration
	// ShutdownGrace is how long a batch in progress may still finish (and be
	// committed) after shutdown or a rebalance began, before its ctx is
	// canceled (default 3s: inside Nomad's default 5s kill_timeout).
	ShutdownGrace time.Duration
	// Producer forwards strays (records on this partition that belong on
	// another client's) and dead-letters records whose key names no client;
	// nil: Run starts its own for the client. The normalizers and the graph
	// builder pass the producer they already have.
	Producer *Producer
	// DeadLetterTopic receives the strays no client can take; default
	// dlq.raw for the normalizers, dlq.normalized for other roles.
	DeadLetterTopic string
	Logger          *slog.Logger
	Metrics         *Metrics
	// Security is the SASL/TLS of the connection (SecurityFromEnv); the zero
	// value is plaintext.
	Security Security
}

// GroupID is the consumer group of a (role, client): "<role>-<client>".
func GroupID(role, clientID string) string { return role + "-" + clientID }

// Consumer reads ONLY the client's partition of each input topic, under the
// group "<role>-<client>", hands the client's records to the handler,
// forwards or dead-letters strays, and commits after both succeeded.
type Consumer struct {
	cfg     ConsumerConfig
	log     *slog.Logger
	started time.Time
}

// NewConsumer validates cfg and fills in defaults; it does not connect
// (Run does).
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("consumer config: no Kafka brokers")
	}
	if cfg.Role == "" {
		return nil, errors.New("consumer config: empty role")
	}
	if err := clientid.Validate(cfg.ClientID); err != nil {
		return nil, fmt.Errorf("consumer config: %w", err)
	}
	if len(cfg.Topics) == 0 {
		return nil, errors.New("consumer config: no topics")
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 50 * time.Millisecond
	}
	if cfg.InitialOffset == 0 {
		cfg.InitialOffset = sarama.OffsetOldest
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 3 * time.Second
	}
	if cfg.DeadLetterTopic == "" {
		cfg.DeadLetterTopic = TopicDLQNormalized
		if cfg.Role == RoleEventNormalizer || cfg.Role == RoleLogNormalizer {
			cfg.DeadLetterTopic = TopicDLQRaw
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("group", GroupID(cfg.Role, cfg.ClientID))
	return &Consumer{cfg: cfg, log: log, started: time.Now()}, nil
}

func (c *Consumer) saramaConfig() *sarama.Config {
	sc := NewSaramaConfig(c.cfg.Security, "kg-"+GroupID(c.cfg.Role, c.cfg.ClientID))
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{NewClientBalanceStrategy(c.cfg.ClientID, c.started)}
	sc.Consumer.Offsets.Initial = c.cfg.InitialOffset
	// Offsets are committed explicitly after the handler succeeded, never on a timer.
	sc.Consumer.Offsets.AutoCommit.Enable = false
	sc.Consumer.Return.Errors = true
	sc.Consumer.Group.Session.Timeout = c.cfg.SessionTimeout
	sc.Consumer.Group.Heartbeat.Interval = c.cfg.SessionTimeout / 4
	if c.cfg.RebalanceTimeout > 0 {
		sc.Consumer.Group.Rebalance.Timeout = c.cfg.RebalanceTimeout
	}
	sc.Consumer.MaxWaitTime = 250 * time.Millisecond
	return sc
}

// Run joins the group and consumes until ctx is done or the handler fails. On
// ctx cancel the batch in progress has ShutdownGrace to finish (and is then
// committed) or is abandoned uncommitted; Run leaves the group and returns
// nil. A handler error ends Run with that error, nothing of the batch
// committed.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	client, err := sarama.NewClient(c.cfg.Brokers, c.saramaConfig())
	if err != nil {
		return fmt.Errorf("connecting to Kafka at %v: %w", c.cfg.Brokers, err)
	}
	defer client.Close()
	group, err := sarama.NewConsumerGroupFromClient(GroupID(c.cfg.Role, c.cfg.ClientID), client)
	if err != nil {
		return fmt.Errorf("joining consumer group %s: %w", GroupID(c.cfg.Role, c.cfg.ClientID), err)
	}
	producer := c.cfg.Producer
	if producer == nil {
		if producer, err = NewProducer(ProducerConfig{Brokers: c.cfg.Brokers, ClientID: c.cfg.ClientID, Logger: c.log, Metrics: c.cfg.Metrics, Security: c.cfg.Security}); err != nil {
			group.Close()
			return fmt.Errorf("starting the stray producer: %w", err)
		}
		defer producer.Close()
	}
	router := &StrayRouter{Producer: producer, Worker: c.cfg.Role, By: c.cfg.Role + " " + c.cfg.ClientID, DeadLetterTopic: c.cfg.DeadLetterTopic,
		Counter: c.cfg.Metrics.strays(), Logger: c.log}
	runCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)

	var wg sync.WaitGroup
	wg.Go(func() {
		// Ends when group.Close closes the channel.
		for err := range group.Errors() {
			kind := "consumer"
			var ce *sarama.ConsumerError
			if errors.As(err, &ce) && (errors.Is(ce.Err, sarama.ErrIllegalGeneration) || errors.Is(ce.Err, sarama.ErrUnknownMemberId)) {
				kind = "fenced"
			}
			c.cfg.Metrics.error(kind)
			c.log.Warn("kafka consumer group error", "kind", kind, "err", err)
		}
	})

	gh := &groupHandler{c: c, h: h, fail: fail, client: client, router: router}
	for runCtx.Err() == nil {
		err := group.Consume(runCtx, c.cfg.Topics, gh)
		if runCtx.Err() != nil || errors.Is(err, sarama.ErrClosedConsumerGroup) {
			break
		}
		if err != nil {
			// Joining failed (coordinator moving, topic missing, broker down):
			// retry; Nomad sees a live but lagging worker, /metrics shows why.
			c.cfg.Metrics.error("join")
			c.log.Warn("consumer group session failed; rejoining", "err", err)
			select {
			case <-runCtx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	closeErr := group.Close()
	wg.Wait()
	if closeErr != nil {
		c.log.Warn("leaving consumer group", "err", closeErr)
	}
	var he *handlerError
	if errors.As(context.Cause(runCtx), &he) {
		return he.err
	}
	return nil
}

// handlerError marks a handler failure as the cause that ends Run.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

type groupHandler struct {
	c      *Consumer
	h      Handler
	fail   context.CancelCauseFunc
	client sarama.Client // topic metadata: a record's right partition depends on the partition count
	router *StrayRouter
	mu     sync.Mutex // serializes handler calls across claims
}

func (g *groupHandler) Setup(sess sarama.ConsumerGroupSession) error {
	claims := sess.Claims()
	if len(claims) == 0 {
		g.c.log.Info("joined consumer group as standby (another member holds the client's partitions)",
			"member", sess.MemberID(), "generation", sess.GenerationID())
	} else {
		g.c.log.Info("joined consumer group", "member", sess.MemberID(), "generation", sess.GenerationID(), "claims", claims)
	}
	return nil
}

func (g *groupHandler) Cleanup(sess sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim batches this client's records of one partition, skipping (and
// counting) other clients' records, collecting strays, and commits after each
// batch was handled and its strays forwarded or dead-lettered.
func (g *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	cfg := g.c.cfg
	topic, partition := claim.Topic(), claim.Partition()
	parts, err := g.client.Partitions(topic)
	if err != nil {
		// The group just joined with this topic's metadata, so this cannot
		// happen; should it, a restart beats a claim left unread.
		g.fail(&handlerError{fmt.Errorf("reading the partition count of %s: %w", topic, err)})
		return nil
	}
	placer := NewPlacer(cfg.ClientID)
	batch := make([]Record, 0, cfg.MaxBatch)
	var (
		strays  []Stray
		next    int64 = -1 // offset after the last record read; -1: nothing to mark
		skipped int
		linger  = time.NewTimer(time.Hour)
		waiting bool
	)
	linger.Stop()
	defer linger.Stop()

	flush := func() error {
		if waiting {
			linger.Stop()
			waiting = false
		}
		if next < 0 {
			return nil
		}
		cfg.Metrics.skipped(topic, skipped)
		skipped = 0
		if len(batch) > 0 || len(strays) > 0 {
			g.mu.Lock()
			hctx, cancel := graceContext(sess.Context(), cfg.ShutdownGrace)
			var err error
			if len(batch) > 0 {
				cfg.Metrics.batch(len(batch))
				if err = g.h(hctx, batch); err != nil {
					err = fmt.Errorf("handling %d records of %s/%d from offset %d: %w", len(batch), topic, partition, batch[0].Offset, err)
				}
			}
			if err == nil {
				err = g.router.Route(hctx, strays)
			}
			cancel()
			g.mu.Unlock()
			if err != nil {
				if sess.Context().Err() != nil {
					// Shutdown or rebalance: abandon, the next owner redelivers.
					g.c.log.Info("batch abandoned", "topic", topic, "partition", partition, "records", len(batch), "strays", len(strays), "err", err)
					return err
				}
				g.fail(&handlerError{err})
				return err
			}
			cfg.Metrics.in(topic, len(batch))
			batch, strays = batch[:0], strays[:0]
		}
		// The generation travels with the commit: a member that was fenced
		// off by a rebalance gets ILLEGAL_GENERATION and commits nothing.
		sess.MarkOffset(topic, partition, next, "")
		sess.Commit()
		cfg.Metrics.commit()
		next = -1
		return nil
	}

	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				// Session over: the partial batch is abandoned, not committed.
				return nil
			}
			cfg.Metrics.lag(topic, partition, claim.HighWaterMarkOffset()-msg.Offset-1)
			next = msg.Offset + 1
			rec := Record{
				Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset,
				Key: msg.Key, Value: msg.Value, Timestamp: msg.Timestamp, Headers: msg.Headers,
			}
			switch v := placer.Place(msg.Key, msg.Headers, partition, int32(len(parts))); v.Placement {
			case PlaceOwn:
				batch = append(batch, rec)
			case PlaceResident:
				skipped++
			default:
				strays = append(strays, Stray{Record: rec, Verdict: v})
			}
			if len(batch) >= cfg.MaxBatch || len(strays) >= cfg.MaxBatch || skipped >= 10*cfg.MaxBatch {
				if err := flush(); err != nil {
					return nil
				}
			} else if !waiting {
				linger.Reset(cfg.Linger)
				waiting = true
			}
		case <-linger.C:
			waiting = false
			if err := flush(); err != nil {
				return nil
			}
		case <-sess.Context().Done():
			return nil
		}
	}
}

// graceContext is done ShutdownGrace after parent is: a batch whose output is
// already in flight when SIGTERM or a rebalance arrives usually completes in
// milliseconds, and committing it spares a redelivery.
func graceContext(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		cancel()
	})
	return ctx, func() { stop(); cancel() }
}
