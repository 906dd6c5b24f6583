package graph

import (
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnv(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cfg, err := ConfigFrom(env("CLIENT_ID", "af-9"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database != "af-9" || cfg.Isolation != IsolationShared || cfg.BatchSize != 500 || cfg.BatchLinger != 200*time.Millisecond ||
		cfg.Neo4jURI != "bolt://127.0.0.1:7687" || len(cfg.KafkaBrokers) != 1 || cfg.databaseName() != "" || cfg.Topics != DefaultTopics() {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, err = ConfigFrom(env("CLIENT_ID", "af-9", "NEO4J_ISOLATION", "database", "NEO4J_DATABASE", "graph-af-9",
		"GRAPH_BATCH_SIZE", "50", "GRAPH_BATCH_LINGER", "1s", "KAFKA_BROKERS", "a:1, b:2"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.databaseName() != "graph-af-9" || cfg.BatchSize != 50 || cfg.BatchLinger != time.Second || len(cfg.KafkaBrokers) != 2 {
		t.Fatalf("settings: %+v", cfg)
	}
	for _, c := range []struct {
		env  []string
		want string
	}{
		{nil, "CLIENT_ID"},
		{[]string{"CLIENT_ID", "Bad_Id"}, "CLIENT_ID"},
		{[]string{"CLIENT_ID", "af-9", "NEO4J_ISOLATION", "per-client"}, "NEO4J_ISOLATION"},
		{[]string{"CLIENT_ID", "af-9", "NEO4J_ISOLATION", "database", "NEO4J_DATABASE", "x"}, "NEO4J_DATABASE"},
		{[]string{"CLIENT_ID", "af-9", "GRAPH_BATCH_SIZE", "lots"}, "GRAPH_BATCH_SIZE"},
		{[]string{"CLIENT_ID", "af-9", "GRAPH_BATCH_SIZE", "0"}, "GRAPH_BATCH_SIZE"},
		{[]string{"CLIENT_ID", "af-9", "GRAPH_BATCH_LINGER", "soon"}, "GRAPH_BATCH_LINGER"},
	} {
		if _, err := ConfigFrom(env(c.env...)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("env %q: err %v, want it to name %s", c.env, err, c.want)
		}
	}
}
