package scheduler

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kgrca/kgplane/internal/fakenomad"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/nomad"
)

func TestRegistrationSubmitsEveryTemplate(t *testing.T) {
	h := newHarness(t, nil, time.Minute)
	h.ctrl.CaughtUp()
	start := time.Now()
	h.register("af-9")
	testutil.Eventually(t, 5*time.Second, "three jobs registered", func() bool { return len(h.jobsOf("af-9")) == 3 })
	t.Logf("registration → 3 jobs registered in %s", time.Since(start))
	if got := h.jobsOf("af-9"); !reflect.DeepEqual(got, wantJobs("af-9")) {
		t.Fatalf("jobs = %v, want %v", got, wantJobs("af-9"))
	}
	j, _ := h.fake.Job("kg-event-normalizer-af-9")
	for k, want := range map[string]string{"kg_managed_by": "kgplane", "kg_client": "af-9", "kg_template": "event-normalizer", "kg_plane": testPlane} {
		if j.Meta[k] != want {
			t.Errorf("meta %s = %q, want %q (meta %v)", k, j.Meta[k], want, j.Meta)
		}
	}
	if len(j.Meta["kg_template_sha"]) != 64 || j.Meta["kg_plane"] != testPlane || j.Meta["kg_term"] != "1" {
		t.Errorf("kg_template_sha = %q (want 64 hex), kg_plane = %q, kg_term = %q", j.Meta["kg_template_sha"], j.Meta["kg_plane"], j.Meta["kg_term"])
	}
	var sub struct{ Source, Format string }
	if err := json.Unmarshal(j.Submission, &sub); err != nil || !strings.Contains(sub.Source, `job "kg-event-normalizer"`) {
		t.Errorf("job submitted without its HCL source: %s (%v)", j.Submission, err)
	}
	if n := len(h.fake.CallsOf("parse")); n != 3 {
		t.Errorf("parse calls = %d, want 3", n)
	}
	if !strings.Contains(h.logs.String(), "client registered") || !strings.Contains(h.logs.String(), "job submitted") {
		t.Errorf("lifecycle not logged:\n%s", h.logs.String())
	}
}

// On a fake clock: a heartbeating client keeps its jobs, a silent one is
// purged, and a client that stops heartbeating goes stale exactly at its
// deadline (last heartbeat + threshold), not a moment before.
func TestHeartbeatsKeepJobsAndSilencePurgesAtTheDeadline(t *testing.T) {
	const threshold = 30 * time.Second
	fc := clocktesting.NewFakeClock(time.Now())
	h := newHarness(t, nil, threshold, func(c *Config) { c.Clock = fc })
	h.ctrl.CaughtUp()
	for _, id := range []string{"hb-1", "hb-2"} {
		h.ctrl.HandleRegistry([]byte(id), regValue(id), fc.Now(), h.nextOffset())
	}
	testutil.Eventually(t, 10*time.Second, "jobs of both clients", func() bool {
		return len(h.jobsOf("hb-1")) == 3 && len(h.jobsOf("hb-2")) == 3
	})
	// hb-1 heartbeats five times per threshold, for twice the threshold; hb-2
	// stays silent.
	for range 10 {
		h.beatAt("hb-1", fc.Now())
		fc.Step(threshold / 5)
	}
	testutil.Eventually(t, 10*time.Second, "silent hb-2 purged", func() bool { return len(h.jobsOf("hb-2")) == 0 })
	last := fc.Now()
	h.beatAt("hb-1", last)
	fc.Step(threshold - time.Millisecond)
	testutil.Eventually(t, 10*time.Second, "settled", h.settled)
	if cl := h.client("hb-1"); cl.Phase != PhaseActive || len(h.jobsOf("hb-1")) != 3 {
		t.Fatalf("hb-1 is %s with jobs %v a millisecond before its deadline", cl.Phase, h.jobsOf("hb-1"))
	}
	fc.Step(time.Millisecond)
	testutil.Eventually(t, 10*time.Second, "hb-1 purged at its deadline", func() bool { return len(h.jobsOf("hb-1")) == 0 })
	cl := h.client("hb-1")
	if cl.Phase != PhaseStale || !cl.PhaseSince.Equal(last.Add(threshold)) {
		t.Fatalf("hb-1 is %s since %s, want stale since its deadline %s", cl.Phase, cl.PhaseSince, last.Add(threshold))
	}
	if s := h.logs.String(); !strings.Contains(s, "client stale") || !strings.Contains(s, "job purged") || !strings.Contains(s, "client purged") {
		t.Errorf("stale lifecycle not logged:\n%s", s)
	}
	for _, c := range h.fake.CallsOf("deregister") {
		if !strings.Contains(c.Query, "purge=true") {
			t.Errorf("deregister without purge=true: %s?%s", c.Path, c.Query)
		}
	}
}

func TestTombstonePurgesAtOnceAndReregistrationResubmits(t *testing.T) {
	h := newHarness(t, nil, time.Hour)
	h.ctrl.CaughtUp()
	h.register("tb-1")
	testutil.Eventually(t, 5*time.Second, "jobs submitted", func() bool { return len(h.jobsOf("tb-1")) == 3 })
	start := time.Now()
	h.tombstone("tb-1")
	// The threshold is an hour: any purge within seconds is the tombstone's.
	testutil.Eventually(t, 10*time.Second, "jobs purged after the tombstone", func() bool { return len(h.jobsOf("tb-1")) == 0 })
	t.Logf("tombstone → purged in %s", time.Since(start))
	if cl := h.client("tb-1"); cl.Phase != PhaseDeregistered {
		t.Fatalf("phase = %s, want deregistered", cl.Phase)
	}
	// A heartbeat does not bring a deregistered client back; a registration does.
	h.heartbeat("tb-1")
	if cl := h.client("tb-1"); cl.Phase != PhaseDeregistered {
		t.Fatalf("heartbeat revived a deregistered client: %s", cl.Phase)
	}
	h.register("tb-1")
	testutil.Eventually(t, 5*time.Second, "jobs submitted again", func() bool { return len(h.jobsOf("tb-1")) == 3 })
}

func TestStaleClientComesBackWithRegistrationOrHeartbeat(t *testing.T) {
	const threshold = 30 * time.Second
	fc := clocktesting.NewFakeClock(time.Now())
	h := newHarness(t, nil, threshold, func(c *Config) { c.Clock = fc })
	h.ctrl.CaughtUp()
	for _, id := range []string{"back-reg", "back-hb"} {
		h.ctrl.HandleRegistry([]byte(id), regValue(id), fc.Now(), h.nextOffset())
	}
	testutil.Eventually(t, 10*time.Second, "both clients' jobs", func() bool { return len(h.fake.JobIDs()) == 6 })
	fc.Step(threshold)
	testutil.Eventually(t, 10*time.Second, "both purged as stale", func() bool {
		a := h.client("back-reg")
		b := h.client("back-hb")
		return a.Phase == PhaseStale && b.Phase == PhaseStale && len(h.jobsOf("back-reg")) == 0 && len(h.jobsOf("back-hb")) == 0
	})
	h.ctrl.HandleRegistry([]byte("back-reg"), regValue("back-reg"), fc.Now(), h.nextOffset())
	h.beatAt("back-hb", fc.Now())
	testutil.Eventually(t, 10*time.Second, "jobs submitted again", func() bool {
		return len(h.jobsOf("back-reg")) == 3 && len(h.jobsOf("back-hb")) == 3
	})
}

func TestRestartAdoptsJobsWithoutChurn(t *testing.T) {
	fake := fakenomad.New()
	defer fake.Close()
	first := newHarness(t, fake, time.Minute)
	first.ctrl.CaughtUp()
	first.register("keep-1")
	first.register("keep-2")
	first.heartbeat("keep-1")
	testutil.Eventually(t, 5*time.Second, "jobs submitted", func() bool { return len(fake.JobIDs()) == 6 })
	first.stop()
	fake.ResetCalls()

	// The new controller replays the same history, then adopts Nomad's jobs.
	second := newHarness(t, fake, time.Minute)
	second.register("keep-1")
	second.register("keep-2")
	second.heartbeat("keep-1")
	second.ctrl.CaughtUp()
	testutil.Eventually(t, 5*time.Second, "ready", second.ctrl.Ready)
	testutil.Eventually(t, 5*time.Second, "Nomad listed and nothing left to do", func() bool {
		return len(fake.CallsOf("list")) >= 1 && second.settled()
	})
	for _, c := range fake.Calls() {
		if c.Op() != "list" {
			t.Errorf("restart made a Nomad call other than list: %s %s", c.Method, c.Path)
		}
	}
	if len(fake.JobIDs()) != 6 {
		t.Fatalf("jobs after restart: %v", fake.JobIDs())
	}
}

func TestNothingHappensBeforeCaughtUp(t *testing.T) {
	fake := fakenomad.New()
	defer fake.Close()
	fake.Put("kg-event-normalizer-old", map[string]string{"kg_managed_by": "kgplane", "kg_plane": testPlane, "kg_client": "old", "kg_template": "event-normalizer"})
	const threshold = 30 * time.Second
	fc := clocktesting.NewFakeClock(time.Now())
	h := newHarness(t, fake, threshold, func(c *Config) { c.Clock = fc })
	h.ctrl.HandleRegistry([]byte("early"), regValue("early"), fc.Now(), h.nextOffset())
	// The deadline of "early" passes while the history is being read: no
	// timer is armed before the catch-up, so nothing is called, "old" is not
	// purged, and the plane is not ready.
	fc.Step(2 * threshold)
	if calls := fake.Calls(); len(calls) != 0 {
		t.Fatalf("Nomad called before the registry was caught up: %v", calls)
	}
	if h.ctrl.Ready() || h.client("early").Phase != PhaseRegistered {
		t.Fatalf("ready (%v) or early %s before caught up", h.ctrl.Ready(), h.client("early").Phase)
	}
	h.ctrl.CaughtUp()
	testutil.Eventually(t, 10*time.Second, "orphan and stale client purged", func() bool { return len(fake.JobIDs()) == 0 })
}

func TestOrphansPurgedAndForeignJobsLeftAlone(t *testing.T) {
	fake := fakenomad.New()
	defer fake.Close()
	fake.Put("kg-event-normalizer-gone", map[string]string{"kg_managed_by": "kgplane", "kg_plane": testPlane, "kg_client": "gone", "kg_template": "event-normalizer"})
	fake.Put("kg-retired-template-live", map[string]string{"kg_managed_by": "kgplane", "kg_plane": testPlane, "kg_client": "live", "kg_template": "retired-template"})
	fake.Put("someone-elses-job", map[string]string{"owner": "team-x"})
	h := newHarness(t, fake, time.Minute)
	h.register("live")
	h.ctrl.CaughtUp()
	want := append(wantJobs("live"), "someone-elses-job")
	testutil.Eventually(t, 5*time.Second, "orphans purged, live client's jobs present", func() bool {
		return reflect.DeepEqual(fake.JobIDs(), want)
	})
	for _, c := range fake.CallsOf("deregister") {
		if strings.Contains(c.Path, "someone-elses-job") {
			t.Fatal("a job kgplane does not manage was purged")
		}
	}
}

func TestFailingClientDoesNotStallOthersAndIsRetried(t *testing.T) {
	h := newHarness(t, nil, time.Minute)
	h.ctrl.CaughtUp()
	// The first five parse calls fail: whichever client hits them is retried with
	// backoff while the others go through.
	h.fake.FailNext("parse", http.StatusInternalServerError, http.StatusInternalServerError, http.StatusInternalServerError,
		http.StatusInternalServerError, http.StatusInternalServerError)
	ids := []string{"r-1", "r-2", "r-3", "r-4", "r-5", "r-6"}
	for _, id := range ids {
		h.register(id)
	}
	testutil.Eventually(t, 10*time.Second, "every client's jobs", func() bool { return len(h.fake.JobIDs()) == 3*len(ids) })
	if got := h.counter("kgplane_nomad_errors_total", "op", "submit", "kind", "server_error"); got != 5 {
		t.Errorf("nomad errors counted = %v, want 5", got)
	}
	if got := h.counter("kgplane_reconcile_runs_total", "result", "error"); got < 1 {
		t.Errorf("failed reconciles not counted")
	}
}

func TestTemplateChangeReappliesToLiveClientsOnly(t *testing.T) {
	h := newHarness(t, nil, time.Minute)
	h.ctrl.CaughtUp()
	h.register("tpl-1")
	h.register("tpl-2")
	h.register("tpl-gone")
	testutil.Eventually(t, 5*time.Second, "jobs", func() bool { return len(h.fake.JobIDs()) == 9 })
	h.tombstone("tpl-gone")
	testutil.Eventually(t, 5*time.Second, "purge", func() bool { return len(h.fake.JobIDs()) == 6 })
	h.fake.ResetCalls()

	// Same templates again (a touch): nothing to do.
	h.ctrl.SetTemplates(loadShippedTemplates(t))
	testutil.Eventually(t, 5*time.Second, "re-reconciled", h.settled)
	if n := len(h.fake.CallsOf("register")); n != 0 {
		t.Fatalf("an unchanged template set caused %d registers", n)
	}

	// A real edit: different operator variables.
	dir := t.TempDir()
	vars := dir + "/vars.hcl"
	writeFile(t, vars, "driver = \"raw_exec\"\nworker_binary = \"/opt/kg/kg-worker\"\nmemory = 512\n")
	ts, err := nomad.LoadTemplates("../jobspecs", vars)
	if err != nil {
		t.Fatal(err)
	}
	h.ctrl.SetTemplates(ts)
	testutil.Eventually(t, 5*time.Second, "6 jobs re-registered", func() bool { return len(h.fake.CallsOf("register")) == 6 })
	for _, c := range h.fake.CallsOf("register") {
		if strings.Contains(string(c.Body), "tpl-gone") {
			t.Fatal("a deregistered client got jobs on template change")
		}
	}
}

func TestResyncRestoresJobsRemovedBehindItsBack(t *testing.T) {
	h := newHarness(t, nil, time.Minute, func(c *Config) { c.ResyncInterval = 100 * time.Millisecond })
	h.ctrl.CaughtUp()
	for _, id := range []string{"rs-1", "rs-2", "rs-3"} {
		h.register(id)
	}
	testutil.Eventually(t, 5*time.Second, "jobs", func() bool { return len(h.fake.JobIDs()) == 9 })
	testutil.Eventually(t, 5*time.Second, "a resync with nothing to do", func() bool { return len(h.fake.CallsOf("list")) >= 3 })
	h.fake.ResetCalls()
	testutil.Eventually(t, 5*time.Second, "two more resyncs", func() bool { return len(h.fake.CallsOf("list")) >= 2 })
	for _, c := range h.fake.Calls() {
		if c.Op() != "list" {
			t.Fatalf("a resync of healthy clients called Nomad: %s %s", c.Method, c.Path)
		}
	}
	h.fake.Remove("kg-log-normalizer-rs-2")
	testutil.Eventually(t, 5*time.Second, "the removed job restored", func() bool {
		_, ok := h.fake.Job("kg-log-normalizer-rs-2")
		return ok
	})
	for _, c := range h.fake.CallsOf("parse") {
		if !strings.Contains(string(c.Body), "rs-2") {
			t.Errorf("resync resubmitted a job of a client that had all its jobs: %s", c.Body)
		}
	}
}

func TestReadyzSaysWhatItWaitsFor(t *testing.T) {
	fake := fakenomad.New()
	defer fake.Close()
	fake.FailNext("list", http.StatusInternalServerError, http.StatusInternalServerError, http.StatusInternalServerError)
	h := newHarness(t, fake, time.Minute)
	srv := httptest.NewServer(h.ctrl.Handler(h.reg))
	defer srv.Close()
	readyz := func() (int, string) {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "reading the registry") {
		t.Fatalf("before catch-up: %d %q", code, body)
	}
	h.ctrl.CaughtUp()
	testutil.Eventually(t, 5*time.Second, "readyz to name Nomad", func() bool {
		code, body := readyz()
		return code == http.StatusServiceUnavailable && strings.Contains(body, "Nomad to list its jobs") && strings.Contains(body, "500")
	})
	testutil.Eventually(t, 10*time.Second, "ready once Nomad answers", func() bool { code, _ := readyz(); return code == http.StatusOK })
}

// Two planes on one Nomad namespace: each sees only its own jobs. Before
// planes had identities, a plane with no clients took the other's jobs for
// orphans and purged them, over and over.
func TestPlanesNeverTouchEachOthersJobs(t *testing.T) {
	fake := fakenomad.New()
	defer fake.Close()
	a := newHarness(t, fake, time.Minute, func(c *Config) { c.ResyncInterval = 50 * time.Millisecond })
	a.ctrl.CaughtUp()
	a.register("plane-a-client")
	testutil.Eventually(t, 5*time.Second, "plane A's client's jobs", func() bool { return len(a.jobsOf("plane-a-client")) == 3 })

	b := newHarnessOnPlane(t, fake, "plane-b", time.Minute, func(c *Config) { c.ResyncInterval = 50 * time.Millisecond })
	b.ctrl.CaughtUp()
	testutil.Eventually(t, 5*time.Second, "plane B to list Nomad a few times", func() bool {
		n := 0
		for _, c := range fake.CallsOf("list") {
			if strings.Contains(c.Query, "plane-b") {
				n++
			}
		}
		return n >= 3 && b.settled()
	})
	if n := len(fake.CallsOf("deregister")); n != 0 {
		t.Fatalf("%d purges: plane B touched plane A's jobs", n)
	}
	if got := a.jobsOf("plane-a-client"); len(got) != 3 {
		t.Fatalf("plane A's client has %v", got)
	}
	if cs := b.ctrl.Clients(); len(cs) != 0 {
		t.Fatalf("plane B shows another plane's jobs: %+v", cs)
	}
}

// liveBackend is a backend that knows its jobs' state in memory, as the
// embedded one does: the statuses it reports change without any list.
type liveBackend struct {
	Nomad
	mu     sync.Mutex
	status map[string]string
}

func (l *liveBackend) set(jobID, status string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status[jobID] = status
}

func (l *liveBackend) JobStatuses() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.status)
}

// With a backend that offers live statuses, /v1/clients shows a job whose
// task just started as running at once, not after the next resync (an hour
// here, so only the live read can make it running).
func TestClientsShowLiveBackendStatusWithoutResync(t *testing.T) {
	fake := fakenomad.New()
	t.Cleanup(fake.Close)
	nc, err := nomad.NewClient(nomad.Config{Address: fake.URL, Plane: testPlane})
	if err != nil {
		t.Fatal(err)
	}
	backend := &liveBackend{Nomad: nc, status: map[string]string{}}
	ctrl, err := New(Config{StaleThreshold: time.Minute, ResyncInterval: time.Hour, KafkaBrokers: "127.0.0.1:9092", Plane: testPlane},
		backend, loadShippedTemplates(t), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctrl.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	ctrl.CaughtUp()
	ctrl.HandleRegistry([]byte("live-1"), regValue("live-1"), time.Now(), 1)

	srv := httptest.NewServer(ctrl.Handler(prometheus.NewRegistry()))
	t.Cleanup(srv.Close)
	statuses := func() map[string]string {
		resp, err := http.Get(srv.URL + "/v1/clients")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Clients []ClientStatus }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, c := range out.Clients {
			for _, j := range c.Jobs {
				m[j.ID] = j.Status
			}
		}
		return m
	}
	testutil.Eventually(t, 10*time.Second, "three pending jobs", func() bool {
		st := statuses()
		return len(st) == 3 && st["kg-graph-builder-live-1"] == "pending"
	})
	backend.set("kg-graph-builder-live-1", "running")
	if st := statuses(); st["kg-graph-builder-live-1"] != "running" || st["kg-event-normalizer-live-1"] != "pending" {
		t.Fatalf("after the task started, /v1/clients says %v; want graph builder running, the others still pending", st)
	}
}
