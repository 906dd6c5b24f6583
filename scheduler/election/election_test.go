package election

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/scheduler"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

func TestConfigChecks(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Plane: "p", Self: "a"}, "required"},
		{Config{Brokers: []string{"k:9092"}, Plane: "p", Self: "a b"}, "KG_INSTANCE"},
		{Config{Brokers: []string{"k:9092"}, Plane: "p", Self: "a", SessionTimeout: 6 * time.Second, RenewDeadline: 6 * time.Second}, "shorter than the session"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error with %q", c.cfg, err, c.want)
		}
	}
	e, err := New(Config{Brokers: []string{"k:9092"}, Plane: "p", Self: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if e.cfg.RenewDeadline != 4*time.Second || e.cfg.RenewInterval != time.Second || e.cfg.Topic != Topic {
		t.Errorf("defaults: renew deadline %s, interval %s, topic %s; want 4s, 1s, %s", e.cfg.RenewDeadline, e.cfg.RenewInterval, e.cfg.Topic, Topic)
	}
}

type campaign struct {
	e    *Elector
	stop context.CancelFunc
	done chan struct{} // closed when Run has returned
}

func campaignFor(t *testing.T, brokers []string, topic, plane, self string) *campaign {
	t.Helper()
	e, err := New(Config{Brokers: brokers, Plane: plane, Self: self, Topic: topic, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &campaign{e: e, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		if err := e.Run(ctx); err != nil {
			t.Errorf("%s: election: %v", self, err)
		}
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

func acquire(t *testing.T, c *campaign, what string) scheduler.Term {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	term, err := c.e.Acquire(ctx)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return term
}

// Two planes on the real Kafka: one leads and can prove it, the other
// follows and knows who leads; a plane that joins does not take the
// leadership (sticky), it only starts a new term of the same leader; when the
// leader leaves, the other leads in a later term and the old term can no
// longer be proven (Held is the fence every Nomad write checks).
func TestOneLeaderThenATakeoverInALaterTerm(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: the real Kafka")
	}
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	topic, plane := "test.election"+sfx, "test-election"+strings.ReplaceAll(sfx, ".", "-")
	kafkatest.CreateTopics(t, brokers, 1, topic)

	a := campaignFor(t, brokers, topic, plane, "plane-a")
	first := acquire(t, a, "plane-a alone to lead")
	if !a.e.Held(first.ID) || !a.e.Status().Leading {
		t.Fatalf("plane-a leads in term %d but cannot prove it", first.ID)
	}

	b := campaignFor(t, brokers, topic, plane, "plane-b")
	// b's arrival rebalances the group: a's term ends, a leads again in the next.
	select {
	case <-first.Ctx.Done():
	case <-time.After(90 * time.Second):
		t.Fatal("plane-b joined, but plane-a's term did not end with the rebalance")
	}
	second := acquire(t, a, "plane-a to lead again after plane-b joined")
	if second.ID <= first.ID || a.e.Held(first.ID) || !a.e.Held(second.ID) {
		t.Fatalf("terms %d then %d; held(first)=%v held(second)=%v", first.ID, second.ID, a.e.Held(first.ID), a.e.Held(second.ID))
	}
	testutil.Eventually(t, 30*time.Second, "plane-b to see plane-a lead, with two members", func() bool {
		st := b.e.Status()
		return st.Leader == "plane-a" && st.Members == 2 && !st.Leading
	})
	if b.e.Held(second.ID) {
		t.Fatal("the follower holds the leader's term")
	}

	// plane-a stops (SIGTERM): it leaves the group, plane-b leads.
	a.stop()
	<-a.done
	third := acquire(t, b, "plane-b to take over")
	if third.ID <= second.ID {
		t.Fatalf("plane-b leads in term %d, not after plane-a's %d", third.ID, second.ID)
	}
	if a.e.Held(second.ID) {
		t.Fatal("the old leader can still prove its term after it left")
	}
	if !b.e.Held(third.ID) || b.e.Status().Leader != "plane-b" {
		t.Fatalf("plane-b: held %v, status %+v", b.e.Held(third.ID), b.e.Status())
	}
}
