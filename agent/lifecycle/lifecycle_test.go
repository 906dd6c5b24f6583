package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/scheduler"
)

// recorder is a Sender that fails its first failN sends.
type recorder struct {
	mu     sync.Mutex
	failN  int
	calls  int
	topics []string
	values [][]byte
}

func (r *recorder) Send(ctx context.Context, topic string, value []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.failN {
		return errors.New("kafka: client has run out of available brokers to talk to")
	}
	r.topics = append(r.topics, topic)
	r.values = append(r.values, value)
	return nil
}

func (r *recorder) sent() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.values...)
}

func (r *recorder) attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func TestRegisterIsWhatTheControlPlaneAccepts(t *testing.T) {
	var r recorder
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	reg := Registration{ClientID: "af-9", ClusterName: "prod-eu", K8sVersion: "v1.31.4", RegisteredAt: at,
		Metadata: map[string]string{"agent": "kg-agent run"}}
	if err := Register(context.Background(), &r, "cluster.registry", reg); err != nil {
		t.Fatal(err)
	}
	got, err := scheduler.DecodeRegistration([]byte("af-9"), r.values[0])
	if err != nil {
		t.Fatalf("the control plane refuses the registration: %v", err)
	}
	var meta map[string]string
	if err := json.Unmarshal(got.Metadata, &meta); err != nil {
		t.Fatalf("registration metadata %s: %v", got.Metadata, err)
	}
	if got.ClusterName != "prod-eu" || got.K8sVersion != "v1.31.4" || got.RegisteredAt != "2026-11-30T09:00:00Z" || meta["agent"] != "kg-agent run" {
		t.Errorf("decoded %+v", got)
	}
	for _, field := range []string{`"client_id"`, `"cluster_name"`, `"k8s_version"`, `"registered_at"`, `"metadata"`} {
		if !strings.Contains(string(r.values[0]), field) {
			t.Errorf("registration lacks %s: %s", field, r.values[0])
		}
	}
}

func TestInvalidClientIDIsRefusedBeforeSending(t *testing.T) {
	var r recorder
	ctx := context.Background()
	if err := Register(ctx, &r, "cluster.registry", Registration{ClientID: "AF_9"}); err == nil || !strings.Contains(err.Error(), "invalid client id") {
		t.Errorf("Register: %v", err)
	}
	if err := Deregister(ctx, &r, "cluster.registry", "x"); err == nil {
		t.Error("Deregister accepted an invalid id")
	}
	if err := RegisterPatiently(ctx, &r, "cluster.registry", Registration{ClientID: "-bad"}, slog.Default()); err == nil {
		t.Error("RegisterPatiently accepted an invalid id")
	}
	if r.attempts() != 0 {
		t.Errorf("%d sends for invalid ids", r.attempts())
	}
}

func TestDeregisterSendsATombstone(t *testing.T) {
	var r recorder
	if err := Deregister(context.Background(), &r, "cluster.registry", "af-9"); err != nil {
		t.Fatal(err)
	}
	if len(r.values) != 1 || r.values[0] != nil || r.topics[0] != "cluster.registry" {
		t.Fatalf("sent %q to %v, want one nil value to cluster.registry", r.values, r.topics)
	}
}

func TestRegisterPatientlyRetriesUntilKafkaAnswers(t *testing.T) {
	r := recorder{failN: 2}
	var logs testutil.SyncBuffer
	err := RegisterPatiently(context.Background(), &r, "cluster.registry", Registration{ClientID: "af-9"}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if r.attempts() != 3 || len(r.sent()) != 1 {
		t.Errorf("attempts %d, sent %d; want 3 and 1", r.attempts(), len(r.sent()))
	}
	if strings.Count(logs.String(), "registration failed; retrying") != 2 {
		t.Errorf("want two logged failures:\n%s", logs.String())
	}
}

func TestHeartbeaterRidesOutFailuresAndStopsOnlyWithItsContext(t *testing.T) {
	r := recorder{failN: 3}
	var logs testutil.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var delivered atomic.Int32
	hb := &Heartbeater{Sender: &r, Topic: "cluster.heartbeat", Client: "af-9", Agent: "test",
		Every: 50 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Sent: func(Heartbeat) { delivered.Add(1) }}
	go func() { hb.Run(ctx); close(done) }()
	testutil.Eventually(t, 30*time.Second, "two heartbeats after three failed sends", func() bool { return delivered.Load() >= 2 })
	select {
	case <-done:
		t.Fatal("Run returned while its context was live")
	default:
	}
	cancel()
	testutil.Eventually(t, 10*time.Second, "Run to return after cancel", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if got := strings.Count(logs.String(), "heartbeat failed"); got != 3 {
		t.Errorf("%d failures logged, want 3:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "heartbeats delivered again") {
		t.Errorf("recovery not logged:\n%s", logs.String())
	}
	for _, v := range r.sent() {
		h, err := scheduler.DecodeHeartbeat([]byte("af-9"), v)
		if err != nil || h.Timestamp == "" {
			t.Errorf("the control plane refuses heartbeat %s: %v", v, err)
		}
	}
}

func TestHeartbeaterBoundsASendStuckInAnOutage(t *testing.T) {
	stuck := senderFunc(func(ctx context.Context, topic string, value []byte) error {
		<-ctx.Done() // a send that only ends when its timeout fires
		return ctx.Err()
	})
	var logs testutil.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hb := &Heartbeater{Sender: stuck, Topic: "hb", Client: "af-9", Every: time.Hour, Timeout: 20 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&logs, nil))}
	go hb.Run(ctx)
	// With Every an hour, only the per-send timeout and the short retry can
	// produce a second attempt.
	testutil.Eventually(t, 20*time.Second, "a second attempt after a stuck send", func() bool {
		return strings.Count(logs.String(), "heartbeat failed") >= 2
	})
}

type senderFunc func(ctx context.Context, topic string, value []byte) error

func (f senderFunc) Send(ctx context.Context, topic string, value []byte) error {
	return f(ctx, topic, value)
}

func TestParseMetadata(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]string
		err  bool
	}{
		{"", map[string]string{}, false},
		{"team=payments, region=eu-west-1", map[string]string{"team": "payments", "region": "eu-west-1"}, false},
		{"url=https://x/?a=b,,", map[string]string{"url": "https://x/?a=b"}, false},
		{"novalue", nil, true},
		{"=v", nil, true},
	}
	for _, c := range cases {
		got, err := ParseMetadata(c.in)
		if (err != nil) != c.err {
			t.Errorf("%q: err %v", c.in, err)
			continue
		}
		if !c.err && fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%q: got %v, want %v", c.in, got, c.want)
		}
	}
}

// FuzzParseMetadata: any --meta text either parses into a registration the
// control plane accepts or is refused with an error; nothing panics.
func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{"", "a=b", "a=b,c=d", "=", ",,,", "k=v=w", "\xff=1", " a = b "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		md, err := ParseMetadata(s)
		if err != nil {
			return
		}
		var r recorder
		if err := Register(context.Background(), &r, "cluster.registry", Registration{ClientID: "af-9", Metadata: md}); err != nil {
			t.Fatal(err)
		}
		if _, err := scheduler.DecodeRegistration([]byte("af-9"), r.values[0]); err != nil {
			t.Fatalf("metadata %q: the control plane refuses the registration: %v", s, err)
		}
	})
}
