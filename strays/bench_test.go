package strays_test

// The stray consumer's standing cost: `make bench-strays` (KG_BENCH=1). A
// test, not a Go benchmark: what it measures (how long covering takes, CPU
// and memory while covering idle partitions) does not fit ns/op. It prints a
// report for docs/bench-kafka.md.

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/strays"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestBenchIdleCoverage: the five data topics with P partitions (default
// 1,000) and 100 live clients, as a control plane sees them at P = 10 ×
// clients: how long until every partition no client owns is read, then CPU,
// heap and goroutines over a minute with no traffic.
func TestBenchIdleCoverage(t *testing.T) {
	if os.Getenv("KG_BENCH") != "1" {
		t.Skip("benchmark: run with KG_BENCH=1 (make bench-strays)")
	}
	p := int32(1000)
	if v, _ := strconv.Atoi(os.Getenv("KG_BENCH_PARTITIONS")); v > 0 {
		p = int32(v)
	}
	const clients = 100
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	topics := strays.DefaultTopics(sfx)
	for _, tp := range topics {
		kafkatest.CreateTopics(t, brokers, p, tp.Name)
	}
	kafkatest.CreateTopics(t, brokers, 1, kafkaio.TopicDLQRaw+sfx, kafkaio.TopicDLQNormalized+sfx)
	// The broker creates 5 × P partition logs; wait until each answers, so
	// what is measured is the coverage, not the topic creation.
	client, err := sarama.NewClient(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, tp := range topics {
		for part := range p {
			testutil.Eventually(t, 2*time.Minute, fmt.Sprintf("%s/%d to answer", tp.Name, part), func() bool {
				if _, err := client.GetOffset(tp.Name, part, sarama.OffsetNewest); err != nil {
					_ = client.RefreshMetadata(tp.Name)
					return false
				}
				return true
			})
		}
	}
	ids := make([]string, clients)
	owned := map[int32]bool{}
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%03d-%s", i, sfx[1:])
		owned[kafkaio.PartitionFor(ids[i], p)] = true
	}
	want := len(topics) * (int(p) - len(owned))

	c, err := strays.New(strays.Config{Brokers: brokers, Topics: topics, GroupID: "kg-strays-bench" + sfx, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	c.SetLiveClients(ids)
	start := time.Now()
	kafkatest.Run(t, func(ctx context.Context) error { c.Run(ctx); return nil })
	covered := func() int {
		n := 0
		for _, ps := range c.Covered() {
			n += len(ps)
		}
		return n
	}
	testutil.Eventually(t, 5*time.Minute, "coverage of every partition no client owns", func() bool { return covered() == want })
	ready := time.Since(start)

	const idle = time.Minute
	cpu0, t0 := cpuTime(), time.Now()
	deadline := time.NewTimer(idle)
	<-deadline.C // measuring an idle minute is the point; nothing is awaited
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("stray consumer, %d clients, 5 topics × %d partitions (%s, %d CPUs, %s; load %s)", clients, p, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), string(load[:14]))
	t.Logf("covering %d partitions no client owns after %s", want, ready.Round(10*time.Millisecond))
	t.Logf("idle for %s: CPU %.1f %% of one core, heap in use %d MiB, stacks %d MiB, goroutines %d",
		idle, 100*float64(cpuTime()-cpu0)/float64(time.Since(t0)), ms.HeapInuse>>20, ms.StackInuse>>20, runtime.NumGoroutine())
}
