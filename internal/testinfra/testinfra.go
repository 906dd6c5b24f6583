// Package testinfra gives integration tests the addresses of the real Kafka and
// Neo4j that scripts/infra.sh starts.
//
// Outside `make test` a missing service skips the test with a message that says how
// to start it; under `make test` (KG_REQUIRE_INFRA=1) it fails instead, so CI can
// never pass by skipping.
package testinfra

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// KafkaBrokers returns the brokers of the test Kafka (KAFKA_BROKERS, default
// 127.0.0.1:9092), skipping or failing the test when none answers.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	brokers := strings.Split(env("KAFKA_BROKERS", "127.0.0.1:9092"), ",")
	require(t, "Kafka", brokers[0], "scripts/kafka.sh start")
	return brokers
}

// Neo4jURI returns the Bolt URI of the test Neo4j (NEO4J_URI, default
// bolt://127.0.0.1:7687), skipping or failing the test when none answers.
func Neo4jURI(t testing.TB) string {
	t.Helper()
	uri := env("NEO4J_URI", "bolt://127.0.0.1:7687")
	hostport := uri
	if i := strings.Index(uri, "://"); i >= 0 {
		hostport = uri[i+3:]
	}
	require(t, "Neo4j", hostport, "scripts/neo4j.sh start")
	return uri
}

func require(t testing.TB, what, addr, how string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		conn.Close()
		return
	}
	msg := what + " is not reachable at " + addr + " (" + err.Error() + "); start it with `" + how + "` or run `make test`"
	if os.Getenv("KG_REQUIRE_INFRA") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
