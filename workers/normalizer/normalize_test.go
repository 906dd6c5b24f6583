package normalizer

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// TestNormalizeRecord covers the per-record decision of both roles: the
// output key and topic, or the dead-letter reason.
func TestNormalizeRecord(t *testing.T) {
	fixed := func(id string) Func {
		return func(string, []byte) (string, []byte, error) { return id, []byte(`{"x":1}`), nil }
	}
	echo := func(prefix string) Func {
		return func(keyID string, raw []byte) (string, []byte, error) {
			if string(raw) == "bad" {
				return "", nil, errors.New("decoding: bad input")
			}
			if string(raw) == "panic" {
				var m map[string]int
				m["boom"]++ // nil map write: a real runtime panic
			}
			return prefix + "0123456789abcdef", append([]byte(keyID+":"), raw...), nil
		}
	}
	tests := []struct {
		name, role, key, value string
		fn                     Func
		wantKey, wantTopic     string
		wantReason             string
	}{
		{name: "event ok", role: kafkaio.RoleEventNormalizer, key: "af-9::event::u1", value: "{}", fn: echo("evt-"),
			wantKey: "af-9::evt-0123456789abcdef", wantTopic: "out"},
		{name: "log ok", role: kafkaio.RoleLogNormalizer, key: "af-9::log::u1", value: "{}", fn: echo("log-"),
			wantKey: "af-9::log-0123456789abcdef", wantTopic: "out"},
		{name: "event key on logs", role: kafkaio.RoleLogNormalizer, key: "af-9::event::u1", value: "{}", fn: echo("log-"),
			wantReason: `key type "event" on in, want "log"`},
		{name: "log key on events", role: kafkaio.RoleEventNormalizer, key: "af-9::log::u1", value: "{}", fn: echo("evt-"),
			wantReason: `key type "log" on in, want "event"`},
		{name: "topology key", role: kafkaio.RoleEventNormalizer, key: "af-9::topology::Pod/a/b", value: "{}", fn: echo("evt-"),
			wantReason: `key type "topology"`},
		{name: "bad key", role: kafkaio.RoleEventNormalizer, key: "af-9::event::a b", value: "{}", fn: echo("evt-"),
			wantReason: "parsing key: bad key"},
		{name: "normalizer error", role: kafkaio.RoleEventNormalizer, key: "af-9::event::u1", value: "bad", fn: echo("evt-"),
			wantReason: "normalizing: decoding: bad input"},
		{name: "normalizer panic", role: kafkaio.RoleLogNormalizer, key: "af-9::log::u1", value: "panic", fn: echo("log-"),
			wantReason: "normalizing: normalizer panicked: assignment to entry in nil map"},
		{name: "event id from a log normalizer", role: kafkaio.RoleEventNormalizer, key: "af-9::event::u1", value: "{}", fn: echo("log-"),
			wantReason: `invalid id "log-0123456789abcdef"`},
		{name: "garbage id", role: kafkaio.RoleEventNormalizer, key: "af-9::event::u1", value: "{}", fn: fixed("evt-XYZ"),
			wantReason: `invalid id "evt-XYZ"`},
		{name: "empty id", role: kafkaio.RoleLogNormalizer, key: "af-9::log::u1", value: "{}", fn: fixed(""),
			wantReason: `invalid id ""`},
		{name: "id smuggling a separator", role: kafkaio.RoleEventNormalizer, key: "af-9::event::u1", value: "{}", fn: fixed("evt-0123456789abcdef::x"),
			wantReason: "invalid id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &runner{
				cfg:  Config{Role: tt.role, Normalize: tt.fn, OutputTopic: "out"},
				spec: roles[tt.role],
				log:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			}
			msg, reason := n.normalize(kafkaio.Record{Topic: "in", Key: []byte(tt.key), Value: []byte(tt.value)})
			if tt.wantReason != "" {
				if reason == nil || !strings.Contains(reason.Error(), tt.wantReason) {
					t.Fatalf("reason %v, want it to contain %q", reason, tt.wantReason)
				}
				return
			}
			if reason != nil {
				t.Fatalf("dead-lettered: %v", reason)
			}
			k, _ := msg.Key.Encode()
			if string(k) != tt.wantKey || msg.Topic != tt.wantTopic {
				t.Fatalf("output %s %s, want %s %s", msg.Topic, k, tt.wantTopic, tt.wantKey)
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Role: "graph-builder", Normalize: func(string, []byte) (string, []byte, error) { return "", nil, nil }},
		{Role: kafkaio.RoleEventNormalizer},
		{Role: kafkaio.RoleEventNormalizer, Normalize: func(string, []byte) (string, []byte, error) { return "", nil, nil }, ClientID: "Bad!", Brokers: []string{"127.0.0.1:1"}},
	} {
		if err := Run(t.Context(), cfg); err == nil {
			t.Errorf("Run(%+v) succeeded, want a config error", cfg)
		}
	}
}
