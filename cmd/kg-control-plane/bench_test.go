package main

// The control-plane benchmark: `make bench-control-plane` (KG_BENCH=1). It is a
// test, not a Go benchmark, because what it measures (latency percentiles of a
// daemon under a realistic load, and that daemon's CPU and memory) does not fit
// ns/op. It runs the real binary against the real Kafka and a fake Nomad, and
// prints a report for docs/benchmarks.md.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/fakenomad"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// jobTimes collects, per client, when its jobs were registered and purged.
type jobTimes struct {
	mu         sync.Mutex
	registered map[string][]time.Time
	purged     map[string][]time.Time
}

func clientOfJob(id string) string {
	for _, p := range []string{"kg-event-normalizer-", "kg-log-normalizer-", "kg-graph-builder-"} {
		if strings.HasPrefix(id, p) {
			return strings.TrimPrefix(id, p)
		}
	}
	return ""
}

func (j *jobTimes) observe(op, id string, at time.Time) {
	c := clientOfJob(id)
	j.mu.Lock()
	defer j.mu.Unlock()
	if op == "register" {
		j.registered[c] = append(j.registered[c], at)
	} else {
		j.purged[c] = append(j.purged[c], at)
	}
}

// doneAt is when the client's third job event of the kind happened.
func (j *jobTimes) doneAt(m map[string][]time.Time, c string) (time.Time, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	ts := m[c]
	if len(ts) < 3 {
		return time.Time{}, false
	}
	return ts[2], true
}

func percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	slices.Sort(ds)
	p := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s max=%s", len(ds), p(0.50).Round(time.Millisecond),
		p(0.90).Round(time.Millisecond), p(0.99).Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}

func scrape(t *testing.T, addr string) map[string]float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err == nil {
			out[name] = f
		}
	}
	return out
}

func TestBenchControlPlane(t *testing.T) {
	if os.Getenv("KG_BENCH") != "1" {
		t.Skip("benchmark: run with KG_BENCH=1 (make bench-control-plane)")
	}
	clients := 10000
	if v, _ := strconv.Atoi(os.Getenv("KG_BENCH_CLIENTS")); v > 0 {
		clients = v
	}
	const threshold = time.Minute
	const hbEvery = 30 * time.Second
	e := newKafkaEnv(t)
	fake := fakenomad.New()
	defer fake.Close()
	fake.SetRecording(false)
	jt := &jobTimes{registered: map[string][]time.Time{}, purged: map[string][]time.Time{}}
	fake.SetObserver(jt.observe)
	bin := buildBinary(t)
	p := startPlane(t, bin, e, fake.URL, "1", "NOMAD_RATE_LIMIT=20000", "KG_RECONCILE_WORKERS=8",
		"HEARTBEAT_CHECK_INTERVAL_SECONDS=30", "LOG_LEVEL=warn")

	// e.client is configured for manual partitioning with successes returned.
	prod, err := sarama.NewAsyncProducerFromClient(e.client)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prod.Close() })
	go func() {
		for range prod.Successes() {
		}
	}()
	go func() {
		for err := range prod.Errors() {
			t.Errorf("produce: %v", err)
		}
	}()
	hbParts, _ := e.client.Partitions(e.heartbeat)
	sendAsync := func(topic, id string, v []byte, parts int) time.Time {
		now := time.Now()
		prod.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(id), Value: sarama.ByteEncoder(v),
			Partition: kafkaio.PartitionFor(id, int32(parts)), Timestamp: now}
		return now
	}
	ids := make([]string, clients)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%05d", i)
	}
	regVal := func(id string) []byte {
		b, _ := json.Marshal(map[string]string{"client_id": id, "cluster_name": "bench"})
		return b
	}
	hbVal := func(id string) []byte {
		b, _ := json.Marshal(map[string]string{"client_id": id, "timestamp": time.Now().UTC().Format(time.RFC3339Nano)})
		return b
	}

	// Heartbeats run from the start, every client every 30 s, spread evenly,
	// as real agents would; heartbeats that overtake their registration are
	// ignored by design.
	lastHB := make(map[string]time.Time, clients)
	var lhMu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	silenced := map[string]bool{}
	var silMu sync.Mutex
	wg.Add(1)
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	})
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		perTick := max(1, clients/int(hbEvery/(100*time.Millisecond)))
		i := 0
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for k := 0; k < perTick; k++ {
				id := ids[i%clients]
				i++
				silMu.Lock()
				s := silenced[id]
				silMu.Unlock()
				if s {
					continue
				}
				at := sendAsync(e.heartbeat, id, hbVal(id), len(hbParts))
				lhMu.Lock()
				lastHB[id] = at
				lhMu.Unlock()
			}
		}
	}()
	// Phase 1: a burst of registrations.
	t.Logf("phase 1: %d registrations in a burst", clients)
	sentAt := make(map[string]time.Time, clients)
	burstStart := time.Now()
	for _, id := range ids {
		sentAt[id] = sendAsync(e.registry, id, regVal(id), 1)
	}
	testutil.Eventually(t, 10*time.Minute, "every client's jobs registered", func() bool {
		jt.mu.Lock()
		defer jt.mu.Unlock()
		return len(jt.registered) == clients && func() bool {
			for _, ts := range jt.registered {
				if len(ts) < 3 {
					return false
				}
			}
			return true
		}()
	})
	burstDur := time.Since(burstStart)
	var burstLat []time.Duration
	for _, id := range ids {
		at, _ := jt.doneAt(jt.registered, id)
		burstLat = append(burstLat, at.Sub(sentAt[id]))
	}

	// Phase 2: steady state, while registrations of new clients arrive at 5/s
	// (their latency is the idle-path number).
	m0 := scrape(t, p.addr)
	steadyStart := time.Now()
	var paced []time.Duration
	pacedSent := map[string]time.Time{}
	for i := 0; i < 150; i++ {
		id := fmt.Sprintf("paced-%04d", i)
		pacedSent[id] = sendAsync(e.registry, id, regVal(id), 1)
		deadline := time.Now().Add(200 * time.Millisecond)
		testutil.Eventually(t, time.Second, "pace", func() bool { return !time.Now().Before(deadline) })
	}
	for id, s := range pacedSent {
		testutil.Eventually(t, 30*time.Second, "paced client's jobs", func() bool { _, ok := jt.doneAt(jt.registered, id); return ok })
		at, _ := jt.doneAt(jt.registered, id)
		paced = append(paced, at.Sub(s))
		silMu.Lock()
		silenced[id] = true // paced clients never heartbeat: they go stale, not measured
		silMu.Unlock()
	}
	testutil.Eventually(t, 2*time.Minute, "a 90 s steady window", func() bool { return time.Since(steadyStart) >= 90*time.Second })
	m1 := scrape(t, p.addr)
	steady := time.Since(steadyStart)
	cpu := m1["process_cpu_seconds_total"] - m0["process_cpu_seconds_total"]
	rss := m1["process_resident_memory_bytes"]
	heap := m1["go_memstats_heap_inuse_bytes"]
	gor := m1["go_goroutines"]
	active := m1[`kgplane_clients{phase="active"}`]

	// Phase 3: 200 clients fall silent; measure purge time after their deadline.
	t.Logf("phase 3: 200 clients stop heartbeating")
	silent := ids[:200]
	silMu.Lock()
	for _, id := range silent {
		silenced[id] = true
	}
	silMu.Unlock()
	var staleLat []time.Duration
	for _, id := range silent {
		testutil.Eventually(t, threshold+hbEvery+time.Minute, "silent client purged", func() bool { _, ok := jt.doneAt(jt.purged, id); return ok })
		at, _ := jt.doneAt(jt.purged, id)
		lhMu.Lock()
		deadline := lastHB[id].Add(threshold)
		lhMu.Unlock()
		staleLat = append(staleLat, at.Sub(deadline))
	}
	close(stop)
	wg.Wait()
	m2 := scrape(t, p.addr)

	cpuModel := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpuModel = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	report := fmt.Sprintf(`control-plane benchmark (%s, %d cores, %s; real Kafka on loopback, fake Nomad over HTTP)
clients: %d, heartbeat every %s, stale threshold %s, NOMAD_RATE_LIMIT=20000, 8 workers
registration burst (%d at once) → 3 jobs registered: %s; all done in %s (%.0f clients/s)
paced registrations (5/s during steady state) → 3 jobs registered: %s
steady state over %s with %.0f active clients: CPU %.2f s (%.1f%% of one core), RSS %.0f MiB, Go heap in use %.0f MiB, goroutines %.0f
stale → purged, measured from each client's deadline (last heartbeat + threshold): %s
Nomad calls: submits %.0f, purges %.0f, lists %.0f; Nomad errors %.0f
`, cpuModel, runtime.NumCPU(), runtime.Version(), clients, hbEvery, threshold,
		clients, percentiles(burstLat), burstDur.Round(time.Millisecond), float64(clients)/burstDur.Seconds(),
		percentiles(paced),
		steady.Round(time.Second), active, cpu, 100*cpu/steady.Seconds(), rss/(1<<20), heap/(1<<20), gor,
		percentiles(staleLat),
		m2[`kgplane_nomad_calls_total{op="submit"}`], m2[`kgplane_nomad_calls_total{op="purge"}`], m2[`kgplane_nomad_calls_total{op="list"}`],
		sumPrefix(m2, "kgplane_nomad_errors_total"))
	fmt.Print(report)
	if out := os.Getenv("KG_BENCH_OUT"); out != "" {
		os.WriteFile(out, []byte(report), 0o644)
	}
}

func sumPrefix(m map[string]float64, prefix string) float64 {
	var s float64
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			s += v
		}
	}
	return s
}
