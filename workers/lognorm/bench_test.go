package lognorm

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkLogNormalize measures the worker's per-record path (decode,
// normalize, encode) on typical records. Records/s = 1e9 / ns/op.
func BenchmarkLogNormalize(b *testing.B) {
	for _, name := range []string{"vector-plain-error-word", "vector-json-zap-error", "fluentbit-nginx-error-refused", "vector-java-spring-trace"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "logs", name+".json"))
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
