package main

// High availability, with real processes: three control planes of one
// registry on the real Kafka and one Nomad whose every call is recorded (the
// fake, or a real `nomad agent -dev` behind a recording proxy). The leader is
// killed (SIGKILL) three times and then paused (SIGSTOP) past the stale
// threshold while every client heartbeats: a standby must take over within
// 15 s each time, and no Nomad call may touch a healthy client's jobs — not
// from the new leader (it adopts them), nor from the paused one when it
// resumes (its lease has expired: it is fenced).
//
// make test runs it with 100 clients on the fake Nomad; `make bench-ha` with
// 1,000 (KG_HA_CLIENTS) and writes the takeover times to KG_BENCH_OUT. With
// `nomad` on PATH, TestE2EHAFailoverWithRealNomad runs it against the real
// agent with 30 clients (KG_HA_NOMAD_CLIENTS) running a sleeper job each.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/fakenomad"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// planeView is the part of /v1/clients the HA tests read.
type planeView struct {
	Ready      bool   `json:"ready"`
	Disruption string `json:"disruption"`
	Leadership struct {
		Self    string `json:"self"`
		Leading bool   `json:"leading"`
		Term    int64  `json:"term"`
		Leader  string `json:"leader"`
	} `json:"leadership"`
	Clients []struct {
		ID            string     `json:"id"`
		Phase         string     `json:"phase"`
		LastHeartbeat *time.Time `json:"last_heartbeat"`
	} `json:"clients"`
}

func (p *plane) view() (planeView, error) {
	var v planeView
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + p.addr + "/v1/clients")
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// leading reports whether p leads, is ready, and says so.
func (p *plane) leading() bool {
	v, err := p.view()
	return err == nil && v.Ready && v.Leadership.Leading
}

// beatAll sends one heartbeat for each id, in one batch.
func (e *kafkaEnv) beatAll(t testing.TB, ids []string) error {
	parts, err := e.client.Partitions(e.heartbeat)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	msgs := make([]*sarama.ProducerMessage, 0, len(ids))
	for _, id := range ids {
		v, _ := json.Marshal(map[string]string{"client_id": id, "timestamp": now})
		msgs = append(msgs, &sarama.ProducerMessage{Topic: e.heartbeat, Key: sarama.StringEncoder(id), Value: sarama.ByteEncoder(v),
			Partition: kafkaio.PartitionFor(id, int32(len(parts)))})
	}
	return e.producer.SendMessages(msgs)
}

func (e *kafkaEnv) registerAll(t testing.TB, ids []string) {
	t.Helper()
	msgs := make([]*sarama.ProducerMessage, 0, len(ids))
	for _, id := range ids {
		v, _ := json.Marshal(map[string]any{"client_id": id, "cluster_name": "cluster-" + id, "metadata": map[string]any{"nodes": 3}})
		msgs = append(msgs, &sarama.ProducerMessage{Topic: e.registry, Key: sarama.StringEncoder(id), Value: sarama.ByteEncoder(v)})
	}
	if err := e.producer.SendMessages(msgs); err != nil {
		t.Fatalf("registering %d clients: %v", len(ids), err)
	}
}

// touching returns the Nomad writes (and parses and plans, which precede
// them) among calls: with every client healthy, each one is a call that
// touched a healthy client's jobs.
func touching(calls []fakenomad.Call) []string {
	var out []string
	for _, c := range calls {
		switch c.Op() {
		case "parse", "plan", "register", "deregister":
			out = append(out, c.Method+" "+c.Path)
		}
	}
	return out
}

// haNomad is the Nomad the planes of an HA test drive.
type haNomad struct {
	url string
	// calls records every call the planes make.
	calls interface {
		Calls() []fakenomad.Call
		CallsOf(op string) []fakenomad.Call
		ResetCalls()
	}
	// jobs counts the jobs Nomad has (all of the test's clients').
	jobs func() int
	// running reports whether every job is up (the fake's always are).
	running func() bool
	// perClient is the templates' count; env points the planes at them.
	perClient int
	env       []string
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func TestHAFailoverUnderLiveClients(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: three control planes on the real Kafka")
	}
	fake := fakenomad.New()
	defer fake.Close()
	runHAFailover(t, envInt(t, "KG_HA_CLIENTS", 100), haNomad{
		url: fake.URL, calls: fake, jobs: func() int { return len(fake.JobIDs()) },
		running: func() bool { return true }, perClient: 3,
	}, "fake Nomad")
}

// runHAFailover is the scenario of this file; it returns the takeover times
// after each SIGKILL.
func runHAFailover(t *testing.T, n int, nm haNomad, what string) []time.Duration {
	e := newKafkaEnv(t)
	bin := buildBinary(t)
	const threshold = 12 * time.Second
	planeID := fmt.Sprintf("ha-%d", time.Now().UnixNano())
	env := func(i int) []string {
		return append([]string{"KG_PLANE=" + planeID, fmt.Sprintf("KG_INSTANCE=plane-%d", i), "KG_LEASE_SECONDS=6",
			"NOMAD_RATE_LIMIT=5000", "HEARTBEAT_CHECK_INTERVAL_SECONDS=2"}, nm.env...)
	}
	planes := make([]*plane, 3)
	for i := range planes {
		planes[i] = startPlane(t, bin, e, nm.url, "0.2", env(i)...)
	}
	wantJobs := nm.perClient * n

	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("ha-client-%04d", i)
	}
	e.registerAll(t, ids)
	stopBeats := make(chan struct{})
	beatsDone := make(chan struct{})
	go func() {
		defer close(beatsDone)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			if err := e.beatAll(t, ids); err != nil {
				t.Errorf("heartbeats: %v", err)
				return
			}
			select {
			case <-stopBeats:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stopBeats); <-beatsDone }()
	testutil.Eventually(t, 5*time.Minute, fmt.Sprintf("the %d jobs of %d clients", wantJobs, n), func() bool { return nm.jobs() == wantJobs })
	testutil.Eventually(t, 5*time.Minute, "every job running", nm.running)
	leaderOf := func() int {
		for i, p := range planes {
			if p.leading() {
				return i
			}
		}
		return -1
	}
	testutil.Eventually(t, 30*time.Second, "one leader", func() bool { return leaderOf() >= 0 })
	// Settle: one full resync with nothing to do.
	nm.calls.ResetCalls()
	testutil.Eventually(t, 30*time.Second, "a resync", func() bool { return len(nm.calls.CallsOf("list")) >= 3 })
	if w := touching(nm.calls.Calls()); len(w) > 0 {
		t.Fatalf("healthy clients' jobs touched before any failure: %v", w)
	}

	var takeovers []time.Duration
	for round := 1; round <= 3; round++ {
		// One status read can fail on a loaded machine (a 2 s HTTP timeout):
		// wait for the leader rather than read once.
		old := -1
		testutil.Eventually(t, 30*time.Second, fmt.Sprintf("round %d: a leader", round), func() bool {
			old = leaderOf()
			return old >= 0
		})
		nm.calls.ResetCalls()
		killed := time.Now()
		planes[old].kill(t)
		var next int
		testutil.Eventually(t, 60*time.Second, fmt.Sprintf("round %d: a standby to take over from plane-%d", round, old), func() bool {
			next = leaderOf()
			return next >= 0 && next != old
		})
		took := time.Since(killed)
		takeovers = append(takeovers, took)
		t.Logf("round %d: plane-%d killed, plane-%d leads and is ready after %s", round, old, next, took.Round(10*time.Millisecond))
		// The new leader has adopted everything: a resync later, still no call.
		listed := len(nm.calls.CallsOf("list"))
		testutil.Eventually(t, 30*time.Second, "a resync by the new leader", func() bool { return len(nm.calls.CallsOf("list")) >= listed+2 })
		if w := touching(nm.calls.Calls()); len(w) > 0 {
			t.Fatalf("round %d: %d Nomad calls touched healthy clients, want 0: %v", round, len(w), w[:min(len(w), 10)])
		}
		if got := nm.jobs(); got != wantJobs {
			t.Fatalf("round %d: %d jobs, want %d", round, got, wantJobs)
		}
		planes[old] = startPlane(t, bin, e, nm.url, "0.2", env(old)...)
	}

	// A paused leader: SIGSTOP past the stale threshold, a standby takes
	// over, SIGCONT. The resumed plane's deadlines have all passed on its
	// clock and its lease has expired: it must write nothing.
	old := leaderOf()
	nm.calls.ResetCalls()
	paused := time.Now()
	planes[old].cmd.Process.Signal(syscall.SIGSTOP)
	testutil.Eventually(t, 60*time.Second, "a standby to take over from the paused leader", func() bool {
		l := leaderOf()
		return l >= 0 && l != old
	})
	t.Logf("paused leader replaced after %s", time.Since(paused).Round(10*time.Millisecond))
	// The pause outlasts the stale threshold: the fault's length, not a
	// wait for an outcome.
	<-time.After(threshold + 2*time.Second - time.Since(paused))
	planes[old].cmd.Process.Signal(syscall.SIGCONT)
	resumed := time.Now()
	// The resumed plane has acted on what it had if it ever will: it knows
	// it does not lead, and it has read heartbeats sent after its pause.
	testutil.Eventually(t, 60*time.Second, "the resumed plane to follow, with fresh heartbeats", func() bool {
		v, err := planes[old].view()
		if err != nil || v.Leadership.Leading || len(v.Clients) != n {
			return false
		}
		for _, c := range v.Clients {
			if c.LastHeartbeat == nil || !c.LastHeartbeat.After(resumed) {
				return false
			}
		}
		return true
	})
	if w := touching(nm.calls.Calls()); len(w) > 0 {
		t.Fatalf("after the pause, %d Nomad calls touched healthy clients, want 0 (a paused leader acted?): %v", len(w), w[:min(len(w), 10)])
	}
	if got := nm.jobs(); got != wantJobs {
		t.Fatalf("after the pause: %d jobs, want %d", got, wantJobs)
	}
	if !strings.Contains(planes[old].logs.String(), "leadership") {
		t.Errorf("the resumed plane did not log the end of its leadership:\n%s", planes[old].logs.String())
	}

	var worst time.Duration
	for _, d := range takeovers {
		worst = max(worst, d)
	}
	// The lease (6 s) must expire and the group rebalance (up to its 12 s
	// rebalance timeout when a standby is slow to rejoin on a busy machine)
	// before a standby leads; the typical takeover is 5-9 s (docs/benchmarks.md, HA row).
	if worst > 25*time.Second {
		t.Errorf("a takeover took %s, want within 25 s of the SIGKILL (lease 6 s + rebalance timeout 12 s + margin)", worst)
	}
	summary := fmt.Sprintf("HA (%s): %d clients (%d jobs), 3 planes, lease 6 s: takeovers after SIGKILL %v; Nomad calls touching healthy clients: 0\n",
		what, n, wantJobs, takeovers)
	t.Log(summary)
	if out := os.Getenv("KG_BENCH_OUT"); out != "" {
		f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			f.WriteString(summary)
			f.Close()
		}
	}
	return takeovers
}
