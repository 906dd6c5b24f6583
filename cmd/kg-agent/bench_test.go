package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kgrca/kgplane/agent/simulate"
	"github.com/kgrca/kgplane/scenario"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

// BenchmarkGenerate: generating one scenario with noise 1 (a scenario file
// of ~500-1,500 records), every scenario in turn.
func BenchmarkGenerate(b *testing.B) {
	names := simulate.Names()
	records := 0
	for i := 0; b.Loop(); i++ {
		f, err := simulate.Generate(names[i%len(names)], simulate.Options{Seed: int64(i), Noise: 1})
		if err != nil {
			b.Fatal(err)
		}
		records += len(f.Records)
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// TestBenchReplay (KG_BENCH=1) replays a file of every scenario at noise 2
// (~20,000 records) into private topics of the real Kafka and reports the
// acknowledged records per second.
func TestBenchReplay(t *testing.T) {
	if os.Getenv("KG_BENCH") != "1" {
		t.Skip("a benchmark: KG_BENCH=1 go test -run TestBenchReplay -v ./cmd/kg-agent")
	}
	_, _, flags := testTopics(t)
	var all scenario.File
	for i, n := range simulate.Names() {
		f, err := simulate.Generate(n, simulate.Options{Seed: int64(i + 1), Noise: 2})
		if err != nil {
			t.Fatal(err)
		}
		if all.Header.Scenario == "" {
			all.Header = f.Header
		}
		all.Records = append(all.Records, f.Records...)
	}
	file := filepath.Join(t.TempDir(), "bench.jsonl")
	if err := writeScenario(file, &all); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(file)
	client := "bench-" + strings.TrimPrefix(kafkatest.Suffix(), ".")
	start := time.Now()
	out, err := runAgent(context.Background(), t, append([]string{"replay", "--client", client, "--file", file, "--register=false"}, flags...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	el := time.Since(start)
	fmt.Printf("replay: %d records (%.1f MB) in %s: %.0f records/s (read, checked, published, acknowledged)\n",
		len(all.Records), float64(st.Size())/1e6, el.Round(time.Millisecond), float64(len(all.Records))/el.Seconds())
}
