// Package graph is the graph builder worker (`kg-worker graph-builder`): it reads a
// client's normalized events, normalized logs and topology from Kafka and writes the
// client's fault propagation graph (FPG) to Neo4j. See docs/graph.md.
package graph

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kgrca/kgplane/clientid"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// Isolation says how clients are kept apart in Neo4j.
type Isolation string

const (
	// IsolationShared: one database (Neo4j Community has exactly one user
	// database); every node carries the client id in its key and in the
	// uniqueness constraints.
	IsolationShared Isolation = "shared"
	// IsolationDatabase: one database per client, named by NEO4J_DATABASE and
	// created when missing (Neo4j Enterprise or Aura).
	IsolationDatabase Isolation = "database"
)

// Config is the graph builder's configuration. ConfigFromEnv reads it from the
// environment the Nomad job template sets.
type Config struct {
	ClientID     string   // CLIENT_ID (required)
	KafkaBrokers []string // KAFKA_BROKERS, comma separated (default 127.0.0.1:9092)
	// KafkaSecurity is the SASL/TLS of the Kafka connections (KAFKA_SASL_*, KAFKA_TLS*).
	KafkaSecurity kafkaio.Security

	Neo4jURI      string    // NEO4J_URI (default bolt://127.0.0.1:7687)
	Neo4jUser     string    // NEO4J_USERNAME (Neo4j's own name for it, as cypher-shell reads it); empty with an empty password = no authentication
	Neo4jPassword string    // NEO4J_PASSWORD
	Database      string    // NEO4J_DATABASE (default CLIENT_ID); the client's database in "database" isolation
	Isolation     Isolation // NEO4J_ISOLATION: shared (default) or database
	// SharedDatabase is the one database all clients share in "shared" isolation
	// (NEO4J_SHARED_DATABASE); empty means the server's default database.
	SharedDatabase string

	BatchSize   int           // GRAPH_BATCH_SIZE (default 500): records per Neo4j transaction at most
	BatchLinger time.Duration // GRAPH_BATCH_LINGER (default 200ms): how long a batch waits to fill

	// Topics are the input and dead-letter topics (DefaultTopics; not an env
	// setting: tests point them at private topics).
	Topics Topics

	// MaxRetryTime bounds the driver's own retries of one transaction
	// (GRAPH_TX_RETRY_TIME, default 15s); after it the builder backs off and
	// tries again, forever, without committing offsets.
	MaxRetryTime time.Duration
}

// Defaults of the settings above.
const (
	DefaultBatchSize    = 500
	DefaultBatchLinger  = 200 * time.Millisecond
	DefaultMaxRetryTime = 15 * time.Second
)

// ConfigFromEnv reads the configuration from the environment and validates it.
func ConfigFromEnv() (Config, error) {
	return ConfigFrom(os.Getenv)
}

// ConfigFrom reads the configuration through getenv (os.Getenv, or a test's
// map) and validates it.
func ConfigFrom(getenv func(string) string) (Config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	cfg := Config{
		ClientID:       get("CLIENT_ID", ""),
		KafkaBrokers:   kafkaio.ParseBrokers(get("KAFKA_BROKERS", kafkaio.DefaultBrokers(getenv))),
		Neo4jURI:       get("NEO4J_URI", "bolt://127.0.0.1:7687"),
		Neo4jUser:      getenv("NEO4J_USERNAME"),
		Neo4jPassword:  getenv("NEO4J_PASSWORD"),
		Isolation:      Isolation(get("NEO4J_ISOLATION", string(IsolationShared))),
		SharedDatabase: get("NEO4J_SHARED_DATABASE", ""),
		BatchSize:      DefaultBatchSize,
		BatchLinger:    DefaultBatchLinger,
		MaxRetryTime:   DefaultMaxRetryTime,
		Topics:         DefaultTopics(),
	}
	cfg.Database = get("NEO4J_DATABASE", cfg.ClientID)
	var errs []error
	sec, err := kafkaio.SecurityFromEnv(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.KafkaSecurity = sec
	if v := getenv("GRAPH_BATCH_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("GRAPH_BATCH_SIZE=%q: %w", v, err))
		}
		cfg.BatchSize = n
	}
	for _, d := range []struct {
		env string
		dst *time.Duration
	}{{"GRAPH_BATCH_LINGER", &cfg.BatchLinger}, {"GRAPH_TX_RETRY_TIME", &cfg.MaxRetryTime}} {
		if v := getenv(d.env); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", d.env, v, err))
			}
			*d.dst = x
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// Validate checks the configuration and says which setting is wrong.
func (c Config) Validate() error {
	var errs []error
	if err := clientid.Validate(c.ClientID); err != nil {
		errs = append(errs, fmt.Errorf("CLIENT_ID: %w", err))
	}
	if len(c.KafkaBrokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS: no broker"))
	}
	if c.Neo4jURI == "" {
		errs = append(errs, errors.New("NEO4J_URI: empty"))
	}
	switch c.Isolation {
	case IsolationShared:
	case IsolationDatabase:
		// The database name goes into CREATE DATABASE; the client id grammar is
		// also a valid Neo4j database name, so reuse it.
		if err := clientid.Validate(c.Database); err != nil {
			errs = append(errs, fmt.Errorf("NEO4J_DATABASE: %w", err))
		}
	default:
		errs = append(errs, fmt.Errorf("NEO4J_ISOLATION=%q: want %q or %q", c.Isolation, IsolationShared, IsolationDatabase))
	}
	if c.BatchSize < 1 || c.BatchSize > 10000 {
		errs = append(errs, fmt.Errorf("GRAPH_BATCH_SIZE=%d: want 1..10000", c.BatchSize))
	}
	if c.BatchLinger < 0 || c.BatchLinger > time.Minute {
		errs = append(errs, fmt.Errorf("GRAPH_BATCH_LINGER=%s: want 0..1m", c.BatchLinger))
	}
	if c.Topics.Events == "" || c.Topics.Logs == "" || c.Topics.Topology == "" || c.Topics.DeadLetter == "" {
		errs = append(errs, errors.New("topics: every input and the dead-letter topic must be named"))
	}
	if c.MaxRetryTime <= 0 {
		errs = append(errs, fmt.Errorf("GRAPH_TX_RETRY_TIME=%s: want > 0", c.MaxRetryTime))
	}
	return errors.Join(errs...)
}

// databaseName is the database the builder writes to.
func (c Config) databaseName() string {
	if c.Isolation == IsolationDatabase {
		return c.Database
	}
	return c.SharedDatabase
}
