package publish

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kgrca/kgplane/internal/testutil"

	"github.com/kgrca/kgplane/scenario"
)

func TestMessageFullKeysAndTombstones(t *testing.T) {
	topics := Topics{Events: "ev", Logs: "lg", Topology: "tp"}
	cases := []struct {
		rec       scenario.Record
		topic     string
		key       string
		tombstone bool
	}{
		{scenario.Record{Topic: scenario.TopicEvents, Key: "u1", Value: []byte(`{}`)}, "ev", "af-9::event::u1", false},
		{scenario.Record{Topic: scenario.TopicLogs, Key: "l1", Value: []byte(`{}`)}, "lg", "af-9::log::l1", false},
		{scenario.Record{Topic: scenario.TopicTopology, Key: "Node//n1", Value: []byte(`{}`)}, "tp", "af-9::topology::Node//n1", false},
		{scenario.Record{Topic: scenario.TopicTopology, Key: "Pod/shop/p"}, "tp", "af-9::topology::Pod/shop/p", true},
	}
	for _, c := range cases {
		msg, err := Message("af-9", topics, c.rec)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := msg.Key.Encode()
		if msg.Topic != c.topic || string(k) != c.key || (msg.Value == nil) != c.tombstone {
			t.Errorf("%+v: got topic %s key %s value %v", c.rec, msg.Topic, k, msg.Value)
		}
	}
	if _, err := Message("af-9", topics, scenario.Record{Topic: "raw.k8s.alerts", Key: "x"}); err == nil || !strings.Contains(err.Error(), "unknown data topic") {
		t.Errorf("unknown topic: %v", err)
	}
}

func TestNewRefusesBadConfigBeforeConnecting(t *testing.T) {
	if _, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Client: "Bad_Id"}); err == nil || !strings.Contains(err.Error(), "invalid client id") {
		t.Errorf("bad id: %v", err)
	}
	if _, err := New(Config{Client: "af-9"}); err == nil || !strings.Contains(err.Error(), "no Kafka brokers") {
		t.Errorf("no brokers: %v", err)
	}
}

// An agent started while Kafka is down keeps trying (and says so) until
// its context ends; it does not give up at the first refusal.
func TestConnectWaitsForKafka(t *testing.T) {
	var logs testutil.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	_, err := Connect(ctx, Config{Brokers: []string{"127.0.0.1:1"}, Client: "af-9"}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect = %v, want the context's deadline", err)
	}
	if n := strings.Count(logs.String(), "Kafka is not reachable; retrying"); n < 2 {
		t.Errorf("%d retries logged, want at least 2:\n%s", n, logs.String())
	}
}
