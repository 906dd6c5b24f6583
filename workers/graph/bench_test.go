package graph

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/internal/testinfra"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

// benchReasons is the mix of a busy cluster: mostly pod lifecycle, then
// restarts, probe failures and scheduling trouble, so the rule probes do real
// work; benchEvents adds the rare ones (evictions, a node going NotReady).
var benchReasons = []struct{ reason, message string }{
	{"Scheduled", "Successfully assigned shop/web to node"},
	{"Pulling", "Pulling image \"shop/web:v1\""},
	{"Pulled", "Container image already present on machine"},
	{"Created", "Created container web"},
	{"Started", "Started container web"},
	{"Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"},
	{"Unhealthy", "Liveness probe failed: connection refused"},
	{"Killing", "Container web failed liveness probe, will be restarted"},
	{"BackOff", "Back-off restarting failed container web"},
	{"Pulled", "Container image already present on machine"},
	{"Created", "Created container web"},
	{"Started", "Started container web"},
	{"FailedScheduling", "0/50 nodes are available: 50 Insufficient memory."},
	{"OOMKilling", "Memory cgroup out of memory: Killed process 4242"},
	{"BackOff", "Back-off restarting failed container web"},
	{"FailedMount", `MountVolume.SetUp failed for volume "cfg" : configmap "web" not found`},
	{"Failed", `Failed to pull image "shop/web:v2": not found`},
	{"BackOff", `Back-off pulling image "shop/web:v2"`},
	{"Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503"},
	{"BackOff", "Back-off restarting failed container web"},
}

// benchEvents makes n distinct normalized events over KG_BENCH_PODS pods
// (default 1,999) on 50 nodes, 10 ms apart from start (so every rule window holds
// many candidates). The pod count must be prime to the 20 reasons of the mix,
// so every pod sees every reason in turn and the rules find real causes and
// effects on the same pod and its node.
func benchEvents(client, run string, n int, start time.Time) []kafkaio.Record {
	pods, err := strconv.Atoi(envOr("KG_BENCH_PODS", "1999"))
	if err != nil || pods < 1 {
		pods = 1999
	}
	out := make([]kafkaio.Record, n)
	for i := range out {
		r := benchReasons[i%len(benchReasons)]
		switch {
		case i%1000 == 999:
			r.reason, r.message = "NodeNotReady", "Node status is now: NodeNotReady"
		case i%200 == 100:
			r.reason, r.message = "Evicted", "The node was low on resource: memory."
		}
		pod := i % pods
		e := ev{name: run + "-" + strconv.Itoa(i), reason: r.reason, message: r.message, kind: "Pod", namespace: "ns-" + strconv.Itoa(pod%7),
			objName: "pod-" + strconv.Itoa(pod), host: "node-" + strconv.Itoa(pod%50)}
		if r.reason == "NodeNotReady" {
			e.kind, e.namespace, e.objName = "Node", "", "node-"+strconv.Itoa(pod%50)
		}
		rec := e.record(client)
		rec.Value = replaceTimestamp(rec.Value, start.Add(time.Duration(i)*10*time.Millisecond))
		out[i] = rec
	}
	return out
}

func replaceTimestamp(v []byte, ts time.Time) []byte {
	s := string(v)
	old := t0.Format(time.RFC3339Nano)
	return []byte(replaceAll(s, old, ts.UTC().Format(time.RFC3339Nano)))
}

// BenchmarkGraphWrite writes events into Neo4j Community in batches of 500
// (one transaction each, the builder's way) and one transaction per event (the
// seed design's way), in the same run. Its metric is events/s.
//
//	go test ./workers/graph -run '^$' -bench GraphWrite -benchtime 20s
func BenchmarkGraphWrite(b *testing.B) {
	for _, size := range []int{2000, 500, 1} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			client := uniqueClient("gb-bench")
			bld, _, dlq := newTestBuilder(b, client)
			recs := benchEvents(client, client, b.N, time.Now().Add(-time.Hour))
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < len(recs); i += size {
				if err := bld.Handle(ctx, recs[i:min(i+size, len(recs))]); err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if l := dlq.all(); len(l) > 0 {
				b.Fatalf("dead letters: %q", l[:1])
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
		})
	}
}

// TestBenchEndToEndLatency measures events.normalized → committed graph at a
// steady rate through the real Kafka and Neo4j. It is a benchmark, so it only
// runs with KG_BENCH=1:
//
//	KG_BENCH=1 go test ./workers/graph -run BenchEndToEnd -v -timeout 5m
//
// KG_BENCH_RATE (events/s, default 1000), KG_BENCH_DURATION (default 20s) and
// GRAPH_BATCH_LINGER (default 200ms) vary it.
func TestBenchEndToEndLatency(t *testing.T) {
	if os.Getenv("KG_BENCH") != "1" {
		t.Skip("a benchmark: set KG_BENCH=1")
	}
	rate, _ := strconv.Atoi(envOr("KG_BENCH_RATE", "1000"))
	dur, _ := time.ParseDuration(envOr("KG_BENCH_DURATION", "20s"))
	brokers, topics := kafkaSetup(t)
	uri := testinfra.Neo4jURI(t)
	client := uniqueClient("gb-latency")
	d := testDriver(t, uri)
	cleanupClient(t, d, client)

	var err error
	cfg := runConfig(client, uri, brokers, topics)
	cfg.BatchSize, cfg.BatchLinger = DefaultBatchSize, DefaultBatchLinger
	if v := os.Getenv("GRAPH_BATCH_LINGER"); v != "" {
		if cfg.BatchLinger, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	bld, err := NewBuilder(d, client, "", topics, DefaultRules(), (&fakeDLQ{}).send, prometheus.NewRegistry(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := bld.EnsureSchema(context.Background(), IsolationShared); err != nil {
		t.Fatal(err)
	}
	cons, err := kafkaio.NewConsumer(kafkaio.ConsumerConfig{Brokers: brokers, Role: kafkaio.RoleGraphBuilder, ClientID: client,
		Topics: []string{topics.Events}, MaxBatch: cfg.BatchSize, Linger: cfg.BatchLinger, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lat []time.Duration
	stop := kafkatest.Run(t, func(ctx context.Context) error {
		return cons.Run(ctx, func(ctx context.Context, batch []kafkaio.Record) error {
			if err := bld.Handle(ctx, batch); err != nil {
				return err
			}
			now := time.Now()
			mu.Lock()
			for _, r := range batch {
				lat = append(lat, now.Sub(r.Timestamp))
			}
			mu.Unlock()
			return nil
		})
	})

	// Wait until the consumer owns the partition: one warm-up record.
	warm := benchEvents(client, client+"-warm", 1, time.Now())
	produceAt(t, brokers, topics.Events, warm)
	testutil.Eventually(t, 60*time.Second, "the warm-up event", func() bool { mu.Lock(); defer mu.Unlock(); return len(lat) == 1 })
	mu.Lock()
	lat = lat[:0]
	mu.Unlock()

	p, err := sarama.NewAsyncProducer(brokers, benchProducerConfig())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range p.Successes() {
		}
	}()
	go func() {
		for e := range p.Errors() {
			t.Errorf("produce: %v", e.Err)
		}
	}()
	n := rate * int(dur/time.Second)
	recs := benchEvents(client, client, n, time.Now())
	tick := time.NewTicker(10 * time.Millisecond) // rate/100 records per tick
	perTick := rate / 100
	begin := time.Now()
	for i := 0; i < n; i += perTick {
		<-tick.C
		for _, r := range recs[i:min(i+perTick, n)] {
			p.Input() <- &sarama.ProducerMessage{Topic: topics.Events, Key: sarama.ByteEncoder(r.Key), Value: sarama.ByteEncoder(r.Value), Timestamp: time.Now()}
		}
	}
	tick.Stop()
	sent := time.Since(begin)
	p.AsyncClose()
	testutil.Eventually(t, 2*time.Minute, "every event in the graph", func() bool { mu.Lock(); defer mu.Unlock(); return len(lat) >= n })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(lat)
	pct := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	t.Logf("end-to-end latency at %d events/s for %s, linger %s (%d events, sent in %s): p50 %s p90 %s p99 %s max %s",
		rate, dur, cfg.BatchLinger, len(lat), sent.Round(time.Millisecond), pct(0.5).Round(time.Millisecond), pct(0.9).Round(time.Millisecond),
		pct(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
}

func benchProducerConfig() *sarama.Config {
	c := kafkatest.Config()
	c.Producer.Return.Errors = true
	c.Producer.Flush.Frequency = 2 * time.Millisecond
	c.Producer.Compression = sarama.CompressionLZ4
	return c
}

func produceAt(t *testing.T, brokers []string, topic string, recs []kafkaio.Record) {
	t.Helper()
	var msgs []*sarama.ProducerMessage
	for _, r := range recs {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(r.Key), Value: sarama.ByteEncoder(r.Value), Timestamp: time.Now()})
	}
	kafkatest.Produce(t, brokers, msgs)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
