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

// Found by the soak (make soak): a 2 MiB record of another client on the
// worker's partition could not be forwarded (the producer refuses messages
// over 1 MiB before compressing them): the worker failed on it, restarted
// and failed again forever. A stray too large for any reader is now
// dead-lettered, its value cut to MaxDeadLetterValue, and the worker goes on.
func TestConsumerDeadLettersAStrayTooLargeToForward(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	id := strings.ReplaceAll(sfx, ".", "")
	topic, dlq := "raw.k8s.events"+sfx, "dlq.raw"+sfx
	const n = 4
	kafkatest.CreateTopics(t, brokers, n, topic)
	kafkatest.CreateTopics(t, brokers, 1, dlq)
	self := "self-" + id
	here := kafkaio.PartitionFor(self, n)
	away := kafkatest.ClientOn(t, "away-"+id, (here+1)%n, n)
	huge := []byte(`{"message":"` + strings.Repeat("y", 2<<20) + `"}`)

	sc := kafkatest.Config()
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.MaxMessageBytes = 4 << 20
	sc.Producer.Compression = sarama.CompressionLZ4
	p, err := sarama.NewSyncProducer(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	err = p.SendMessages([]*sarama.ProducerMessage{
		{Topic: topic, Partition: here, Key: sarama.StringEncoder(away + "::event::big"), Value: sarama.ByteEncoder(huge)},
		{Topic: topic, Partition: here, Key: sarama.StringEncoder(self + "::event::after"), Value: sarama.StringEncoder("own")},
	})
	p.Close()
	if err != nil {
		t.Fatal(err)
	}

	col := &collector{}
	m := kafkaio.NewMetrics(nil, "test")
	cons, err := kafkaio.NewConsumer(kafkaio.ConsumerConfig{
		Brokers: brokers, Role: kafkaio.RoleEventNormalizer, ClientID: self, Topics: []string{topic}, DeadLetterTopic: dlq,
		MaxBatch: 50, Linger: 20 * time.Millisecond, SessionTimeout: 6 * time.Second, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := kafkatest.Run(t, func(ctx context.Context) error { return cons.Run(ctx, col.handle) })
	testutil.Eventually(t, 60*time.Second, "the record after the huge stray", func() bool { return col.len() >= 1 })
	if err := stop(); err != nil {
		t.Fatalf("the consumer failed: %v", err)
	}
	for _, r := range kafkatest.ReadAll(t, brokers, topic) {
		if r.Partition != here {
			t.Fatalf("the huge stray was forwarded to partition %d", r.Partition)
		}
	}
	dead := kafkatest.ReadAll(t, brokers, dlq)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dead))
	}
	h := kafkatest.Headers(dead[0].Headers)
	if len(dead[0].Value) != kafkaio.MaxDeadLetterValue || h[kafkaio.HeaderValueTruncated] != fmt.Sprint(len(huge)) ||
		!strings.Contains(h[kafkaio.HeaderError], "too large to forward") {
		t.Fatalf("dead letter of %d bytes, headers %v", len(dead[0].Value), h)
	}
	if got := kafkatest.Sum(m.Strays.WithLabelValues(topic, kafkaio.StrayWrongPartition, kafkaio.ActionDeadLettered)); got != 1 {
		t.Errorf("stray metric wrong_partition/dead_lettered = %v, want 1", got)
	}
}
