package scheduler

import (
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kgrca/kgplane/internal/testutil"
)

func TestRegistryTransitions(t *testing.T) {
	const th = time.Minute
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reg := func(id string) Registration { return Registration{ClientID: id} }
	type step struct {
		do        string // register | heartbeat | tombstone | expire
		at        time.Duration
		recordAt  time.Duration // record timestamp (defaults to at)
		wantPhase Phase
		wantErr   error
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"register then heartbeat", []step{
			{do: "register", at: 0, wantPhase: PhaseRegistered},
			{do: "heartbeat", at: 10 * time.Second, wantPhase: PhaseActive},
		}},
		{"registered without heartbeat goes stale after the threshold", []step{
			{do: "register", at: 0, wantPhase: PhaseRegistered},
			{do: "expire", at: th - time.Second, wantPhase: PhaseRegistered},
			{do: "expire", at: th, wantPhase: PhaseStale},
		}},
		{"heartbeat moves the deadline", []step{
			{do: "register", at: 0, wantPhase: PhaseRegistered},
			{do: "heartbeat", at: 50 * time.Second, wantPhase: PhaseActive},
			{do: "expire", at: th + time.Second, wantPhase: PhaseActive},
			{do: "expire", at: 50*time.Second + th, wantPhase: PhaseStale},
		}},
		{"stale client heartbeats again", []step{
			{do: "register", at: 0},
			{do: "expire", at: th, wantPhase: PhaseStale},
			{do: "heartbeat", at: th + time.Second, wantPhase: PhaseActive},
		}},
		{"an old heartbeat does not revive a stale client", []step{
			{do: "register", at: 0},
			{do: "expire", at: 2 * th, wantPhase: PhaseStale},
			{do: "heartbeat", at: 2 * th, recordAt: 30 * time.Second, wantPhase: PhaseStale},
		}},
		{"out-of-order heartbeat keeps the newest", []step{
			{do: "register", at: 0},
			{do: "heartbeat", at: 40 * time.Second, wantPhase: PhaseActive},
			{do: "heartbeat", at: 41 * time.Second, recordAt: 5 * time.Second, wantPhase: PhaseActive},
			{do: "expire", at: 5*time.Second + th, wantPhase: PhaseActive},
		}},
		{"tombstone, heartbeat refused, re-register", []step{
			{do: "register", at: 0},
			{do: "tombstone", at: time.Second, wantPhase: PhaseDeregistered},
			{do: "heartbeat", at: 2 * time.Second, wantPhase: PhaseDeregistered, wantErr: ErrUnknownClient},
			{do: "tombstone", at: 3 * time.Second, wantPhase: PhaseDeregistered, wantErr: ErrUnknownClient},
			{do: "register", at: 4 * time.Second, wantPhase: PhaseRegistered},
		}},
		{"duplicate registration of a live client changes nothing", []step{
			{do: "register", at: 0},
			{do: "heartbeat", at: time.Second, wantPhase: PhaseActive},
			{do: "register", at: 2 * time.Second, wantPhase: PhaseActive},
		}},
		{"heartbeat of an unknown client", []step{
			{do: "heartbeat", at: 0, wantErr: ErrUnknownClient},
		}},
		{"replayed history: old registration plus recent heartbeat", []step{
			{do: "register", at: 10 * th, recordAt: 0, wantPhase: PhaseRegistered},
			{do: "heartbeat", at: 10 * th, recordAt: 10*th - 20*time.Second, wantPhase: PhaseActive},
			{do: "expire", at: 10 * th, wantPhase: PhaseActive},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewRegistry(th)
			for i, s := range c.steps {
				now := t0.Add(s.at)
				rec := now
				if s.recordAt != 0 {
					rec = t0.Add(s.recordAt)
				}
				var err error
				switch s.do {
				case "register":
					r.Register(reg("c-1"), rec, int64(i), now)
				case "heartbeat":
					_, err = r.Heartbeat("c-1", rec, now)
				case "tombstone":
					_, err = r.Deregister("c-1", int64(i), now)
				case "expire":
					r.Expire("c-1", now)
				}
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d (%s): err = %v, want %v", i, s.do, err, s.wantErr)
				}
				if s.wantPhase != "" {
					cl, _ := r.Get("c-1")
					if cl.Phase != s.wantPhase {
						t.Fatalf("step %d (%s at %s): phase = %s, want %s", i, s.do, s.at, cl.Phase, s.wantPhase)
					}
				}
			}
		})
	}
}

func TestWorkQueueDedupesAndSerialisesAKey(t *testing.T) {
	q := newWorkQueue(time.Millisecond, 10*time.Millisecond, clock.RealClock{})
	q.Add("a")
	q.Add("a")
	q.Add("b")
	if q.Len() != 2 {
		t.Fatalf("len = %d, want 2 (a queued once)", q.Len())
	}
	k, _ := q.Get()
	if k != "a" {
		t.Fatalf("got %s, want a", k)
	}
	q.Add("a") // while a is processing: must wait for Done
	if q.Len() != 1 {
		t.Fatalf("a was queued while being processed")
	}
	q.Done("a")
	if q.Len() != 2 {
		t.Fatalf("a not re-queued after Done")
	}
	q.ShutDown()
	for {
		if _, ok := q.Get(); !ok {
			break
		}
	}
}

func TestWorkQueueRetryBacksOffExponentially(t *testing.T) {
	fc := clocktesting.NewFakeClock(time.Now())
	q := newWorkQueue(10*time.Millisecond, 35*time.Millisecond, fc)
	defer q.ShutDown()
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 35 * time.Millisecond, 35 * time.Millisecond}
	for i, w := range want {
		if d := q.Retry("k"); d != w {
			t.Fatalf("retry %d: delay %s, want %s", i, d, w)
		}
	}
	if q.Len() != 0 || q.Idle() {
		t.Fatalf("a key in backoff is queued (len %d) or the queue idle (%v)", q.Len(), q.Idle())
	}
	fc.Step(34 * time.Millisecond)
	if q.Len() != 0 {
		t.Fatal("the key came back before its backoff ended")
	}
	fc.Step(time.Millisecond)
	testutil.Eventually(t, 5*time.Second, "retried key queued", func() bool { return q.Len() == 1 })
	q.Forget("k")
	if d := q.Retry("k"); d != 10*time.Millisecond {
		t.Fatalf("after Forget: delay %s, want the base", d)
	}
}

func TestWorkQueueUrgentLaneGoesFirst(t *testing.T) {
	q := newWorkQueue(time.Millisecond, 10*time.Millisecond, clock.RealClock{})
	defer q.ShutDown()
	for _, k := range []string{"n1", "n2", "n3"} {
		q.Add(k)
	}
	q.AddUrgent("u1")
	q.AddUrgent("n3") // promoted: served once, from the urgent lane
	var order []string
	for q.Len() > 0 {
		k, _ := q.Get()
		order = append(order, k)
		q.Done(k)
	}
	if want := []string{"u1", "n3", "n1", "n2"}; strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("order = %v, want %v", order, want)
	}
}

// TestRegistryReplayChangesNothing: after a Kafka reconnect the registry is read
// again from the beginning; records already applied must not revive a stale or
// deregistered client, nor deregister one that registered again since.
func TestRegistryReplayChangesNothing(t *testing.T) {
	const th = time.Minute
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewRegistry(th)
	reg := Registration{ClientID: "c-1"}
	r.Register(reg, t0, 10, t0)
	r.Deregister("c-1", 11, t0.Add(time.Second))
	r.Register(reg, t0.Add(2*time.Second), 12, t0.Add(2*time.Second)) // live again
	r.Register(Registration{ClientID: "s-1"}, t0, 13, t0)
	r.Expire("s-1", t0.Add(th)) // stale

	now := t0.Add(th + time.Second)
	for _, off := range []int64{10, 11, 12} { // the replay, in log order
		if off == 11 {
			if _, err := r.Deregister("c-1", off, now); err == nil {
				t.Fatalf("replayed tombstone at offset %d applied", off)
			}
			continue
		}
		if tr, replay := r.Register(reg, t0, off, now); !replay || tr.Changed() {
			t.Fatalf("replayed registration at offset %d: replay=%v transition=%v", off, replay, tr)
		}
	}
	if tr, replay := r.Register(Registration{ClientID: "s-1"}, t0, 13, now); !replay || tr.Changed() {
		t.Fatalf("replay revived a stale client: %v", tr)
	}
	if c, _ := r.Get("c-1"); c.Phase != PhaseRegistered {
		t.Fatalf("c-1 is %s after the replay, want registered", c.Phase)
	}
	if c, _ := r.Get("s-1"); c.Phase != PhaseStale {
		t.Fatalf("s-1 is %s after the replay, want stale", c.Phase)
	}
	// A new record (higher offset) still works.
	if tr, replay := r.Register(Registration{ClientID: "s-1"}, now, 14, now); replay || tr.To != PhaseRegistered {
		t.Fatalf("new registration after the replay: replay=%v %v", replay, tr)
	}
}

// A purge (urgent lane) that fails is retried in the urgent lane, ahead of
// registrations queued meanwhile.
func TestWorkQueueFailedPurgeKeepsItsUrgentLane(t *testing.T) {
	fc := clocktesting.NewFakeClock(time.Now())
	q := newWorkQueue(10*time.Millisecond, time.Second, fc)
	defer q.ShutDown()
	q.AddUrgent("purge-me")
	k, _ := q.Get()
	q.Retry(k) // the purge failed
	q.Done(k)
	q.Add("register-1")
	q.Add("register-2")
	fc.Step(10 * time.Millisecond)
	testutil.Eventually(t, 5*time.Second, "the retry queued", func() bool { return q.Len() == 3 })
	if k, _ := q.Get(); k != "purge-me" {
		t.Fatalf("served %s first, want the failed purge", k)
	}
}

// Idle is the real "drained": not while a key is processed, nor while one
// waits out its backoff.
func TestWorkQueueIdleCountsWorkInFlight(t *testing.T) {
	fc := clocktesting.NewFakeClock(time.Now())
	q := newWorkQueue(10*time.Millisecond, time.Second, fc)
	defer q.ShutDown()
	if !q.Idle() {
		t.Fatal("a new queue is not idle")
	}
	q.Add("a")
	k, _ := q.Get()
	if q.Len() != 0 || q.Idle() {
		t.Fatalf("a key in progress: len %d, idle %v; want 0 and false", q.Len(), q.Idle())
	}
	q.Retry(k)
	q.Done(k)
	if q.Idle() {
		t.Fatal("idle while a retry is pending")
	}
	fc.Step(10 * time.Millisecond)
	testutil.Eventually(t, 5*time.Second, "the retry queued", func() bool { return q.Len() == 1 })
	k, _ = q.Get()
	q.Forget(k)
	q.Done(k)
	if !q.Idle() {
		t.Fatal("not idle once everything is done")
	}
}
