package graphload

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kgrca/kgplane/scenario"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

func TestLoadNormalizesInOrder(t *testing.T) {
	ev, _ := json.Marshal(map[string]any{"kind": "Event", "metadata": map[string]any{"uid": "u1"},
		"involvedObject": map[string]any{"kind": "Pod", "namespace": "shop", "name": "cart-1"},
		"reason":         "BackOff", "message": "Back-off restarting failed container", "type": "Warning",
		"lastTimestamp": "2026-11-27T08:00:00Z", "count": 1})
	lg, _ := json.Marshal(map[string]any{"time": "2026-11-27T08:00:01Z", "log": "ERROR boom",
		"kubernetes": map[string]any{"pod_name": "cart-1", "namespace_name": "shop"}})
	topo, _ := json.Marshal(map[string]any{"kind": "Pod", "namespace": "shop", "name": "cart-1"})
	f := &scenario.File{Records: []scenario.Record{
		{Topic: scenario.TopicTopology, Key: "Pod/shop/cart-1", Value: topo},
		{Topic: scenario.TopicEvents, Key: "u1", Value: ev},
		{Topic: scenario.TopicEvents, Key: "u2", Value: []byte(`{"kind":"Event"}`)}, // no reason: refused
		{Topic: scenario.TopicLogs, Key: "l1", Value: lg},
		{Topic: scenario.TopicTopology, Key: "Pod/shop/cart-1"}, // a tombstone
	}}
	var got []kafkaio.Record
	var batches int
	st, err := Load(context.Background(), func(_ context.Context, b []kafkaio.Record) error {
		batches++
		got = append(got, b...)
		return nil
	}, "acme", f, 3)
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 4 || st.Rejected != 1 || batches != 2 || len(got) != 4 {
		t.Fatalf("stats %+v, %d batches, %d records", st, batches, len(got))
	}
	want := []struct{ topic, keyPrefix string }{
		{kafkaio.TopicTopology, "acme::topology::Pod/shop/cart-1"},
		{kafkaio.TopicEventsNormalized, "acme::evt-"},
		{kafkaio.TopicLogsNormalized, "acme::log-"},
		{kafkaio.TopicTopology, "acme::topology::Pod/shop/cart-1"},
	}
	for i, w := range want {
		if got[i].Topic != w.topic || !strings.HasPrefix(string(got[i].Key), w.keyPrefix) {
			t.Errorf("record %d: %s %s, want %s %s…", i, got[i].Topic, got[i].Key, w.topic, w.keyPrefix)
		}
		if _, err := kafkaio.ParseKey(got[i].Key); err != nil {
			t.Errorf("record %d: key %q: %v", i, got[i].Key, err)
		}
		if got[i].Timestamp.IsZero() || i > 0 && got[i].Timestamp.Before(got[i-1].Timestamp) {
			t.Errorf("record %d: timestamp %v out of order", i, got[i].Timestamp)
		}
	}
	if got[3].Value != nil {
		t.Errorf("the tombstone has a value: %s", got[3].Value)
	}
	var ne map[string]any
	if err := json.Unmarshal(got[1].Value, &ne); err != nil || ne["reason"] != "BackOff" {
		t.Errorf("normalized event %s: %v", got[1].Value, err)
	}
}
