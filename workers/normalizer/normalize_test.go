package normalizer

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/kgrca/kgplane/workers/eventnorm"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/lognorm"
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
		wantValue              string // when set: the output value
		wantReason             string
	}{
		{name: "event ok", role: kafkaio.RoleEventNormalizer, key: "af-9::event::u1", value: "{}", fn: echo("evt-"),
			wantKey: "af-9::evt-0123456789abcdef", wantTopic: "out"},
		{name: "log ok", role: kafkaio.RoleLogNormalizer, key: "af-9::log::u1", value: "{}", fn: echo("log-"),
			wantKey: "af-9::log-0123456789abcdef", wantTopic: "out"},
		{name: "event, client id alone", role: kafkaio.RoleEventNormalizer, key: "af-9", value: "{}", fn: echo("evt-"),
			wantKey: "af-9::evt-0123456789abcdef", wantTopic: "out", wantValue: ":{}"},
		{name: "log, client id alone", role: kafkaio.RoleLogNormalizer, key: "af-9", value: "{}", fn: echo("log-"),
			wantKey: "af-9::log-0123456789abcdef", wantTopic: "out", wantValue: ":{}"},
		{name: "event ok passes the key uid", role: kafkaio.RoleEventNormalizer, key: "af-9::event::u1", value: "{}", fn: echo("evt-"),
			wantKey: "af-9::evt-0123456789abcdef", wantTopic: "out", wantValue: "u1:{}"},
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
			rec := kafkaio.Record{Topic: "in", Key: []byte(tt.key), Value: []byte(tt.value)}
			msg, reason := n.normalize(rec)
			// Output is the same decision, as the soak's reference run takes it.
			outKey, outValue, outErr := Output(tt.role, n.safeNormalize, rec)
			if (outErr == nil) != (reason == nil) || (outErr != nil && outErr.Error() != reason.Error()) {
				t.Errorf("Output says %v, the worker %v", outErr, reason)
			} else if outErr == nil {
				k, _ := msg.Key.Encode()
				v, _ := msg.Value.Encode()
				if outKey != string(k) || string(outValue) != string(v) {
					t.Errorf("Output gives %s=%s, the worker %s=%s", outKey, outValue, k, v)
				}
			}
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
			if v, _ := msg.Value.Encode(); tt.wantValue != "" && string(v) != tt.wantValue {
				t.Fatalf("output value %q, want %q (the key id handed to the normalizer, then the input)", v, tt.wantValue)
			}
		})
	}
}

func TestOutputRefusesAnUnknownRole(t *testing.T) {
	if _, _, err := Output("graph-builder", eventnorm.Normalize, kafkaio.Record{Key: []byte("af-9::event::u1"), Value: []byte("{}")}); err == nil {
		t.Fatal("Output accepted a role that normalizes nothing")
	}
}

// TestClientOnlyKeysDeriveIDsFromTheRecord runs the real normalizers on keys
// that are the client id alone: an event's id comes from its metadata.uid (the
// same id as under <client>::event::<metadata.uid>), a log's from its pod uid
// and container (docs/normalization.md), deterministically; an event with no
// uid anywhere is dead-lettered.
func TestClientOnlyKeysDeriveIDsFromTheRecord(t *testing.T) {
	event := []byte(`{"metadata":{"uid":"u-1","creationTimestamp":"2026-11-20T10:00:00Z"},"involvedObject":{"kind":"Pod","namespace":"shop","name":"web-1"},` +
		`"reason":"BackOff","message":"Back-off restarting failed container","type":"Warning","count":2,"lastTimestamp":"2026-11-20T10:00:05Z"}`)
	noUID := []byte(strings.Replace(string(event), `"uid":"u-1",`, "", 1))
	logLine := []byte(`{"message":"dial tcp 10.0.0.7:5432: connect: connection refused","timestamp":"2026-11-20T10:00:00.5Z",` +
		`"kubernetes":{"pod_namespace":"shop","pod_name":"web-1","pod_uid":"p-1","container_name":"app","pod_node_name":"node-1"}}`)
	run := func(role string, fn Func, key string, value []byte) (string, string, error) {
		n := &runner{cfg: Config{Role: role, Normalize: fn, OutputTopic: "out"}, spec: roles[role], log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		msg, reason := n.normalize(kafkaio.Record{Topic: "in", Key: []byte(key), Value: value})
		if reason != nil {
			return "", "", reason
		}
		k, _ := msg.Key.Encode()
		v, _ := msg.Value.Encode()
		return string(k), string(v), nil
	}

	bareKey, bareValue, err := run(kafkaio.RoleEventNormalizer, eventnorm.Normalize, "af-9", event)
	if err != nil {
		t.Fatal(err)
	}
	fullKey, fullValue, err := run(kafkaio.RoleEventNormalizer, eventnorm.Normalize, "af-9::event::u-1", event)
	if err != nil {
		t.Fatal(err)
	}
	if want := "af-9::" + eventnorm.EventID("u-1", 2); bareKey != want || fullKey != want || bareValue != fullValue {
		t.Fatalf("event keyed af-9 → %s, keyed af-9::event::u-1 → %s; want both %s with the same value", bareKey, fullKey, want)
	}
	if _, _, err := run(kafkaio.RoleEventNormalizer, eventnorm.Normalize, "af-9", noUID); err == nil ||
		!strings.Contains(err.Error(), "event has no metadata.uid and its Kafka key has no uid") {
		t.Fatalf("event without a uid keyed af-9: %v, want a dead letter saying no uid", err)
	}

	logKey, logValue, err := run(kafkaio.RoleLogNormalizer, lognorm.Normalize, "af-9", logLine)
	if err != nil {
		t.Fatal(err)
	}
	if want := "af-9::" + lognorm.LogID("p-1/app", "2026-11-20T10:00:00.5Z", "dial tcp 10.0.0.7:5432: connect: connection refused"); logKey != want {
		t.Fatalf("log keyed af-9 → %s, want %s (pod uid/container stands in for the key uid)", logKey, want)
	}
	if againKey, againValue, _ := run(kafkaio.RoleLogNormalizer, lognorm.Normalize, "af-9", logLine); againKey != logKey || againValue != logValue {
		t.Fatalf("the same log keyed af-9 twice: %s then %s, want byte-identical output", logKey, againKey)
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
