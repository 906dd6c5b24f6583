package rca

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kgrca/kgplane/workers/graph"
)

// Config says where the graphs are; the same settings as the graph builder's
// (docs/graph.md), read by kgctl and the control plane.
type Config struct {
	Neo4jURI      string // NEO4J_URI (default bolt://127.0.0.1:7687)
	Neo4jUser     string // NEO4J_USERNAME
	Neo4jPassword string // NEO4J_PASSWORD
	// Isolation (NEO4J_ISOLATION): shared (default), one database for every
	// client (NEO4J_SHARED_DATABASE, default the server's); or database, one
	// database per client named by the client id (the builders' default
	// NEO4J_DATABASE).
	Isolation      graph.Isolation
	SharedDatabase string
}

// ConfigFrom reads the settings through getenv and checks them.
func ConfigFrom(getenv func(string) string) (Config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Neo4jURI: get("NEO4J_URI", "bolt://127.0.0.1:7687"), Neo4jUser: getenv("NEO4J_USERNAME"),
		Neo4jPassword: getenv("NEO4J_PASSWORD"), Isolation: graph.Isolation(get("NEO4J_ISOLATION", string(graph.IsolationShared))),
		SharedDatabase: get("NEO4J_SHARED_DATABASE", ""),
	}
	if c.Isolation != graph.IsolationShared && c.Isolation != graph.IsolationDatabase {
		return c, fmt.Errorf("NEO4J_ISOLATION=%q: want %q or %q", c.Isolation, graph.IsolationShared, graph.IsolationDatabase)
	}
	return c, nil
}

// Open connects an Engine (no I/O until the first question) and returns it
// with the function that closes its driver.
func Open(c Config, s Settings) (*Engine, func(context.Context) error, error) {
	driver, err := graph.NewDriver(graph.Config{Neo4jURI: c.Neo4jURI, Neo4jUser: c.Neo4jUser, Neo4jPassword: c.Neo4jPassword,
		MaxRetryTime: 5 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	if c.Isolation == graph.IsolationDatabase {
		s.Database = func(client string) string { return client }
	} else {
		db := c.SharedDatabase
		s.Database = func(string) string { return db }
	}
	return NewEngine(driver, s), driver.Close, nil
}
