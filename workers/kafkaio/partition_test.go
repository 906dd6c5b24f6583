package kafkaio

import (
	"fmt"
	"testing"

	"github.com/IBM/sarama"
)

// javaMurmur2 are org.apache.kafka.common.utils.Utils.murmur2 values from
// Kafka's own UtilsTest.testMurmur2 (signed Java ints).
var javaMurmur2 = map[string]int32{
	"21":                         -973932308,
	"foobar":                     -790332482,
	"a-little-bit-long-string":   -985981536,
	"a-little-bit-longer-string": -1486304829,
	"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
	"abc": 479470107,
}

// javaPartition is DefaultPartitioner/BuiltInPartitioner.partitionForKey:
// Utils.toPositive(murmur2(key)) % numPartitions.
func javaPartition(hash int32, n int32) int32 { return (hash & 0x7fffffff) % n }

func TestPartitionForMatchesJava(t *testing.T) {
	for key, hash := range javaMurmur2 {
		for _, n := range []int32{1, 2, 3, 7, 12, 64, 100, 1000} {
			if got, want := PartitionFor(key, n), javaPartition(hash, n); got != want {
				t.Errorf("PartitionFor(%q, %d) = %d, want %d (Java murmur2 %d)", key, n, got, want, hash)
			}
		}
	}
}

func TestPartitionForEdgeCases(t *testing.T) {
	if got := PartitionFor("af-9", 0); got != 0 {
		t.Fatalf("PartitionFor with 0 partitions = %d, want 0", got)
	}
	// Deterministic and in range for many ids.
	for i := range 500 {
		id := fmt.Sprintf("client-%03d", i)
		p := PartitionFor(id, 12)
		if p < 0 || p >= 12 || p != PartitionFor(id, 12) {
			t.Fatalf("PartitionFor(%q, 12) = %d: out of range or not deterministic", id, p)
		}
	}
}

func TestClientPartitioner(t *testing.T) {
	p := NewClientPartitioner("raw.k8s.events")
	if !p.RequiresConsistency() {
		t.Fatal("client partitioner must require consistency")
	}
	const n = 12
	want := PartitionFor("af-9", n)
	for _, key := range []string{"af-9::event::a", "af-9::log::b", "af-9::topology::Pod/ns/x", "af-9::evt-0123456789abcdef", "af-9"} {
		got, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n)
		if err != nil || got != want {
			t.Errorf("Partition(%q) = %d, %v; want %d (the client's partition)", key, got, err, want)
		}
	}
	for _, key := range []string{"", "::event::a", "AF::event::x", "Not a key!"} {
		if got, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n); err == nil {
			t.Errorf("Partition(%q) = %d, want an error", key, got)
		}
	}
	if _, err := p.Partition(&sarama.ProducerMessage{}, n); err == nil {
		t.Error("Partition(nil key) succeeded, want an error")
	}
	// Dead letters follow their worker's client, whatever the key says.
	dl := &sarama.ProducerMessage{Key: sarama.StringEncoder("Not a key!"), Metadata: &msgMeta{client: "af-9", deadLetter: true}}
	if got, err := p.Partition(dl, n); err != nil || got != want {
		t.Errorf("dead letter partition = %d, %v; want %d", got, err, want)
	}
}
