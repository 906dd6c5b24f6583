package main

// Kafka outage, with real processes: the control plane binary on a private
// Kafka broker that the test stops for twice the stale threshold while 100
// clients heartbeat, and a fake Nomad that records every call.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/fakenomad"
	"github.com/kgrca/kgplane/internal/testinfra"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// agents heartbeats for many clients the way their agents would: every
// interval, riding out a Kafka outage (a failed send is counted and tried
// again at the next tick, with a new connection).
type agents struct {
	failed atomic.Int64
	sent   atomic.Int64
	stop   context.CancelFunc
	done   chan struct{}
}

func startAgents(t *testing.T, brokers []string, topic string, ids []string, every time.Duration) *agents {
	ctx, cancel := context.WithCancel(context.Background())
	a := &agents{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		var client sarama.Client
		var producer sarama.SyncProducer
		closeConn := func() {
			if producer != nil {
				producer.Close()
				client.Close()
				producer, client = nil, nil
			}
		}
		defer closeConn()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			err := func() error {
				if producer == nil {
					sc := kafkaio.NewSaramaConfig(kafkaio.Security{}, "kg-test-agents")
					sc.Producer.Return.Successes = true
					sc.Producer.Partitioner = sarama.NewManualPartitioner
					var err error
					if client, err = sarama.NewClient(brokers, sc); err != nil {
						return err
					}
					if producer, err = sarama.NewSyncProducerFromClient(client); err != nil {
						client.Close()
						client = nil
						return err
					}
				}
				now := time.Now().UTC().Format(time.RFC3339Nano)
				msgs := make([]*sarama.ProducerMessage, 0, len(ids))
				for _, id := range ids {
					msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(id),
						Value:     sarama.StringEncoder(`{"client_id":"` + id + `","timestamp":"` + now + `"}`),
						Partition: kafkaio.PartitionFor(id, 3)})
				}
				return producer.SendMessages(msgs)
			}()
			if err != nil {
				a.failed.Add(1)
				closeConn()
			} else {
				a.sent.Add(1)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-a.done })
	return a
}

func buildKgctl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kgctl")
	if out, err := exec.Command("go", "build", "-o", bin, "../kgctl").CombinedOutput(); err != nil {
		t.Fatalf("building kgctl: %v\n%s", err, out)
	}
	return bin
}

func (p *plane) get(path string) string {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + p.addr + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Kafka stopped for twice the stale threshold while 100 clients heartbeat:
// nothing is purged (the plane has no evidence that anyone died: its own
// ingest is stalled), /readyz, the log and kgplane_disruption say so, and once
// Kafka is back every client is active with a fresh heartbeat within one
// check interval. One client heartbeats with the real `kgctl heartbeat
// --every`, which must ride out the outage (it used to exit at the first
// failed send).
//
// The plane runs alone (KG_ELECTION=false): with an election, the outage
// would also end the leader's lease, and fencing would hide a plane that
// decided to purge everyone.
func TestKafkaOutageHoldsPurges(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: a private Kafka broker that the test stops")
	}
	began := time.Now()
	k := testinfra.StartPrivateKafka(t)
	t.Logf("private Kafka up after %s", time.Since(began).Round(time.Second))
	e := newKafkaEnvOn(t, k.Brokers)
	fake := fakenomad.New()
	defer fake.Close()
	bin, kgctl := buildBinary(t), buildKgctl(t)
	const (
		threshold     = 12 * time.Second // STALE_CLIENT_THRESHOLD_MINUTES=0.2
		checkInterval = 10 * time.Second
		beatEvery     = 2 * time.Second
		n             = 100
	)
	p := startPlane(t, bin, e, fake.URL, "0.2", "KG_ELECTION=false",
		fmt.Sprintf("HEARTBEAT_CHECK_INTERVAL_SECONDS=%d", int(checkInterval.Seconds())))

	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("outage-%03d", i)
	}
	e.registerAll(t, ids)
	beats := startAgents(t, e.brokers, e.heartbeat, ids[1:], beatEvery)
	kgctlOut := &testutil.SyncBuffer{}
	hb := exec.Command(kgctl, "heartbeat", "--client", ids[0], "--every", beatEvery.String(),
		"--kafka-brokers", strings.Join(e.brokers, ","), "--heartbeat-topic", e.heartbeat)
	hb.Stdout, hb.Stderr = kgctlOut, kgctlOut
	hb.Env = os.Environ()
	if err := hb.Start(); err != nil {
		t.Fatal(err)
	}
	hbExited := make(chan error, 1)
	go func() { hbExited <- hb.Wait() }()
	t.Cleanup(func() {
		hb.Process.Kill()
		<-hbExited
	})

	// allActiveSince reports whether every client is active with a heartbeat
	// read from Kafka after since, and no purge is held.
	allActiveSince := func(since time.Time) bool {
		v, err := p.view()
		if err != nil || v.Disruption != "" {
			return false
		}
		active := 0
		for _, c := range v.Clients {
			if c.Phase == "active" && c.LastHeartbeat != nil && c.LastHeartbeat.After(since) {
				active++
			}
		}
		return active == n
	}
	testutil.Eventually(t, 3*time.Minute, fmt.Sprintf("the %d jobs of %d clients", 3*n, n), func() bool { return len(fake.JobIDs()) == 3*n })
	testutil.Eventually(t, time.Minute, "every client active", func() bool { return allActiveSince(began) })
	t.Logf("%d clients live after %s", n, time.Since(began).Round(time.Second))

	fake.ResetCalls()
	k.Stop()
	stopped := time.Now()
	testutil.Eventually(t, threshold, "/readyz to say that purges are held", func() bool {
		return strings.Contains(p.get("/readyz"), "purges held: ingest_stalled")
	})
	if m := p.get("/metrics"); !strings.Contains(m, `kgplane_disruption{reason="ingest_stalled"} 1`) {
		t.Errorf("kgplane_disruption{reason=\"ingest_stalled\"} is not 1 during the outage:\n%s", grepLines(m, "kgplane_disruption"))
	}
	// The outage lasts twice the threshold: the fault's length, not a wait
	// for an outcome.
	<-time.After(2*threshold - time.Since(stopped))
	if w := touching(fake.Calls()); len(w) > 0 {
		t.Fatalf("%d Nomad calls touched healthy clients during the outage, want 0: %v", len(w), w[:min(len(w), 10)])
	}
	failedBefore := beats.failed.Load()
	k.Start()
	back := time.Now()
	t.Logf("Kafka down for %s (%d heartbeat rounds failed meanwhile)", back.Sub(stopped).Round(time.Second), failedBefore)

	testutil.Eventually(t, 3*time.Minute, "every client active with a heartbeat from after the outage", func() bool { return allActiveSince(back) })
	recovered := time.Since(back)
	t.Logf("all %d clients active again %s after Kafka returned (check interval %s)", n, recovered.Round(100*time.Millisecond), checkInterval)

	// Two resyncs later, still no call for anyone: nobody was purged, and
	// nobody resubmitted.
	listed := len(fake.CallsOf("list"))
	testutil.Eventually(t, 4*checkInterval, "two resyncs after the outage", func() bool { return len(fake.CallsOf("list")) >= listed+2 })
	if w := touching(fake.Calls()); len(w) > 0 {
		t.Fatalf("%d Nomad calls touched healthy clients after the outage, want 0: %v", len(w), w[:min(len(w), 10)])
	}
	if got := len(fake.JobIDs()); got != 3*n {
		t.Fatalf("%d jobs after the outage, want %d", got, 3*n)
	}
	select {
	case err := <-hbExited:
		t.Fatalf("kgctl heartbeat --every exited during the outage (%v):\n%s", err, kgctlOut.String())
	default:
	}
	logs := p.logs.String()
	for _, want := range []string{"heartbeat ingest is not keeping up", "disruption over"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the plane's log lacks %q:\n%s", want, logs)
		}
	}
	// Within a few check intervals: the plane's consumer and the heartbeat
	// senders reconnect with their own backoffs first.
	if recovered > 3*checkInterval {
		t.Errorf("clients active again %s after Kafka returned, want within three check intervals (%s)", recovered, 3*checkInterval)
	}
	summary := fmt.Sprintf("Kafka outage: %d clients, threshold %s, broker down %s: Nomad calls touching them 0; all active again %s after Kafka returned (check interval %s)\n",
		n, threshold, back.Sub(stopped).Round(time.Second), recovered.Round(100*time.Millisecond), checkInterval)
	t.Log(summary)
	if out := os.Getenv("KG_BENCH_OUT"); out != "" {
		if f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			f.WriteString(summary)
			f.Close()
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
