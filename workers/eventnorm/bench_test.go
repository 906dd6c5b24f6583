package eventnorm

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkEventNormalize measures the worker's per-record path: decode the
// raw JSON, normalize, encode. Events/s = 1e9 / ns/op.
func BenchmarkEventNormalize(b *testing.B) {
	for _, name := range []string{"crash-backoff-restarting", "sched-failedscheduling-series", "config-createcontainerconfigerror-exporter"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "events", name+".json"))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Normalize("key-1", raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecode compares the decoding step alone: go-json (what
// Normalize uses) against encoding/json.
func BenchmarkDecode(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "events", "crash-backoff-restarting.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("go-json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			var ev rawEvent
			if err := decodeEvent(raw, &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			var ev rawEvent
			if err := stdDecodeObject("event", raw, &ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
