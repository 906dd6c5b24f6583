package kafkaio_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

// TestConsumerForwardsStraysAndDeadLettersInvalidKeys: on the worker's
// partition, besides its own records (prefixed and the client id alone) and a
// resident's, arrive a misplaced record of another client, records whose key
// names no client, and a misplaced record that was forwarded once already.
// The handler gets exactly its own records; the misplaced one is forwarded,
// unchanged but for two headers, to its client's partition; the others are
// dead-lettered with their reason; the offset is committed past all of them.
func TestConsumerForwardsStraysAndDeadLettersInvalidKeys(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	id := strings.ReplaceAll(sfx, ".", "")
	topic, dlq := "raw.k8s.events"+sfx, "dlq.raw"+sfx
	const n = 4
	kafkatest.CreateTopics(t, brokers, n, topic)
	kafkatest.CreateTopics(t, brokers, 1, dlq)
	self := "self-" + id
	here := kafkaio.PartitionFor(self, n)
	resident := kafkatest.ClientOn(t, "resident-"+id, here, n)
	away := kafkatest.ClientOn(t, "away-"+id, (here+1)%n, n)

	at := func(key []byte, value string, headers ...sarama.RecordHeader) *sarama.ProducerMessage {
		m := &sarama.ProducerMessage{Topic: topic, Partition: here, Value: sarama.StringEncoder(value), Headers: headers}
		if key != nil {
			m.Key = sarama.ByteEncoder(key)
		}
		return m
	}
	trace := sarama.RecordHeader{Key: []byte("traceparent"), Value: []byte("00-abc")}
	kafkatest.ProduceTo(t, brokers, []*sarama.ProducerMessage{
		at([]byte(self+"::event::u-1"), "own-1"),
		at([]byte(away+"::event::u-2"), "misplaced", trace),
		at([]byte(resident+"::event::u-3"), "resident"),
		at(nil, "no key"),
		at([]byte("Prod_Cluster::event::u-4"), "invalid client"),
		at([]byte(away+"::event::u-5"), "looped", sarama.RecordHeader{Key: []byte(kafkaio.HeaderForwardedFrom), Value: []byte(topic + "/9@9")}),
		at([]byte(self), "own-2"),
	})

	col := &collector{}
	m := kafkaio.NewMetrics(nil, "test")
	cons, err := kafkaio.NewConsumer(kafkaio.ConsumerConfig{
		Brokers: brokers, Role: kafkaio.RoleEventNormalizer, ClientID: self, Topics: []string{topic}, DeadLetterTopic: dlq,
		MaxBatch: 50, Linger: 20 * time.Millisecond, SessionTimeout: 6 * time.Second, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	kafkatest.Run(t, func(ctx context.Context) error { return cons.Run(ctx, col.handle) })

	testutil.Eventually(t, 60*time.Second, "the worker's own records", func() bool { return col.len() >= 2 })
	if got := strings.Join(col.keys(), ","); got != self+"::event::u-1,"+self {
		t.Fatalf("handler got %s, want exactly the client's two records", got)
	}

	var forwarded []*sarama.ConsumerMessage
	testutil.Eventually(t, 30*time.Second, "the forwarded record", func() bool {
		forwarded = forwarded[:0]
		for _, r := range kafkatest.ReadAll(t, brokers, topic) {
			if r.Partition != here {
				forwarded = append(forwarded, r)
			}
		}
		return len(forwarded) > 0
	})
	f := forwarded[0]
	if len(forwarded) != 1 || f.Partition != kafkaio.PartitionFor(away, n) || string(f.Key) != away+"::event::u-2" || string(f.Value) != "misplaced" {
		t.Fatalf("forwarded %d records, first %s/%d %q=%q; want one, the misplaced record on partition %d", len(forwarded), f.Topic, f.Partition, f.Key, f.Value, kafkaio.PartitionFor(away, n))
	}
	h := kafkatest.Headers(f.Headers)
	wantH := map[string]string{"traceparent": "00-abc", kafkaio.HeaderForwardedFrom: fmt.Sprintf("%s/%d@1", topic, here),
		kafkaio.HeaderForwardedBy: kafkaio.RoleEventNormalizer + " " + self}
	if fmt.Sprint(h) != fmt.Sprint(wantH) {
		t.Fatalf("forwarded headers %v, want %v", h, wantH)
	}

	var dead []*sarama.ConsumerMessage
	testutil.Eventually(t, 30*time.Second, "three dead letters", func() bool {
		dead = kafkatest.ReadAll(t, brokers, dlq)
		return len(dead) >= 3
	})
	wantReasons := []string{"no key", "does not name a client", "forwarded once already (from " + topic + "/9@9)"}
	for i, d := range dead {
		h := kafkatest.Headers(d.Headers)
		if i >= len(wantReasons) || !strings.Contains(h[kafkaio.HeaderError], wantReasons[i]) ||
			h[kafkaio.HeaderSourceOffset] != fmt.Sprint(3+i) || h[kafkaio.HeaderWorker] != kafkaio.RoleEventNormalizer {
			t.Fatalf("dead letter %d: key %q headers %v; want reason %q from offset %d", i, d.Key, h, wantReasons[min(i, 2)], 3+i)
		}
	}

	count := func(kind, action string) float64 {
		return kafkatest.Sum(m.Strays.WithLabelValues(topic, kind, action))
	}
	testutil.Eventually(t, 10*time.Second, "the stray and skip counts", func() bool {
		return count(kafkaio.StrayWrongPartition, kafkaio.ActionForwarded) == 1 && count(kafkaio.StrayInvalidKey, kafkaio.ActionDeadLettered) == 2 &&
			count(kafkaio.StrayWrongPartition, kafkaio.ActionDeadLettered) == 1 && kafkatest.Sum(m.RecordsSkipped) == 1
	})

	admin, err := sarama.NewClusterAdmin(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	testutil.Eventually(t, 10*time.Second, "the offset committed past the strays", func() bool {
		offs, err := admin.ListConsumerGroupOffsets(kafkaio.GroupID(kafkaio.RoleEventNormalizer, self), map[string][]int32{topic: {here}})
		return err == nil && offs.GetBlock(topic, here) != nil && offs.GetBlock(topic, here).Offset == 7
	})
}
