package kafkaio

import (
	"testing"

	"github.com/IBM/sarama"
)

func BenchmarkParseKey(b *testing.B) {
	key := []byte("test-client-001::event::0b7e3c1a-1111-4c4c-9a9a-123456789abc")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseKey(key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHasClientPrefix is the per-record cost of skipping other clients.
func BenchmarkHasClientPrefix(b *testing.B) {
	key := []byte("test-client-001::event::0b7e3c1a-1111-4c4c-9a9a-123456789abc")
	b.ReportAllocs()
	for b.Loop() {
		if HasClientPrefix(key, "test-client-002") {
			b.Fatal("matched another client")
		}
	}
}

// BenchmarkClientPartitioner is the producer's per-record partitioning cost.
func BenchmarkClientPartitioner(b *testing.B) {
	p := NewClientPartitioner("events.normalized")
	msg := &sarama.ProducerMessage{Key: sarama.StringEncoder("test-client-001::evt-0123456789abcdef")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Partition(msg, 12); err != nil {
			b.Fatal(err)
		}
	}
}
