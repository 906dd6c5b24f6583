package scheduler

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/internal/fakenomad"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/nomad"
)

func loadShippedTemplates(t testing.TB) *nomad.TemplateSet {
	t.Helper()
	ts, err := nomad.LoadTemplates("../jobspecs", "../jobspecs/vars/dev.vars.hcl")
	if err != nil {
		t.Fatalf("loading the shipped templates: %v", err)
	}
	return ts
}

type harness struct {
	t      testing.TB
	ctrl   *Controller
	fake   *fakenomad.Server
	reg    *prometheus.Registry
	logs   *testutil.SyncBuffer
	cancel context.CancelFunc
	done   chan struct{}
	offset int64
}

type harnessOpt func(*Config)

// newHarness starts a controller against a fake Nomad, reached through the real
// nomad.Client so the wire format is exercised too.
func newHarness(t testing.TB, fake *fakenomad.Server, threshold time.Duration, opts ...harnessOpt) *harness {
	t.Helper()
	return newHarnessOnPlane(t, fake, testPlane, threshold, opts...)
}

// newHarnessOnPlane is newHarness for a plane of another name.
func newHarnessOnPlane(t testing.TB, fake *fakenomad.Server, plane string, threshold time.Duration, opts ...harnessOpt) *harness {
	t.Helper()
	if fake == nil {
		fake = fakenomad.New()
		t.Cleanup(fake.Close)
	}
	nc, err := nomad.NewClient(nomad.Config{Address: fake.URL, Plane: plane})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	cfg := Config{
		StaleThreshold: threshold, ResyncInterval: time.Hour, KafkaBrokers: "127.0.0.1:9092",
		Plane: plane, RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctrl, err := New(cfg, nc, loadShippedTemplates(t), log, reg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctrl: ctrl, fake: fake, reg: reg, logs: logs, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		ctrl.Run(ctx)
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

func regValue(id string) []byte {
	b, _ := json.Marshal(map[string]any{"client_id": id, "cluster_name": "c-" + id, "k8s_version": "1.30"})
	return b
}

func hbValue(id string) []byte {
	b, _ := json.Marshal(map[string]string{"client_id": id, "timestamp": time.Now().UTC().Format(time.RFC3339Nano)})
	return b
}

// nextOffset plays the registry's offsets: each record one further.
func (h *harness) nextOffset() int64 { h.offset++; return h.offset }

func (h *harness) register(id string) {
	h.ctrl.HandleRegistry([]byte(id), regValue(id), time.Now(), h.nextOffset())
}
func (h *harness) heartbeat(id string) {
	h.ctrl.HandleHeartbeat([]byte(id), hbValue(id), time.Now(), h.nextOffset())
}
func (h *harness) tombstone(id string) {
	h.ctrl.HandleRegistry([]byte(id), nil, time.Now(), h.nextOffset())
}

// jobsOf lists the fake Nomad's jobs of one client.
func (h *harness) jobsOf(id string) []string {
	var out []string
	for _, j := range h.fake.JobIDs() {
		if strings.HasSuffix(j, "-"+id) {
			out = append(out, j)
		}
	}
	return out
}

func wantJobs(id string) []string {
	return []string{"kg-event-normalizer-" + id, "kg-graph-builder-" + id, "kg-log-normalizer-" + id}
}

func (h *harness) counter(name string, labels ...string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			if m.Gauge != nil {
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

// client returns a client's state under the controller's lock.
func (h *harness) client(id string) Client {
	h.ctrl.mu.Lock()
	defer h.ctrl.mu.Unlock()
	c, _ := h.ctrl.reg.Get(id)
	return c
}

const testPlane = "test-plane"

// settled reports whether the controller has nothing left to do: the queue
// has nothing waiting, in progress or in backoff.
func (h *harness) settled() bool { return h.ctrl.queue.Load().Idle() }
