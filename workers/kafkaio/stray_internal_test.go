package kafkaio

import (
	"errors"
	"fmt"
	"testing"

	"github.com/IBM/sarama"
)

func TestForwardMessageKeepsTheRecord(t *testing.T) {
	p := &Producer{client: "af-9"}
	rec := Record{Topic: "state.k8s.topology", Partition: 5, Offset: 42, Key: []byte("bf-1::topology::Pod/ns/p"), Value: nil,
		Headers: []*sarama.RecordHeader{{Key: []byte("trace"), Value: []byte("t-1")}}}
	msg := p.forwardMessage(rec, "bf-1", "graph-builder af-9")
	if msg.Topic != rec.Topic || msg.Value != nil {
		t.Fatalf("topic %q value %v: want the same topic and a nil value (a tombstone stays one)", msg.Topic, msg.Value)
	}
	if k, _ := msg.Key.Encode(); string(k) != string(rec.Key) {
		t.Fatalf("key %q, want %q", k, rec.Key)
	}
	got := map[string]string{}
	for _, h := range msg.Headers {
		got[string(h.Key)] = string(h.Value)
	}
	want := map[string]string{"trace": "t-1", HeaderForwardedFrom: "state.k8s.topology/5@42", HeaderForwardedBy: "graph-builder af-9"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("headers %v, want %v", got, want)
	}
	// It goes to the key's client's partition, not the producer's.
	part, err := NewClientPartitioner(rec.Topic).Partition(msg, 12)
	if err != nil || part != PartitionFor("bf-1", 12) {
		t.Fatalf("partition %d, %v; want bf-1's %d", part, err, PartitionFor("bf-1", 12))
	}
}

// A producer that serves no client (the control plane) spreads dead letters
// by key; a nil key goes to partition 0.
func TestClientlessDeadLetterPartition(t *testing.T) {
	p := &Producer{}
	part := NewClientPartitioner("dlq.raw")
	for _, key := range [][]byte{[]byte("Not a key!"), []byte("x"), nil} {
		msg := p.DeadLetterMessage("dlq.raw", Record{Key: key}, "kg-control-plane", errors.New("bad"))
		got, err := part.Partition(msg, 4)
		if err != nil || got < 0 || got >= 4 {
			t.Fatalf("key %q: partition %d, %v", key, got, err)
		}
		again, _ := part.Partition(msg, 4)
		if again != got || (key == nil && got != 0) {
			t.Fatalf("key %q: partitions %d then %d, want one stable partition (0 for nil)", key, got, again)
		}
	}
}

func TestPlacerCacheIsBounded(t *testing.T) {
	p := NewPlacer("")
	for i := range maxPlacerCache + 10 {
		p.Place(fmt.Appendf(nil, "many-%d", i), nil, 0, 8)
		if len(p.cache) > maxPlacerCache {
			t.Fatalf("cache holds %d clients, the bound is %d", len(p.cache), maxPlacerCache)
		}
	}
}
