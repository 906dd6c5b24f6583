package strays_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/strays"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// env is one test's private data and dead-letter topics and stray group.
type env struct {
	brokers    []string
	id         string // unique, usable in client ids
	topic, dlq string
	group      string
	n          int32
}

func newEnv(t *testing.T, n int32) *env {
	t.Helper()
	sfx := kafkatest.Suffix()
	e := &env{brokers: kafkatest.Brokers(t), id: strings.TrimPrefix(sfx, "."), topic: kafkaio.TopicRawEvents + sfx,
		dlq: kafkaio.TopicDLQRaw + sfx, group: "kg-strays-test" + sfx, n: n}
	kafkatest.CreateTopics(t, e.brokers, n, e.topic)
	kafkatest.CreateTopics(t, e.brokers, 1, e.dlq)
	return e
}

func (e *env) consumer(t *testing.T, reg prometheus.Registerer) *strays.Consumer {
	t.Helper()
	c, err := strays.New(strays.Config{
		Brokers: e.brokers, GroupID: e.group, Linger: 20 * time.Millisecond, Logger: quietLog(), Registerer: reg,
		Topics: []strays.Topic{{Name: e.topic, Role: kafkaio.RoleEventNormalizer, DeadLetter: e.dlq}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) at(p int32, key, value string) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{Topic: e.topic, Partition: p, Value: sarama.StringEncoder(value)}
	if key != "" {
		m.Key = sarama.StringEncoder(key)
	}
	return m
}

// forwardedTo returns the kg-forwarded-from header of every record on
// partition p that was forwarded there.
func (e *env) forwardedTo(t *testing.T, p int32) []string {
	var out []string
	for _, r := range kafkatest.ReadAll(t, e.brokers, e.topic) {
		if from := kafkatest.Headers(r.Headers)[kafkaio.HeaderForwardedFrom]; r.Partition == p && from != "" {
			out = append(out, from)
		}
	}
	slices.Sort(out)
	return out
}

// committed is group's committed offset of the partition (-1: none).
func (e *env) committed(t *testing.T, group string, p int32) int64 {
	admin, err := sarama.NewClusterAdmin(e.brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{e.topic: {p}})
	if err != nil || resp.GetBlock(e.topic, p) == nil {
		return -1
	}
	return resp.GetBlock(e.topic, p).Offset
}

// commit sets group's committed offset of the partition, as a worker does.
func (e *env) commit(t *testing.T, group string, p int32, offset int64) {
	client, err := sarama.NewClient(e.brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		t.Fatal(err)
	}
	pom, err := om.ManagePartition(e.topic, p)
	if err != nil {
		t.Fatal(err)
	}
	pom.MarkOffset(offset, "")
	om.Commit()
	pom.Close()
	om.Close()
	testutil.Eventually(t, 10*time.Second, group+"'s commit", func() bool { return e.committed(t, group, p) == offset })
}

func others(n int32, covered ...int32) []int32 {
	var out []int32
	for p := range n {
		if !slices.Contains(covered, p) {
			out = append(out, p)
		}
	}
	return out
}

// TestConsumerCoversExactlyTheUncoveredPartitions: with live clients a and b
// the control plane reads every partition but theirs. On one of them it
// forwards a's misplaced record to a's partition, leaves the record of a
// client that is not live where it is, and dead-letters a key that names no
// client; a misplaced record on a live client's partition is that worker's,
// not ours. It reads only the uncovered partitions' records.
func TestConsumerCoversExactlyTheUncoveredPartitions(t *testing.T) {
	e := newEnv(t, 6)
	a := kafkatest.ClientOn(t, "a-"+e.id, 0, e.n)
	b := kafkatest.ClientOn(t, "b-"+e.id, 1, e.n)
	asleep := kafkatest.ClientOn(t, "asleep-"+e.id, 2, e.n)
	kafkatest.ProduceTo(t, e.brokers, []*sarama.ProducerMessage{
		e.at(2, a+"::event::u-1", "a's, misplaced"),
		e.at(2, asleep+"::event::u-2", "a client that is not live, on its partition"),
		e.at(2, "NOT-A-CLIENT::event::u-3", "no client"),
		e.at(1, a+"::event::u-4", "misplaced on b's partition: b's worker forwards it"),
		e.at(0, a+"::event::u-5", "a's, where it belongs"),
	})

	reg := prometheus.NewRegistry()
	c := e.consumer(t, reg)
	c.SetLiveClients([]string{a, b, "Not Valid"})
	kafkatest.Run(t, func(ctx context.Context) error { c.Run(ctx); return nil })
	testutil.Eventually(t, 30*time.Second, "coverage of every partition but a's and b's", func() bool {
		return slices.Equal(c.Covered()[e.topic], others(e.n, 0, 1))
	})
	testutil.Eventually(t, 30*time.Second, "the forward of a's misplaced record", func() bool {
		return slices.Equal(e.forwardedTo(t, 0), []string{e.topic + "/2@0"})
	})
	var dead []*sarama.ConsumerMessage
	testutil.Eventually(t, 30*time.Second, "the dead letter", func() bool {
		dead = kafkatest.ReadAll(t, e.brokers, e.dlq)
		return len(dead) > 0
	})
	h := kafkatest.Headers(dead[0].Headers)
	if len(dead) != 1 || string(dead[0].Key) != "NOT-A-CLIENT::event::u-3" || !strings.Contains(h[kafkaio.HeaderError], "does not name a client") ||
		h[kafkaio.HeaderWorker] != "kg-control-plane" || h[kafkaio.HeaderSourcePartition] != "2" {
		t.Fatalf("dead letters: %d, first %q with %v", len(dead), dead[0].Key, h)
	}
	testutil.Eventually(t, 30*time.Second, "its offset committed past the three records", func() bool { return e.committed(t, e.group, 2) == 3 })
	for _, m := range []struct {
		name, label string
		want        float64
	}{
		{"kgplane_stray_records_total", kafkaio.StrayWrongPartition, 1},
		{"kgplane_stray_records_total", kafkaio.StrayUnknownClient, 1},
		{"kgplane_stray_records_total", kafkaio.StrayInvalidKey, 1},
		{"kgplane_stray_records_read_total", e.topic, 3},
		{"kgplane_stray_partitions", e.topic, float64(e.n - 2)},
	} {
		if got := kafkatest.Gathered(t, reg, m.name, m.label); got != m.want {
			t.Errorf("%s{..%q..} = %v, want %v", m.name, m.label, got, m.want)
		}
	}
	if got := e.forwardedTo(t, 0); len(got) != 1 {
		t.Fatalf("forwards to a's partition: %v; the control plane must not read b's partition", got)
	}
}

// TestConsumerHandsOverWithoutGapsOrRereads follows one partition through
// its owner leaving, the control plane covering it, the owner returning and
// the control plane restarting:
//   - b leaves: coverage of b's partition starts at b's worker's committed
//     offset, so what b's worker handled is not forwarded again, and what it
//     had not handled is;
//   - b returns: the control plane stops reading b's partition, its offset
//     committed at what it handled;
//   - b leaves again and the control plane restarts meanwhile: it resumes at
//     its own committed offset.
func TestConsumerHandsOverWithoutGapsOrRereads(t *testing.T) {
	e := newEnv(t, 4)
	a := kafkatest.ClientOn(t, "a-"+e.id, 0, e.n)
	b := kafkatest.ClientOn(t, "b-"+e.id, 1, e.n)
	bGroup := kafkaio.GroupID(kafkaio.RoleEventNormalizer, b)
	kafkatest.ProduceTo(t, e.brokers, []*sarama.ProducerMessage{
		e.at(1, a+"::event::u-0", "handled by b's worker"),
		e.at(1, a+"::event::u-1", "not yet handled by b's worker"),
	})
	e.commit(t, bGroup, 1, 1)

	c := e.consumer(t, nil)
	c.SetLiveClients([]string{a, b})
	stop := kafkatest.Run(t, func(ctx context.Context) error { c.Run(ctx); return nil })
	testutil.Eventually(t, 30*time.Second, "coverage without b's partition", func() bool {
		return slices.Equal(c.Covered()[e.topic], []int32{2, 3})
	})

	c.SetLiveClients([]string{a}) // b goes stale
	testutil.Eventually(t, 30*time.Second, "coverage of b's partition", func() bool {
		return slices.Equal(c.Covered()[e.topic], []int32{1, 2, 3})
	})
	testutil.Eventually(t, 30*time.Second, "the forward of what b's worker had not handled", func() bool {
		return slices.Equal(e.forwardedTo(t, 0), []string{e.topic + "/1@1"})
	})
	testutil.Eventually(t, 30*time.Second, "the control plane's commit on b's partition", func() bool { return e.committed(t, e.group, 1) == 2 })

	c.SetLiveClients([]string{a, b}) // b returns
	testutil.Eventually(t, 30*time.Second, "b's partition handed back", func() bool {
		return slices.Equal(c.Covered()[e.topic], []int32{2, 3})
	})
	kafkatest.ProduceTo(t, e.brokers, []*sarama.ProducerMessage{e.at(1, a+"::event::u-2", "b's worker's again")})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := e.committed(t, e.group, 1); got != 2 {
		t.Fatalf("the control plane's offset on b's partition is %d after handing it back, want 2", got)
	}

	// b's worker handled nothing more (say it is slow to start), then b goes
	// stale again while the control plane restarts: the control plane's own
	// commit (2) is ahead of b's (1), so it starts at 2.
	c2 := e.consumer(t, nil)
	c2.SetLiveClients([]string{a})
	kafkatest.Run(t, func(ctx context.Context) error { c2.Run(ctx); return nil })
	testutil.Eventually(t, 30*time.Second, "the forward of the record after the control plane's commit", func() bool {
		return slices.Equal(e.forwardedTo(t, 0), []string{e.topic + "/1@1", e.topic + "/1@2"})
	})
	testutil.Eventually(t, 30*time.Second, "the control plane's commit", func() bool { return e.committed(t, e.group, 1) == 3 })
	if got := e.forwardedTo(t, 0); len(got) != 2 {
		t.Fatalf("forwards to a's partition: %v, want each record once", got)
	}
}
