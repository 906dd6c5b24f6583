package graph

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j/config"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// Run is `kg-worker graph-builder`: it prepares the client's graph (isolation
// check, database, constraints), then consumes the client's partition of the
// three input topics and writes each batch in one Neo4j transaction, committing
// offsets after the transaction commits. It returns nil when ctx ends, and an
// error when the configuration or a dead-letter write fails.
func Run(ctx context.Context, cfg Config, reg prometheus.Registerer, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("graph builder config: %w", err)
	}
	log = log.With("role", kafkaio.RoleGraphBuilder, "client", cfg.ClientID)
	driver, err := NewDriver(cfg)
	if err != nil {
		return err
	}
	defer driver.Close(context.WithoutCancel(ctx))

	// The graph is prepared first: a server that cannot do the isolation asked
	// for fails the start before anything touches Kafka.
	var prod *kafkaio.Producer
	dlq := func(ctx context.Context, rec kafkaio.Record, reason error) error {
		return prod.DeadLetter(ctx, cfg.Topics.DeadLetter, rec, kafkaio.RoleGraphBuilder, reason)
	}
	b, err := NewBuilder(driver, cfg.ClientID, cfg.databaseName(), cfg.Topics, DefaultRules(), dlq, reg, log)
	if err != nil {
		return err
	}
	if err := b.EnsureSchema(ctx, cfg.Isolation); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while waiting for Neo4j
		}
		return err
	}
	km := kafkaio.NewMetrics(reg, kafkaio.RoleGraphBuilder)
	prod, err = kafkaio.NewProducer(kafkaio.ProducerConfig{Brokers: cfg.KafkaBrokers, ClientID: cfg.ClientID, Logger: log, Metrics: km, Security: cfg.KafkaSecurity})
	if err != nil {
		return fmt.Errorf("starting the dead-letter producer: %w", err)
	}
	defer prod.Close()
	log.Info("graph ready", "isolation", cfg.Isolation, "database", displayDB(cfg.databaseName()))
	cons, err := kafkaio.NewConsumer(kafkaio.ConsumerConfig{
		Brokers: cfg.KafkaBrokers, Role: kafkaio.RoleGraphBuilder, ClientID: cfg.ClientID,
		Topics:   []string{cfg.Topics.Events, cfg.Topics.Logs, cfg.Topics.Topology},
		MaxBatch: cfg.BatchSize, Linger: cfg.BatchLinger, Logger: log, Metrics: km, Security: cfg.KafkaSecurity,
		// Strays on the client's partitions are forwarded with the same producer.
		Producer: prod, DeadLetterTopic: cfg.Topics.DeadLetter,
	})
	if err != nil {
		return err
	}
	return cons.Run(ctx, b.Handle)
}

// NewDriver connects a Neo4j driver for cfg (no I/O until first use). The
// driver's managed transactions retry transient errors for cfg.MaxRetryTime.
func NewDriver(cfg Config) (neo4j.DriverWithContext, error) {
	auth := neo4j.NoAuth()
	if cfg.Neo4jUser != "" || cfg.Neo4jPassword != "" {
		auth = neo4j.BasicAuth(cfg.Neo4jUser, cfg.Neo4jPassword, "")
	}
	driver, err := neo4j.NewDriverWithContext(cfg.Neo4jURI, auth, func(c *config.Config) {
		c.MaxTransactionRetryTime = cfg.MaxRetryTime
		c.SocketConnectTimeout = 5 * time.Second
		c.ConnectionAcquisitionTimeout = 30 * time.Second
	})
	if err != nil {
		return nil, fmt.Errorf("creating the Neo4j driver for %s: %w", cfg.Neo4jURI, err)
	}
	return driver, nil
}

func displayDB(db string) string {
	if db == "" {
		return "(server default)"
	}
	return db
}
