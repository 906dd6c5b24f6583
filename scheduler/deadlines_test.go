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
// fresh deadline, and one that stays silent after that is purged.
func TestIngestStallHoldsPurgesThenGivesFreshDeadlines(t *testing.T) {
	const threshold = 30 * time.Second
	fc := clocktesting.NewFakeClock(time.Now())
	h := newHarness(t, nil, threshold, fakeTime(fc))
	h.ctrl.CaughtUp()
	ids := []string{"o-1", "o-2", "o-3", "o-4", "o-5"}
	for _, id := range ids {
		h.ctrl.HandleRegistry([]byte(id), regValue(id), fc.Now(), h.nextOffset())
		h.beatAt(id, fc.Now())
	}
	h.ctrl.ReadUpTo(fc.Now())
	testutil.Eventually(t, 10*time.Second, "15 jobs", func() bool { return len(h.fake.JobIDs()) == 15 })

	// The outage: no heartbeat is read, the horizon stands still.
	step(h, fc, 2*threshold, false)
	testutil.Eventually(t, 5*time.Second, "the ingest-stalled disruption", func() bool { return h.ctrl.Disruption() == DisruptionIngestStalled })
	for _, id := range ids {
		if cl := h.client(id); !cl.Phase.Live() {
			t.Fatalf("%s is %s during the outage", id, cl.Phase)
		}
	}
	// Kafka is back: the ingest catches up; o-5's agent did not survive the outage.
	back := fc.Now()
	h.ctrl.ReadUpTo(back)
	testutil.Eventually(t, 5*time.Second, "the disruption to end", func() bool { return h.ctrl.Disruption() == "" })
	for _, id := range ids[:4] {
		h.beatAt(id, fc.Now())
	}
	step(h, fc, threshold-2*time.Second, true)
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

// Every client silent at once while Kafka reads fine (the heartbeat topic was
// recreated, the agents' network is cut): held, not purged.
func TestMassSilenceHoldsPurges(t *testing.T) {
	const threshold = 30 * time.Second
	fc := clocktesting.NewFakeClock(time.Now())
	h := newHarness(t, nil, threshold, fakeTime(fc))
	h.ctrl.CaughtUp()
	var ids []string
	for i := range 4 {
		id := fmt.Sprintf("ms-%d", i)
		ids = append(ids, id)
		h.ctrl.HandleRegistry([]byte(id), regValue(id), fc.Now(), h.nextOffset())
		h.beatAt(id, fc.Now())
	}
	h.ctrl.ReadUpTo(fc.Now())
	testutil.Eventually(t, 10*time.Second, "12 jobs", func() bool { return len(h.fake.JobIDs()) == 12 })
	step(h, fc, 2*threshold, true)
	testutil.Eventually(t, 5*time.Second, "the mass-silence disruption", func() bool { return h.ctrl.Disruption() == DisruptionMassSilence })
	// Three come back; ms-3 does not.
	for _, id := range ids[:3] {
		h.beatAt(id, fc.Now())
	}
	step(h, fc, 2*time.Second, true)
	testutil.Eventually(t, 5*time.Second, "the disruption to end", func() bool { return h.ctrl.Disruption() == "" })
	for range 3 {
		for _, id := range ids[:3] {
			h.beatAt(id, fc.Now())
		}
		step(h, fc, threshold/3, true)
	}
	testutil.Eventually(t, 10*time.Second, "ms-3 purged", func() bool { return len(h.jobsOf("ms-3")) == 0 })
	if d := deregisteredClients(h); len(d) != 1 || !d["ms-3"] {
		t.Fatalf("purged clients %v, want only ms-3", d)
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
	// The heartbeat that was on its way arrives: no purge ever happened.
	h.beatAt("hz-1", read.Add(threshold-500*time.Millisecond))
	h.ctrl.ReadUpTo(fc.Now())
	testutil.Eventually(t, 5*time.Second, "settled", h.settled)
	if cl := h.client("hz-1"); cl.Phase != PhaseActive || len(h.fake.CallsOf("deregister")) != 0 {
		t.Fatalf("hz-1 is %s with %d purges; the deadline did not wait for the ingest", cl.Phase, len(h.fake.CallsOf("deregister")))
	}
}
