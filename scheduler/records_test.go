package scheduler

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kgrca/kgplane/internal/testutil"
)

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBadInputNeverReachesNomad feeds malformed and unwanted records through the
// controller: none may cause a Nomad call, each is logged and counted with its reason.
func TestBadInputNeverReachesNomad(t *testing.T) {
	h := newHarness(t, nil, time.Minute)
	h.ctrl.CaughtUp()
	h.register("known-1")
	testutil.Eventually(t, 5*time.Second, "known client's jobs", func() bool { return len(h.fake.JobIDs()) == 3 })
	h.fake.ResetCalls()

	long := "a" + strings.Repeat("b", 63)
	cases := []struct {
		name   string
		topic  string // registry | heartbeat
		key    string
		value  []byte
		metric string // rejected | ignored | anomalies
		reason string
	}{
		{"invalid JSON", "registry", "bad-json", []byte(`{"client_id": "bad-json"`), "rejected", "invalid_json"},
		{"JSON array", "registry", "bad-arr", []byte(`["bad-arr"]`), "rejected", "invalid_json"},
		{"empty value", "registry", "empty-val", []byte{}, "rejected", "empty_value"},
		{"key/payload mismatch", "registry", "mis-a", regValue("mis-b"), "rejected", "key_mismatch"},
		{"payload without client_id", "registry", "no-id", []byte(`{"cluster_name":"x"}`), "rejected", "missing_client_id"},
		{"uppercase id", "registry", "Af-9", regValue("Af-9"), "rejected", "invalid_client_id"},
		{"underscore id", "registry", "af_9", regValue("af_9"), "rejected", "invalid_client_id"},
		{"id with ::", "registry", "af::9", regValue("af::9"), "rejected", "invalid_client_id"},
		{"id with ..", "registry", "af..9", regValue("af..9"), "rejected", "invalid_client_id"},
		{"id with a space", "registry", "af 9", regValue("af 9"), "rejected", "invalid_client_id"},
		{"unicode id", "registry", "afé9", regValue("afé9"), "rejected", "invalid_client_id"},
		{"64-character id", "registry", long, regValue(long), "rejected", "invalid_client_id"},
		{"empty id", "registry", "", regValue(""), "rejected", "invalid_client_id"},
		{"oversized value", "registry", "huge", []byte(`{"client_id":"huge","metadata":{"x":"` + strings.Repeat("x", 70<<10) + `"}}`), "rejected", "too_large"},
		{"heartbeat of unknown client", "heartbeat", "nobody", hbValue("nobody"), "ignored", "unknown_client"},
		{"heartbeat key/payload mismatch", "heartbeat", "known-1", hbValue("other"), "rejected", "key_mismatch"},
		{"heartbeat invalid JSON", "heartbeat", "known-1", []byte("not json"), "rejected", "invalid_json"},
		{"heartbeat invalid id", "heartbeat", "BAD", hbValue("BAD"), "rejected", "invalid_client_id"},
		{"tombstone of unknown client", "registry", "never-seen", nil, "ignored", "tombstone_unknown_client"},
		{"duplicate registration", "registry", "known-1", regValue("known-1"), "ignored", "duplicate_registration"},
		{"heartbeat timestamp far in the future", "heartbeat", "known-1",
			[]byte(`{"client_id":"known-1","timestamp":"2099-01-01T00:00:00Z"}`), "anomalies", "client_clock_skew"},
		{"heartbeat timestamp far in the past", "heartbeat", "known-1",
			[]byte(`{"client_id":"known-1","timestamp":"2001-01-01T00:00:00Z"}`), "anomalies", "client_clock_skew"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name, labels := "kgplane_records_"+c.metric+"_total", []string{"topic", c.topic, "reason", c.reason}
			if c.metric == "anomalies" {
				name, labels = "kgplane_heartbeat_anomalies_total", []string{"kind", c.reason}
			}
			before := h.counter(name, labels...)
			if c.topic == "registry" {
				h.ctrl.HandleRegistry([]byte(c.key), c.value, time.Now(), h.nextOffset())
			} else {
				h.ctrl.HandleHeartbeat([]byte(c.key), c.value, time.Now(), h.nextOffset())
			}
			if got := h.counter(name, labels...); got != before+1 {
				t.Errorf("%s{reason=%s} went %v → %v, want +1", name, c.reason, before, got)
			}
			if c.metric == "rejected" && !strings.Contains(h.logs.String(), c.reason) {
				t.Errorf("reason %s not logged", c.reason)
			}
		})
	}
	// Give any wrongly queued work the chance to reach Nomad, then check none did.
	testutil.Eventually(t, 5*time.Second, "queue drained", h.settled)
	for _, c := range h.fake.Calls() {
		if c.Op() != "list" {
			t.Errorf("bad input reached Nomad: %s %s %s", c.Method, c.Path, c.Body)
		}
	}
	if ids := h.fake.JobIDs(); len(ids) != 3 {
		t.Errorf("jobs changed: %v", ids)
	}
	// A far-future Kafka timestamp does not extend a client's life past now.
	h.ctrl.HandleHeartbeat([]byte("known-1"), hbValue("known-1"), time.Now().Add(24*time.Hour), h.nextOffset())
	cl := h.client("known-1")
	if cl.LastHeartbeat.After(time.Now()) {
		t.Errorf("last heartbeat %s is in the future", cl.LastHeartbeat)
	}
}

func TestDecodeRegistration(t *testing.T) {
	r, err := DecodeRegistration([]byte("af-9"), []byte(`{"client_id":"af-9","cluster_name":"prod","k8s_version":"1.28","metadata":{"region":"us-east"}}`))
	if err != nil || r.ClusterName != "prod" || string(r.Metadata) != `{"region":"us-east"}` {
		t.Fatalf("got %+v, %v", r, err)
	}
	// Metadata of any JSON type is kept as sent (it was refused unless all strings).
	r, err = DecodeRegistration([]byte("af-9"), []byte(`{"client_id":"af-9","metadata":{"nodes": 12, "gpu": true, "zones": ["a","b"], "owner": {"team": "sre"}}}`))
	if err != nil || string(r.Metadata) != `{"nodes": 12, "gpu": true, "zones": ["a","b"], "owner": {"team": "sre"}}` {
		t.Fatalf("metadata of mixed types: %+v, %v", r, err)
	}
	for _, bad := range []string{`"a string"`, `[1,2]`, `12`} {
		if _, err := DecodeRegistration([]byte("af-9"), []byte(`{"client_id":"af-9","metadata":`+bad+`}`)); RejectReason(err) != "invalid_metadata" {
			t.Errorf("metadata %s: %v, want invalid_metadata", bad, err)
		}
	}
	r, err = DecodeRegistration([]byte("af-9"), nil)
	if err != nil || r != nil {
		t.Fatalf("tombstone: got %+v, %v", r, err)
	}
}

func TestSeenAt(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		record time.Time
		want   time.Time
	}{
		{"record time used", now.Add(-10 * time.Second), now.Add(-10 * time.Second)},
		{"future capped at receipt", now.Add(time.Hour), now},
		{"missing timestamp", time.Time{}, now},
	}
	for _, c := range cases {
		if got := SeenAt(c.record, now); !got.Equal(c.want) {
			t.Errorf("%s: SeenAt = %v, want %v", c.name, got, c.want)
		}
	}
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add([]byte("af-9"), []byte(`{"client_id":"af-9","cluster_name":"x"}`))
	f.Add([]byte("af-9"), []byte(`{"client_id":"af-9","timestamp":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte("AF"), []byte(`null`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		r, err := DecodeRegistration(key, value)
		if err == nil && r != nil && r.ClientID != string(key) {
			t.Fatalf("accepted registration with payload id %q under key %q", r.ClientID, key)
		}
		h, err := DecodeHeartbeat(key, value)
		if err == nil && h.ClientID != string(key) {
			t.Fatalf("accepted heartbeat with id %q under key %q", h.ClientID, key)
		}
		if err != nil && RejectReason(err) == "other" {
			t.Fatalf("rejection without a reason: %v", err)
		}
	})
}
