package kafkaio_test

import (
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

// A plane with its own registry and heartbeat topics gets those created (not
// only the contract's names), and an existing heartbeat topic with CreateTime
// is switched to LogAppendTime: a heartbeat stamped by an agent whose clock
// runs an hour behind is timed by the broker.
func TestEnsureTopicsNamedAndLogAppendTime(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	registry, heartbeat := "test.registry"+sfx, "test.heartbeat"+sfx
	kafkatest.CreateTopics(t, brokers, 1, heartbeat) // exists, with the broker's default CreateTime
	admin, err := sarama.NewClusterAdmin(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	t.Cleanup(func() { admin.DeleteTopic(registry) })
	testutil.Eventually(t, 30*time.Second, "the heartbeat topic to be listed", func() bool {
		ts, err := admin.ListTopics()
		_, ok := ts[heartbeat]
		return err == nil && ok
	})
	specs := kafkaio.Named(kafkaio.Topics(1), map[string]string{kafkaio.TopicRegistry: registry, kafkaio.TopicHeartbeat: heartbeat})
	var only []kafkaio.TopicSpec
	for _, s := range specs {
		if s.Name == registry || s.Name == heartbeat {
			only = append(only, s)
		}
	}
	if len(only) != 2 {
		t.Fatalf("Named did not rename both topics: %+v", specs)
	}
	res, err := kafkaio.EnsureTopics(admin, only)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		switch r.Topic {
		case registry:
			if !r.Created {
				t.Errorf("%s not created", registry)
			}
		case heartbeat:
			if len(r.Corrected) != 1 || r.Corrected[0] != "message.timestamp.type=LogAppendTime" {
				t.Errorf("%s corrected %v, want message.timestamp.type=LogAppendTime", heartbeat, r.Corrected)
			}
		}
	}
	// Idempotent: a second run changes nothing.
	res, err = kafkaio.EnsureTopics(admin, only)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Created || len(r.Corrected) > 0 {
			t.Errorf("second ensure changed %s: %+v", r.Topic, r)
		}
	}

	behind := time.Now().Add(-time.Hour)
	testutil.Eventually(t, 30*time.Second, "the registry topic to be listed", func() bool {
		ts, err := admin.ListTopics()
		_, ok := ts[registry]
		return err == nil && ok
	})
	kafkatest.Produce(t, brokers, []*sarama.ProducerMessage{{Topic: heartbeat, Key: sarama.StringEncoder("af-9"),
		Value: sarama.StringEncoder(`{"client_id":"af-9"}`), Timestamp: behind}})
	c, err := sarama.NewConsumer(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(heartbeat, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		if d := time.Since(m.Timestamp); d > 5*time.Minute || d < -5*time.Minute {
			t.Fatalf("heartbeat timestamp %s is the agent's clock (%s off), want the broker's", m.Timestamp, d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no record read back")
	}
}
