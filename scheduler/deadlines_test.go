package scheduler

import (
	"fmt"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kgrca/kgplane/internal/testutil"
)

// fakeTime runs the controller on a fake clock: deadlines pass when the test
// steps the clock, not in real time.
func fakeTime(fc *clocktesting.FakeClock) harnessOpt {
	return func(c *Config) { c.Clock = fc; c.IngestStallAfter = 5 * time.Second }
}

func (h *harness) beatAt(id string, ts time.Time) {
	h.ctrl.HandleHeartbeat([]byte(id), hbValue(id), ts, h.nextOffset())
}

// step moves the fake clock in one-second steps (so tickers and timers fire
// in order), reporting the ingest read up to each new now when readUpTo.
func step(h *harness, fc *clocktesting.FakeClock, d time.Duration, readUpTo bool) {
	for end := fc.Now().Add(d); fc.Now().Before(end); {
		fc.Step(time.Second)
		if readUpTo {
			h.ctrl.ReadUpTo(fc.Now())
		}
	}
}

func deregisteredClients(h *harness) map[string]bool {
	out := map[string]bool{}
	for _, c := range h.fake.CallsOf("deregister") {
		job := strings.TrimPrefix(c.Path, "/v1/job/")
		for _, tpl := range []string{"kg-event-normalizer-", "kg-log-normalizer-", "kg-graph-builder-"} {
			if id, ok := strings.CutPrefix(job, tpl); ok {
				out[id] = true
			}
		}
	}
	return out
}

// Kafka unreadable for twice the threshold: nothing is purged (it used to
// purge every client); when heartbeats can be read again every client gets a
// fresh deadline, a full threshold for its agent to get a heartbeat through,
// and one that stays silent after that is purged. (Mass-silence detection is
// off: the ingest stall alone must do this.)
func TestIngestStallHoldsPurgesThenGivesFreshDeadlines(t *testing.T) {
	const threshold = 30 * time.Second
	fc := clocktesting.NewFakeClock(time.Now())
	h := newHarness(t, nil, threshold, fakeTime(fc), func(c *Config) { c.DisruptionFraction = 1 })
	h.ctrl.CaughtUp()
	ids := []string{"o-1", "o-2", "o-3", "o-4", "o-5"}
	for _, id := range ids {
		h.ctrl.HandleRegistry([]byte(id), regValue(id), fc.Now(), h.nextOffset())
		h.beatAt(id, fc.Now())
	}
	h.ctrl.ReadUpTo(fc.Now())
	testutil.Eventually(t, 10*time.Second, "15 jobs", func() bool { return len(h.fake.JobIDs()) == 15 })

	// The outage: no heartbeat is read, the horizon stands still.
	down := fc.Now()
	step(h, fc, 2*threshold, false)
	testutil.Eventually(t, 5*time.Second, "the ingest-stalled disruption", func() bool { return h.ctrl.Disruption() == DisruptionIngestStalled })
	// Kafka returns and the ingest works through the backlog: the horizon
	// moves past every deadline while still far behind now. The disruption
	// holds: no heartbeat could be sent during the outage.
	h.ctrl.ReadUpTo(down.Add(3 * threshold / 2))
	testutil.Eventually(t, 5*time.Second, "every client waiting out the disruption", func() bool {
		h.ctrl.mu.Lock()
		defer h.ctrl.mu.Unlock()
		return len(h.ctrl.deadlines.waiting) == len(ids) || len(h.fake.CallsOf("deregister")) > 0
	})
	for _, id := range ids {
		if cl := h.client(id); !cl.Phase.Live() {
			t.Fatalf("%s is %s during the outage", id, cl.Phase)
		}
	}
	// Kafka is back: the ingest catches up. The agents take half a
	// threshold to get through; o-5's did not survive the outage.
	h.ctrl.ReadUpTo(fc.Now())
	testutil.Eventually(t, 5*time.Second, "the disruption to end", func() bool { return h.ctrl.Disruption() == "" })
	step(h, fc, threshold/2, true)
	for _, id := range ids[:4] {
		h.beatAt(id, fc.Now())
	}
	step(h, fc, threshold/2-2*time.Second, true)
	testutil.Eventually(t, 10*time.Second, "settled", h.settled)
	if n := len(h.fake.CallsOf("deregister")); n != 0 {
		t.Fatalf("%d jobs purged within a threshold after Kafka returned, want 0: no fresh deadline", n)
	}
	for _, id := range ids[:4] {
		h.beatAt(id, fc.Now())
	}
	step(h, fc, 4*time.Second, true)
	testutil.Eventually(t, 10*time.Second, "o-5 purged one threshold after Kafka returned", func() bool { return len(h.jobsOf("o-5")) == 0 })
	if d := deregisteredClients(h); len(d) != 1 || !d["o-5"] {
		t.Fatalf("purged clients %v, want only o-5", d)
	}
	if s := h.logs.String(); !strings.Contains(s, "heartbeat ingest is not keeping up") || !strings.Contains(s, "fresh deadline") {
		t.Errorf("the disruption is not logged:\n%s", s)
	}
	if got := h.counter("kgplane_disruptions_total", "reason", DisruptionIngestStalled); got != 1 {
		t.Errorf("kgplane_disruptions_total{ingest_stalled} = %v, want 1", got)
	}
}

// Most clients silent at once while Kafka reads fine (the heartbeat topic
// was recreated, the agents' network is cut): held, not purged. When enough
// come back for the silence to end, the rest get a fresh deadline: ms-3,
// back half a threshold later, keeps its jobs; ms-4, never back, is purged.
func TestMassSilenceHoldsPurges(t *testing.T) {
	const threshold = 30 * time.Second
	fc := clocktesting.NewFakeClock(time.Now())
	h := newHarness(t, nil, threshold, fakeTime(fc))
	h.ctrl.CaughtUp()
	var ids []string
	for i := range 5 {
		id := fmt.Sprintf("ms-%d", i)
		ids = append(ids, id)
		h.ctrl.HandleRegistry([]byte(id), regValue(id), fc.Now(), h.nextOffset())
		h.beatAt(id, fc.Now())
	}
	h.ctrl.ReadUpTo(fc.Now())
	testutil.Eventually(t, 10*time.Second, "15 jobs", func() bool { return len(h.fake.JobIDs()) == 15 })
	step(h, fc, 2*threshold, true)
	testutil.Eventually(t, 5*time.Second, "the mass-silence disruption", func() bool { return h.ctrl.Disruption() == DisruptionMassSilence })
	if n := len(h.fake.CallsOf("deregister")); n != 0 {
		t.Fatalf("%d jobs purged while every client was silent at once", n)
	}
	// Three come back: two of five silent is no longer most of them.
	for _, id := range ids[:3] {
		h.beatAt(id, fc.Now())
	}
	step(h, fc, 2*time.Second, true)
	testutil.Eventually(t, 5*time.Second, "the disruption to end", func() bool { return h.ctrl.Disruption() == "" })
	for range 3 {
		for _, id := range ids[:3] {
			h.beatAt(id, fc.Now())
		}
		step(h, fc, threshold/6, true)
	}
	h.beatAt("ms-3", fc.Now()) // half a threshold after the silence ended
	for range 3 {
		for _, id := range ids[:4] {
			h.beatAt(id, fc.Now())
		}
		step(h, fc, threshold/5, true)
	}
	testutil.Eventually(t, 10*time.Second, "ms-4 purged", func() bool { return len(h.jobsOf("ms-4")) == 0 })
	if d := deregisteredClients(h); len(d) != 1 || !d["ms-4"] {
		t.Fatalf("purged clients %v, want only ms-4", d)
	}
}

// A deadline that passed on the clock but not in what the ingest has read
// waits for the ingest: the heartbeat may be on its way.
func TestDeadlineWaitsForTheReadHorizon(t *testing.T) {
	const threshold = 30 * time.Second
	fc := clocktesting.NewFakeClock(time.Now())
	h := newHarness(t, nil, threshold, func(c *Config) { c.Clock = fc; c.IngestStallAfter = time.Hour })
	h.ctrl.CaughtUp()
	h.ctrl.HandleRegistry([]byte("hz-1"), regValue("hz-1"), fc.Now(), h.nextOffset())
	h.ctrl.ReadUpTo(fc.Now())
	testutil.Eventually(t, 10*time.Second, "3 jobs", func() bool { return len(h.fake.JobIDs()) == 3 })
	read := fc.Now()
	fc.Step(threshold + 5*time.Second)
	h.ctrl.ReadUpTo(read.Add(threshold - time.Second)) // the ingest is 6 s behind
	// The timer has fired (its expiry runs on its own goroutine): the client
	// waits for the horizon, or, without it, would be stale already.
	testutil.Eventually(t, 10*time.Second, "the deadline timer to have fired", func() bool {
		h.ctrl.mu.Lock()
		defer h.ctrl.mu.Unlock()
		_, waiting := h.ctrl.deadlines.waiting["hz-1"]
		cl, _ := h.ctrl.reg.Get("hz-1")
		return waiting || cl.Phase == PhaseStale
	})
	// The heartbeat that was on its way arrives: no purge ever happened.
	h.beatAt("hz-1", read.Add(threshold-500*time.Millisecond))
	h.ctrl.ReadUpTo(fc.Now())
	testutil.Eventually(t, 5*time.Second, "settled", h.settled)
	if cl := h.client("hz-1"); cl.Phase != PhaseActive || len(h.fake.CallsOf("deregister")) != 0 {
		t.Fatalf("hz-1 is %s with %d purges; the deadline did not wait for the ingest", cl.Phase, len(h.fake.CallsOf("deregister")))
	}
}
