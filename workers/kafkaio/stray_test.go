package kafkaio_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

func TestPlacerPlace(t *testing.T) {
	const n = 8
	self := "af-9"
	here := kafkaio.PartitionFor(self, n)
	resident := kafkatest.ClientOn(t, "resident", here, n)
	elsewhere := kafkatest.ClientOn(t, "other", (here+1)%n, n)
	forwarded := []*sarama.RecordHeader{{Key: []byte(kafkaio.HeaderForwardedFrom), Value: []byte("raw.k8s.events/3@17")}}
	tests := []struct {
		name    string
		key     []byte
		headers []*sarama.RecordHeader
		self    string
		want    kafkaio.Placement
		client  string
		kind    string
		reason  string
	}{
		{"own prefixed key", []byte(self + "::event::u-1"), nil, self, kafkaio.PlaceOwn, "", "", ""},
		{"own client id alone", []byte(self), nil, self, kafkaio.PlaceOwn, "", "", ""},
		{"own key with a bad rest is still own: its worker dead-letters it precisely", []byte(self + "::bogus"), nil, self, kafkaio.PlaceOwn, "", "", ""},
		{"resident", []byte(resident + "::event::u-1"), nil, self, kafkaio.PlaceResident, resident, "", ""},
		{"resident, client id alone", []byte(resident), nil, self, kafkaio.PlaceResident, resident, "", ""},
		{"misplaced", []byte(elsewhere + "::event::u-1"), nil, self, kafkaio.PlaceForward, elsewhere, kafkaio.StrayWrongPartition, ""},
		{"misplaced, client id alone", []byte(elsewhere), nil, self, kafkaio.PlaceForward, elsewhere, kafkaio.StrayWrongPartition, ""},
		{"misplaced topology key", []byte(elsewhere + "::topology::Pod/ns/web-1"), nil, self, kafkaio.PlaceForward, elsewhere, kafkaio.StrayWrongPartition, ""},
		{"misplaced after a forward: never forwarded twice", []byte(elsewhere + "::event::u-1"), forwarded, self, kafkaio.PlaceDeadLetter, elsewhere, kafkaio.StrayWrongPartition, "forwarded once already (from raw.k8s.events/3@17)"},
		{"a forwarded record where it belongs is a resident", []byte(resident), forwarded, self, kafkaio.PlaceResident, resident, "", ""},
		{"no key", nil, nil, self, kafkaio.PlaceDeadLetter, "", kafkaio.StrayInvalidKey, "no key"},
		{"empty key", []byte{}, nil, self, kafkaio.PlaceDeadLetter, "", kafkaio.StrayInvalidKey, "empty"},
		{"invalid client", []byte("Prod_Cluster::event::x"), nil, self, kafkaio.PlaceDeadLetter, "", kafkaio.StrayInvalidKey, "does not name a client"},
		{"garbage", []byte("\xff\x00"), nil, self, kafkaio.PlaceDeadLetter, "", kafkaio.StrayInvalidKey, "does not name a client"},
		{"control plane: the client's record on its own partition", []byte(self + "::event::u-1"), nil, "", kafkaio.PlaceResident, self, "", ""},
		{"control plane: misplaced", []byte(elsewhere + "::log::x"), nil, "", kafkaio.PlaceForward, elsewhere, kafkaio.StrayWrongPartition, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := kafkaio.NewPlacer(tt.self)
			for range 2 { // the second time from the cache
				v := p.Place(tt.key, tt.headers, here, n)
				if v.Placement != tt.want || v.Client != tt.client || v.Kind != tt.kind {
					t.Fatalf("Place(%q) = %+v, want placement %d client %q kind %q", tt.key, v, tt.want, tt.client, tt.kind)
				}
				if (v.Reason == nil) != (tt.reason == "") || (v.Reason != nil && !strings.Contains(v.Reason.Error(), tt.reason)) {
					t.Fatalf("Place(%q) reason %v, want %q", tt.key, v.Reason, tt.reason)
				}
			}
		})
	}
}

// The cache follows the partition count: the same client is a resident with
// one count and misplaced with another.
func TestPlacerFollowsThePartitionCount(t *testing.T) {
	c := kafkatest.ClientOn(t, "grow", 0, 4)
	var n8 int32 = 8
	for kafkaio.PartitionFor(c, n8) == 0 {
		c = kafkatest.ClientOn(t, c, 0, 4)
	}
	p := kafkaio.NewPlacer("")
	if v := p.Place([]byte(c), nil, 0, 4); v.Placement != kafkaio.PlaceResident {
		t.Fatalf("4 partitions: %+v, want resident", v)
	}
	if v := p.Place([]byte(c), nil, 0, n8); v.Placement != kafkaio.PlaceForward {
		t.Fatalf("8 partitions: %+v, want forward", v)
	}
	// More clients than the cache holds: still right after the reset.
	for i := range 5000 { // more than the Placer's cache holds

		id := fmt.Sprintf("many-%d", i)
		want := kafkaio.PlaceForward
		if kafkaio.PartitionFor(id, n8) == 0 {
			want = kafkaio.PlaceResident
		}
		if v := p.Place([]byte(id), nil, 0, n8); v.Placement != want {
			t.Fatalf("%s: %+v, want %d", id, v, want)
		}
	}
}

// BenchmarkPlace is the per-record cost of telling a resident from a stray
// on a shared partition (the own-record path is IsClientKey).
func BenchmarkPlace(b *testing.B) {
	keys := make([][]byte, 64)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "client-%03d::event::0b7e3c1a-1111-4c4c-9a9a-%012d", i, i)
	}
	p := kafkaio.NewPlacer("test-client-999")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Place(keys[i%len(keys)], nil, 3, 1000)
	}
}

// FuzzPlace: any key, on any partition of any count, gets a consistent
// verdict: own keys are the reader's, residents and forwards name a valid
// client whose partition is (or is not) this one, dead letters say why.
func FuzzPlace(f *testing.F) {
	for _, s := range []string{"af-9::event::u", "af-9", "bf-1::topology::Pod/a/b", "", "::", "Bad::x", "af-9::", "a", "\xff"} {
		f.Add([]byte(s), int32(3), int32(8), false)
	}
	f.Fuzz(func(t *testing.T, key []byte, partition, partitions int32, forwarded bool) {
		if partitions <= 0 || partitions > 10000 {
			partitions = 8
		}
		partition = (partition%partitions + partitions) % partitions
		var headers []*sarama.RecordHeader
		if forwarded {
			headers = []*sarama.RecordHeader{{Key: []byte(kafkaio.HeaderForwardedFrom), Value: []byte("t/0@0")}}
		}
		v := kafkaio.NewPlacer("af-9").Place(key, headers, partition, partitions)
		switch v.Placement {
		case kafkaio.PlaceOwn:
			if !kafkaio.IsClientKey(key, "af-9") {
				t.Fatalf("%q placed as the reader's own", key)
			}
		case kafkaio.PlaceResident, kafkaio.PlaceForward:
			c, err := kafkaio.KeyClient(key)
			if err != nil || c != v.Client || (kafkaio.PartitionFor(c, partitions) == partition) != (v.Placement == kafkaio.PlaceResident) {
				t.Fatalf("%q on %d/%d: %+v, but KeyClient says %q, %v", key, partition, partitions, v, c, err)
			}
			if v.Placement == kafkaio.PlaceForward && forwarded {
				t.Fatalf("%q forwarded a second time", key)
			}
		case kafkaio.PlaceDeadLetter:
			if v.Reason == nil || v.Kind == "" {
				t.Fatalf("%q dead-lettered without a reason or kind: %+v", key, v)
			}
		default:
			t.Fatalf("%q: unknown placement %d", key, v.Placement)
		}
	})
}
