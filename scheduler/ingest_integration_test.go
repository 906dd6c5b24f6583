package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/fakenomad"
	"github.com/kgrca/kgplane/internal/testinfra"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

// pausingSink hands records to the controller and, at the first heartbeat,
// blocks until the test has paused the broker: the rest of the heartbeats
// are still on the broker when it stops answering.
type pausingSink struct {
	*Controller
	first  chan struct{} // closed at the first heartbeat
	paused chan struct{} // closed by the test once the broker is paused
	once   sync.Once
}

func (s *pausingSink) HandleHeartbeat(key, value []byte, ts time.Time, offset int64) {
	s.Controller.HandleHeartbeat(key, value, ts, offset)
	s.once.Do(func() {
		close(s.first)
		<-s.paused
	})
}

// A broker that stalls during the start-up catch-up (paused with SIGSTOP
// here; a leader election or a slow disk look the same to the plane) must not
// make the plane believe it has read the heartbeats. The ingest used to count
// a partition that delivered nothing for 2 s as read to its end: the plane
// then armed the deadlines on the registrations alone (an hour old) and
// purged every client whose heartbeat was still on the broker.
func TestCatchUpWaitsForAStalledBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: a private Kafka broker that the test pauses")
	}
	began := time.Now()
	k := testinfra.StartPrivateKafka(t)
	t.Logf("private Kafka up after %s", time.Since(began).Round(time.Second))
	sfx := kafkatest.Suffix()
	registry, heartbeat := "catchup.registry"+sfx, "catchup.heartbeat"+sfx
	admin, err := sarama.NewClusterAdmin(k.Brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	specs := kafkaio.Named(kafkaio.Topics(1), map[string]string{kafkaio.TopicRegistry: registry, kafkaio.TopicHeartbeat: heartbeat})
	if _, err := kafkaio.EnsureTopics(admin, specs[:2]); err != nil {
		t.Fatalf("creating the topics: %v", err)
	}
	admin.Close()
	kafkatest.WaitForLeaders(t, k.Brokers, registry, heartbeat)

	const n = 30
	const threshold = time.Minute
	// Every client on the heartbeat topic's last partition: the ingest
	// reads it only once it has found the end offsets of all three, so the
	// broker stalls while records are being fetched, not before.
	var ids []string
	for i := 0; len(ids) < n; i++ {
		if id := fmt.Sprintf("cu-%03d", i); kafkaio.PartitionFor(id, 3) == 2 {
			ids = append(ids, id)
		}
	}
	// The clients' jobs exist, as a plane that ran before left them.
	fake := fakenomad.New()
	t.Cleanup(fake.Close)
	seed := newHarness(t, fake, threshold)
	seed.ctrl.CaughtUp()
	for _, id := range ids {
		seed.register(id)
	}
	testutil.Eventually(t, time.Minute, fmt.Sprintf("the %d jobs of %d clients", 3*n, n), func() bool { return len(fake.JobIDs()) == 3*n })
	testutil.Eventually(t, 30*time.Second, "the first plane to settle", seed.settled)
	seed.stop()
	t.Logf("jobs seeded after %s", time.Since(began).Round(time.Second))

	// In Kafka: registrations an hour old, and one fresh heartbeat per
	// client, each record in a batch of its own so the catch-up takes many
	// fetches.
	pc := kafkatest.Config()
	pc.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(k.Brokers, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	hourAgo := time.Now().Add(-time.Hour)
	for _, id := range ids {
		reg, _ := json.Marshal(map[string]string{"client_id": id, "cluster_name": "c-" + id})
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: registry, Key: sarama.StringEncoder(id), Value: sarama.ByteEncoder(reg), Timestamp: hourAgo}); err != nil {
			t.Fatalf("registering %s: %v", id, err)
		}
	}
	for _, id := range ids {
		msg := &sarama.ProducerMessage{Topic: heartbeat, Key: sarama.StringEncoder(id), Value: sarama.ByteEncoder(hbValue(id)), Partition: kafkaio.PartitionFor(id, 3)}
		if _, _, err := prod.SendMessage(msg); err != nil {
			t.Fatalf("heartbeat of %s: %v", id, err)
		}
	}

	// The plane restarts. Mass-silence detection is off: only the catch-up
	// may keep it from purging.
	fake.ResetCalls()
	h := newHarness(t, fake, threshold, func(c *Config) { c.DisruptionFraction = 1 })
	sink := &pausingSink{Controller: h.ctrl, first: make(chan struct{}), paused: make(chan struct{})}
	sc := kafkaio.NewSaramaConfig(kafkaio.Security{}, "kg-test-catchup")
	sc.Consumer.Fetch.Default = 1 // one batch per fetch
	sc.ChannelBufferSize = 1
	ctx, cancel := context.WithCancel(context.Background())
	ingested := make(chan error, 1)
	go func() {
		ingested <- Ingest(ctx, IngestConfig{Brokers: k.Brokers, RegistryTopic: registry, HeartbeatTopic: heartbeat,
			Lookback: threshold, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Sarama: sc}, sink)
	}()
	defer func() {
		cancel()
		if err := <-ingested; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("ingest: %v", err)
		}
	}()
	select {
	case <-sink.first:
	case <-time.After(2 * time.Minute):
		t.Fatal("the ingest read no heartbeat in 2 minutes")
	}
	k.Signal(syscall.SIGSTOP)
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			k.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume) // a stopped broker would not stop for the cleanup
	close(sink.paused)
	// The stall lasts four times the old rule's 2 s of quiet: the fault's
	// length, not a wait for an outcome.
	<-time.After(4 * tailQuiet)
	if n := len(fake.CallsOf("deregister")); n > 0 {
		resume()
		t.Fatalf("%d jobs of live clients purged while the broker stalled during the catch-up, want 0", n)
	}
	if h.ctrl.Ready() {
		t.Errorf("the plane says it is ready while the broker holds heartbeats it has not read")
	}
	resume()
	t.Logf("broker resumed after %s", time.Since(began).Round(time.Second))

	testutil.Eventually(t, 2*time.Minute, "the plane to catch up and settle", func() bool {
		return h.ctrl.Ready() && h.settled() && len(fake.CallsOf("list")) > 0
	})
	for _, id := range ids {
		if cl := h.client(id); cl.Phase != PhaseActive {
			t.Errorf("%s is %s after the catch-up, want active", id, cl.Phase)
		}
	}
	if calls := fake.CallsOf("deregister"); len(calls) > 0 {
		t.Fatalf("%d jobs of live clients purged after a stalled catch-up, want 0 (first: %s)", len(calls), calls[0].Path)
	}
	if got := len(fake.JobIDs()); got != 3*n {
		t.Fatalf("%d jobs, want %d", got, 3*n)
	}
}
