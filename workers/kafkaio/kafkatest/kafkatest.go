// Package kafkatest holds helpers for integration tests against the real
// Kafka: unique topics, producing keyed records, reading a topic back, and
// polling a condition with a deadline.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kgrca/kgplane/internal/testinfra"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// Brokers returns the test Kafka's brokers (skipping or failing like testinfra).
func Brokers(t testing.TB) []string { return testinfra.KafkaBrokers(t) }

// Suffix returns a random suffix such as ".3f9a1c2e" for unique names.
func Suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "." + hex.EncodeToString(b)
}

// Config is a sarama config for test clients.
func Config() *sarama.Config {
	c := kafkaio.NewSaramaConfig(kafkaio.Security{}, "kafkatest")
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = kafkaio.NewClientPartitioner
	return c
}

// CreateTopics creates each topic with the given partitions, waits until
// they can be produced to (WaitForLeaders), and deletes them when the test
// ends.
func CreateTopics(t testing.TB, brokers []string, partitions int32, topics ...string) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, Config())
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	defer admin.Close()
	for _, topic := range topics {
		err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			t.Fatalf("creating topic %s: %v", topic, err)
		}
		t.Cleanup(func() {
			if a, err := sarama.NewClusterAdmin(brokers, Config()); err == nil {
				_ = a.DeleteTopic(topic)
				_ = a.Close()
			}
		})
	}
	WaitForLeaders(t, brokers, topics...)
}

// WaitForLeaders waits until every partition of each topic has a leader in
// the metadata a new client gets and that leader answers for it (its end
// offset). CreateTopics returns when the controller has recorded the topic;
// the brokers learn it a moment later, and a producer started in between
// fails with "unknown topic or partition" or "not the leader", more often the
// busier the machine. Every test that creates topics waits here first.
func WaitForLeaders(t testing.TB, brokers []string, topics ...string) {
	t.Helper()
	client, err := sarama.NewClient(brokers, Config())
	if err != nil {
		t.Fatalf("client for the topics' metadata: %v", err)
	}
	defer client.Close()
	for _, topic := range topics {
		var last error
		ready := func() bool {
			if last = client.RefreshMetadata(topic); last != nil {
				return false
			}
			parts, err := client.Partitions(topic)
			if err != nil || len(parts) == 0 {
				last = fmt.Errorf("partitions: %v (%d)", err, len(parts))
				return false
			}
			for _, p := range parts {
				if _, err := client.Leader(topic, p); err != nil {
					last = fmt.Errorf("leader of partition %d: %w", p, err)
					return false
				}
				if _, err := client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
					last = fmt.Errorf("end offset of partition %d: %w", p, err)
					return false
				}
			}
			return true
		}
		done := false
		defer func() {
			if !done {
				t.Logf("topic %s: %v", topic, last)
			}
		}()
		testutil.Eventually(t, 60*time.Second, "every partition of "+topic+" to have a leader that answers", ready)
		done = true
	}
}

// Produce sends msgs synchronously with the client partitioner.
func Produce(t testing.TB, brokers []string, msgs []*sarama.ProducerMessage) {
	t.Helper()
	p, err := sarama.NewSyncProducer(brokers, Config())
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("producing %d records: %v", len(msgs), err)
	}
}

// ReadAll returns every record of topic currently in it (all partitions, up to
// the high watermark at the time of the call), partition by partition.
func ReadAll(t testing.TB, brokers []string, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	client, err := sarama.NewClient(brokers, Config())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer consumer.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var out []*sarama.ConsumerMessage
	for _, p := range parts {
		// A freshly created topic's leadership may not have reached this
		// client's metadata yet ("not the leader"): refresh and ask again.
		var hwm int64
		testutil.Eventually(t, 15*time.Second, fmt.Sprintf("the high watermark of %s/%d", topic, p), func() bool {
			if hwm, err = client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
				_ = client.RefreshMetadata(topic)
				return false
			}
			return true
		})
		if hwm == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consuming %s/%d: %v", topic, p, err)
		}
		timeout := time.After(30 * time.Second)
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				out = append(out, m)
				done = m.Offset >= hwm-1
			case <-timeout:
				pc.Close()
				t.Fatalf("reading %s/%d: timed out before offset %d", topic, p, hwm-1)
			}
		}
		pc.Close()
	}
	return out
}

// Run starts fn in a goroutine under a cancelable context and returns a stop
// function that cancels it and returns fn's error; the test's cleanup stops it
// too.
func Run(t testing.TB, fn func(ctx context.Context) error) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- fn(ctx) }()
	var err error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case err = <-errc:
			case <-time.After(60 * time.Second):
				err = fmt.Errorf("did not stop within 60s")
			}
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// Key builds "<client>::<typ>::<id>".
func Key(client, typ, id string) string { return client + "::" + typ + "::" + id }

// Sum adds up every counter or gauge series of c (0 when it has none yet).
func Sum(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	var total float64
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			continue
		}
		switch {
		case pb.Counter != nil:
			total += pb.Counter.GetValue()
		case pb.Gauge != nil:
			total += pb.Gauge.GetValue()
		}
	}
	return total
}

// RawEvent is a realistic core/v1 Event (a BackOff of pod web-<i%50>) with
// metadata.uid = uid, as a client's agent publishes it to raw.k8s.events.
func RawEvent(uid string, i int) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"v1","kind":"Event","metadata":{"name":"web-%d.%x","namespace":"shop","uid":%q,"creationTimestamp":"2026-11-20T10:00:00Z"},`+
		`"involvedObject":{"kind":"Pod","namespace":"shop","name":"web-%d","uid":"5b0e1f7a-2c3d-4e5f-8a9b-%012d","apiVersion":"v1"},`+
		`"reason":"BackOff","message":"Back-off restarting failed container app in pod web-%d_shop","source":{"component":"kubelet","host":"node-%d"},`+
		`"firstTimestamp":"2026-11-20T10:00:00Z","lastTimestamp":"2026-11-20T10:%02d:%02dZ","count":%d,"type":"Warning"}`,
		i%50, i, uid, i%50, i%50, i%50, i%3, (i/60)%60, i%60, 1+i%5)
}

// ClientOn returns a client id "<prefix>-N" whose partition of n is p, for
// tests that need clients on chosen partitions.
func ClientOn(t testing.TB, prefix string, p, n int32) string {
	t.Helper()
	for i := range 100000 {
		c := fmt.Sprintf("%s-%d", prefix, i)
		if kafkaio.PartitionFor(c, n) == p {
			return c
		}
	}
	t.Fatalf("no client id %s-N on partition %d of %d", prefix, p, n)
	return ""
}

// ProduceTo sends msgs synchronously to the partition each names
// (msg.Partition), as a producer with another partitioner would place them.
func ProduceTo(t testing.TB, brokers []string, msgs []*sarama.ProducerMessage) {
	t.Helper()
	cfg := Config()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("producing %d records: %v", len(msgs), err)
	}
}

// Headers returns a record's headers as a map (the last of duplicates wins).
func Headers(hs []*sarama.RecordHeader) map[string]string {
	out := make(map[string]string, len(hs))
	for _, h := range hs {
		if h != nil {
			out[string(h.Key)] = string(h.Value)
		}
	}
	return out
}

// Gathered sums the counter and gauge series named name in reg that have a
// label with the value labelValue ("" = every series of name).
func Gathered(t testing.TB, reg prometheus.Gatherer, name, labelValue string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := labelValue == ""
			for _, l := range m.GetLabel() {
				match = match || l.GetValue() == labelValue
			}
			if match {
				total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return total
}
