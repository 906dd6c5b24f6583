package main

// High availability, with real processes: three control planes of one
// registry on the real Kafka and one (fake, recording) Nomad. The leader is
// killed (SIGKILL) three times and then paused (SIGSTOP) past the stale
// threshold while every client heartbeats: a standby must take over within
// 15 s each time, and no Nomad call may touch a healthy client's jobs — not
// from the new leader (it adopts them), nor from the paused one when it
// resumes (its lease has expired: it is fenced).
//
// make test runs it with 100 clients; `make bench-ha` with 1,000
// (KG_HA_CLIENTS) and writes the takeover times to KG_BENCH_OUT.

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

func TestHAFailoverUnderLiveClients(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: three control planes on the real Kafka")
	}
	n := 100
	if v := os.Getenv("KG_HA_CLIENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("KG_HA_CLIENTS=%q: want a positive number", v)
		}
	}
	e := newKafkaEnv(t)
	fake := fakenomad.New()
	defer fake.Close()
	bin := buildBinary(t)
	const threshold = 12 * time.Second
	planeID := fmt.Sprintf("ha-%d", time.Now().UnixNano())
	env := func(i int) []string {
		return []string{"KG_PLANE=" + planeID, fmt.Sprintf("KG_INSTANCE=plane-%d", i), "KG_LEASE_SECONDS=6",
			"NOMAD_RATE_LIMIT=5000", "HEARTBEAT_CHECK_INTERVAL_SECONDS=2"}
	}
	planes := make([]*plane, 3)
	for i := range planes {
		planes[i] = startPlane(t, bin, e, fake.URL, "0.2", env(i)...)
	}

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
	testutil.Eventually(t, 3*time.Minute, fmt.Sprintf("the %d jobs of %d clients", 3*n, n), func() bool { return len(fake.JobIDs()) == 3*n })
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
	fake.ResetCalls()
	testutil.Eventually(t, 30*time.Second, "a resync", func() bool { return len(fake.CallsOf("list")) >= 3 })
	if w := touching(fake.Calls()); len(w) > 0 {
		t.Fatalf("healthy clients' jobs touched before any failure: %v", w)
	}

	var takeovers []time.Duration
	for round := 1; round <= 3; round++ {
		old := leaderOf()
		if old < 0 {
			t.Fatalf("round %d: no leader", round)
		}
		fake.ResetCalls()
		killed := time.Now()
		planes[old].kill(t)
		var next int
		testutil.Eventually(t, 30*time.Second, fmt.Sprintf("round %d: a standby to take over from plane-%d", round, old), func() bool {
			next = leaderOf()
			return next >= 0 && next != old
		})
		took := time.Since(killed)
		takeovers = append(takeovers, took)
		t.Logf("round %d: plane-%d killed, plane-%d leads and is ready after %s", round, old, next, took.Round(10*time.Millisecond))
		// The new leader has adopted everything: a resync later, still no call.
		listed := len(fake.CallsOf("list"))
		testutil.Eventually(t, 30*time.Second, "a resync by the new leader", func() bool { return len(fake.CallsOf("list")) >= listed+2 })
		if w := touching(fake.Calls()); len(w) > 0 {
			t.Fatalf("round %d: %d Nomad calls touched healthy clients, want 0: %v", round, len(w), w[:min(len(w), 10)])
		}
		if got := len(fake.JobIDs()); got != 3*n {
			t.Fatalf("round %d: %d jobs, want %d", round, got, 3*n)
		}
		planes[old] = startPlane(t, bin, e, fake.URL, "0.2", env(old)...)
	}

	// A paused leader: SIGSTOP past the stale threshold, a standby takes
	// over, SIGCONT. The resumed plane's deadlines have all passed on its
	// clock and its lease has expired: it must write nothing.
	old := leaderOf()
	fake.ResetCalls()
	paused := time.Now()
	planes[old].cmd.Process.Signal(syscall.SIGSTOP)
	testutil.Eventually(t, 30*time.Second, "a standby to take over from the paused leader", func() bool {
		l := leaderOf()
		return l >= 0 && l != old
	})
	t.Logf("paused leader replaced after %s", time.Since(paused).Round(10*time.Millisecond))
	testutil.Eventually(t, 2*threshold, "the pause to outlast the stale threshold", func() bool { return time.Since(paused) > threshold+2*time.Second })
	planes[old].cmd.Process.Signal(syscall.SIGCONT)
	resumed := time.Now()
	testutil.Eventually(t, 30*time.Second, "the resumed plane to answer as a standby", func() bool {
		v, err := planes[old].view()
		return err == nil && !v.Leadership.Leading && time.Since(resumed) > 5*time.Second
	})
	if w := touching(fake.Calls()); len(w) > 0 {
		t.Fatalf("after the pause, %d Nomad calls touched healthy clients, want 0 (a paused leader acted?): %v", len(w), w[:min(len(w), 10)])
	}
	if got := len(fake.JobIDs()); got != 3*n {
		t.Fatalf("after the pause: %d jobs, want %d", got, 3*n)
	}
	if !strings.Contains(planes[old].logs.String(), "leadership") {
		t.Errorf("the resumed plane did not log the end of its leadership:\n%s", planes[old].logs.String())
	}

	var worst time.Duration
	for _, d := range takeovers {
		worst = max(worst, d)
	}
	if worst > 15*time.Second {
		t.Errorf("a takeover took %s, want within 15 s of the SIGKILL", worst)
	}
	summary := fmt.Sprintf("HA: %d clients (%d jobs), 3 planes, lease 6 s: takeovers after SIGKILL %v; Nomad calls touching healthy clients: 0\n",
		n, 3*n, takeovers)
	t.Log(summary)
	if out := os.Getenv("KG_BENCH_OUT"); out != "" {
		f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			f.WriteString(summary)
			f.Close()
		}
	}
}
