package kafkaio_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

// collector is a Handler that records what it was given.
type collector struct {
	mu   sync.Mutex
	recs []kafkaio.Record
}

func (c *collector) handle(ctx context.Context, batch []kafkaio.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, batch...)
	return nil
}

func (c *collector) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.recs))
	for i, r := range c.recs {
		out[i] = string(r.Key)
	}
	return out
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.recs)
}

// produceInterleaved writes perClient records for each client, round-robin
// across clients so every partition holds interleaved traffic, and returns
// each client's keys in order.
func produceInterleaved(t *testing.T, brokers []string, topic string, clients []string, perClient int, from int) map[string][]string {
	t.Helper()
	want := map[string][]string{}
	var msgs []*sarama.ProducerMessage
	for i := from; i < from+perClient; i++ {
		for _, c := range clients {
			k := kafkatest.Key(c, "event", fmt.Sprintf("uid-%05d", i))
			want[c] = append(want[c], k)
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(k), Value: sarama.StringEncoder(`{"n":` + fmt.Sprint(i) + `}`)})
		}
	}
	kafkatest.Produce(t, brokers, msgs)
	return want
}

func newConsumer(t *testing.T, brokers []string, role, client string, m *kafkaio.Metrics, topics ...string) *kafkaio.Consumer {
	t.Helper()
	c, err := kafkaio.NewConsumer(kafkaio.ConsumerConfig{
		Brokers: brokers, Role: role, ClientID: client, Topics: topics,
		MaxBatch: 50, Linger: 20 * time.Millisecond, SessionTimeout: 6 * time.Second, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConsumerReadsOnlyTheClientPartitionAndTheSeedModelReadsEverything runs
// 5 clients over a 2-partition topic: ours fetches only the client's
// partition and hands over only the client's records, in order; the seed's
// per-client groups subscribed to the whole topic each fetch every record.
func TestConsumerReadsOnlyTheClientPartitionAndTheSeedModelReadsEverything(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	topic := "raw.k8s.events" + sfx
	const partitions = 2
	kafkatest.CreateTopics(t, brokers, partitions, topic)
	// Three clients on partition 0 and two on 1, chosen rather than left to
	// the suffix's hash: with five random ids, one time in sixteen all of
	// them share a partition and every consumer legitimately fetches
	// everything, like the seed's.
	var clients []string
	for i, letter := range []string{"a", "b", "c", "d", "e"} {
		clients = append(clients, kafkatest.ClientOn(t, "client-"+letter+sfx[1:], int32(i%partitions), partitions))
	}
	const perClient = 40
	want := produceInterleaved(t, brokers, topic, clients, perClient, 0)
	total := perClient * len(clients)

	perPartition := map[int32]int{}
	for _, c := range clients {
		perPartition[kafkaio.PartitionFor(c, partitions)] += perClient
	}

	// Ours.
	cols := map[string]*collector{}
	mets := map[string]*kafkaio.Metrics{}
	for _, c := range clients {
		col, m := &collector{}, kafkaio.NewMetrics(nil, "test")
		cols[c], mets[c] = col, m
		cons := newConsumer(t, brokers, "event-normalizer", c, m, topic)
		kafkatest.Run(t, func(ctx context.Context) error { return cons.Run(ctx, col.handle) })
	}
	for _, c := range clients {
		testutil.Eventually(t, 60*time.Second, c+" receives its records", func() bool { return cols[c].len() >= perClient })
	}
	oursFetched := 0
	for _, c := range clients {
		got := cols[c].keys()
		if strings.Join(got, ",") != strings.Join(want[c], ",") {
			t.Errorf("%s received %d records %v..., want exactly its %d in order", c, len(got), got[:min(3, len(got))], perClient)
		}
		m := mets[c]
		// Skipped records are counted when their batch is flushed.
		testutil.Eventually(t, 10*time.Second, c+" counts the records it skipped", func() bool {
			return int(kafkatest.Sum(m.RecordsIn)+kafkatest.Sum(m.RecordsSkipped)) == perPartition[kafkaio.PartitionFor(c, partitions)]
		})
		fetched := int(kafkatest.Sum(m.RecordsIn) + kafkatest.Sum(m.RecordsSkipped))
		oursFetched += fetched
		t.Logf("ours: %s fetched %d (its partition %d holds %d of %d)", c, fetched, kafkaio.PartitionFor(c, partitions), perPartition[kafkaio.PartitionFor(c, partitions)], total)
	}

	// Skipped records are committed too: every group's offset reaches the end
	// of its partition, although most groups' last records are other clients'.
	admin, err := sarama.NewClusterAdmin(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, c := range clients {
		p := kafkaio.PartitionFor(c, partitions)
		testutil.Eventually(t, 10*time.Second, c+" commits to the end of its partition", func() bool {
			offs, err := admin.ListConsumerGroupOffsets(kafkaio.GroupID("event-normalizer", c), map[string][]int32{topic: {p}})
			return err == nil && offs.GetBlock(topic, p) != nil && offs.GetBlock(topic, p).Offset == int64(perPartition[p])
		})
	}

	// The seed's model: one group per client, subscribed to the whole topic,
	// with sarama's stock range assignor.
	var seedFetched atomic.Int64
	var seedOwn atomic.Int64
	for _, c := range clients {
		cfg := kafkatest.Config()
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
		g, err := sarama.NewConsumerGroup(brokers, "seed-event-normalizer-"+c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		h := &countingHandler{client: c, fetched: &seedFetched, own: &seedOwn}
		kafkatest.Run(t, func(ctx context.Context) error {
			defer g.Close()
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
					return err
				}
			}
			return nil
		})
	}
	testutil.Eventually(t, 60*time.Second, "seed groups fetch everything", func() bool { return seedFetched.Load() >= int64(total*len(clients)) })
	t.Logf("records produced %d; fetched: ours %d (amplification %.2f), seed %d (amplification %.2f)",
		total, oursFetched, float64(oursFetched)/float64(total), seedFetched.Load(), float64(seedFetched.Load())/float64(total))
	wantOurs := 0
	for _, c := range clients {
		wantOurs += perPartition[kafkaio.PartitionFor(c, partitions)]
	}
	if oursFetched != wantOurs || oursFetched >= total*len(clients) {
		t.Errorf("ours fetched %d records, want %d (each client's partition once)", oursFetched, wantOurs)
	}
	if got := seedFetched.Load(); got != int64(total*len(clients)) {
		t.Errorf("seed model fetched %d, want every record once per client = %d", got, total*len(clients))
	}
}

type countingHandler struct {
	client       string
	fetched, own *atomic.Int64
}

func (h *countingHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *countingHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *countingHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.fetched.Add(1)
		if kafkaio.HasClientPrefix(m.Key, h.client) {
			h.own.Add(1)
		}
		s.MarkMessage(m, "")
	}
	return nil
}

// TestConsumerFencing: two consumers of the same (role, client) run at once;
// only one receives records. When it stops, the other takes over from the
// committed offset.
func TestConsumerFencing(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	topic := "raw.k8s.events" + sfx
	kafkatest.CreateTopics(t, brokers, 3, topic)
	client := "fence" + strings.ReplaceAll(sfx, ".", "-")

	group := kafkaio.GroupID("event-normalizer", client)
	a, b := &collector{}, &collector{}
	stopA := kafkatest.Run(t, func(ctx context.Context) error {
		return newConsumer(t, brokers, "event-normalizer", client, nil, topic).Run(ctx, a.handle)
	})
	waitStable(t, brokers, group, 1)
	stopB := kafkatest.Run(t, func(ctx context.Context) error {
		return newConsumer(t, brokers, "event-normalizer", client, nil, topic).Run(ctx, b.handle)
	})
	// Both members in one generation before any record exists, so the test
	// sees concurrent members, not a hand-over.
	waitStable(t, brokers, group, 2)
	want := produceInterleaved(t, brokers, topic, []string{client}, 100, 0)[client]
	testutil.Eventually(t, 60*time.Second, "all records received", func() bool { return a.len()+b.len() >= len(want) })
	if a.len() > 0 && b.len() > 0 {
		t.Fatalf("both members received records (%d and %d): no fencing", a.len(), b.len())
	}
	// The broker's view: two members, exactly one holds exactly the client's partition.
	assertOneOwner(t, brokers, group, topic, kafkaio.PartitionFor(client, 3), 2)
	active, standby, stopActive := a, b, stopA
	if b.len() > 0 {
		active, standby, stopActive = b, a, stopB
	}
	if active.len() != len(want) {
		t.Fatalf("active member received %d, want %d", active.len(), len(want))
	}
	if err := stopActive(); err != nil {
		t.Fatalf("stopping the active member: %v", err)
	}
	more := produceInterleaved(t, brokers, topic, []string{client}, 20, 100)[client]
	testutil.Eventually(t, 60*time.Second, "the standby takes over", func() bool { return standby.len() >= len(more) })
	if got := strings.Join(standby.keys(), ","); got != strings.Join(more, ",") {
		t.Fatalf("standby received %v, want exactly the records after the committed offset %v", standby.keys(), more)
	}
}

// TestConsumerHandlerErrorCommitsNothing: a failing handler ends Run with its
// error and commits nothing, so the next run gets the same records again;
// after a successful run, a restart resumes after the committed offset.
func TestConsumerHandlerErrorCommitsNothing(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	topic := "raw.k8s.events" + sfx
	kafkatest.CreateTopics(t, brokers, 2, topic)
	client := "fail" + strings.ReplaceAll(sfx, ".", "-")
	want := produceInterleaved(t, brokers, topic, []string{client, "other" + strings.ReplaceAll(sfx, ".", "-")}, 10, 0)[client]

	boom := errors.New("boom")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	calls := 0
	err := newConsumer(t, brokers, "graph-builder", client, nil, topic).Run(ctx, func(ctx context.Context, batch []kafkaio.Record) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("Run = %v after %d calls, want the handler's error after 1", err, calls)
	}

	col := &collector{}
	stop := kafkatest.Run(t, func(ctx context.Context) error {
		return newConsumer(t, brokers, "graph-builder", client, nil, topic).Run(ctx, col.handle)
	})
	testutil.Eventually(t, 60*time.Second, "redelivery", func() bool { return col.len() >= len(want) })
	if got := strings.Join(col.keys(), ","); got != strings.Join(want, ",") {
		t.Fatalf("after a failed batch got %v, want all %d records again", col.keys(), len(want))
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	more := produceInterleaved(t, brokers, topic, []string{client}, 5, 10)[client]
	col2 := &collector{}
	kafkatest.Run(t, func(ctx context.Context) error {
		return newConsumer(t, brokers, "graph-builder", client, nil, topic).Run(ctx, col2.handle)
	})
	testutil.Eventually(t, 60*time.Second, "resume", func() bool { return col2.len() >= len(more) })
	if got := strings.Join(col2.keys(), ","); got != strings.Join(more, ",") {
		t.Fatalf("after restart got %v, want only the records after the committed offset %v", col2.keys(), more)
	}
}

// TestProducerSendBatchAndDeadLetter: SendBatch returns after the acks, every
// record is on its client's partition in order, and a dead letter carries the
// original key/value/headers plus the kg-* headers.
func TestProducerSendBatchAndDeadLetter(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	out, dlq := "events.normalized"+sfx, "dlq.raw"+sfx
	kafkatest.CreateTopics(t, brokers, 4, out)
	kafkatest.CreateTopics(t, brokers, 1, dlq)
	client := "prod" + strings.ReplaceAll(sfx, ".", "-")
	m := kafkaio.NewMetrics(nil, "test")
	p, err := kafkaio.NewProducer(kafkaio.ProducerConfig{Brokers: brokers, ClientID: client, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var msgs []*sarama.ProducerMessage
	for i := range 200 {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: out, Key: sarama.StringEncoder(fmt.Sprintf("%s::evt-%016x", client, i)), Value: sarama.StringEncoder("v")})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.SendBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if got := kafkatest.Sum(m.RecordsOut); got != 200 {
		t.Fatalf("records out = %v right after SendBatch, want 200 (acked)", got)
	}
	recs := kafkatest.ReadAll(t, brokers, out)
	if len(recs) != 200 {
		t.Fatalf("read %d records, want 200", len(recs))
	}
	for i, r := range recs {
		if r.Partition != kafkaio.PartitionFor(client, 4) || string(r.Key) != fmt.Sprintf("%s::evt-%016x", client, i) {
			t.Fatalf("record %d: partition %d key %s; want partition %d in order", i, r.Partition, r.Key, kafkaio.PartitionFor(client, 4))
		}
	}

	rec := kafkaio.Record{Topic: "raw.k8s.events", Partition: 3, Offset: 42, Key: []byte("not a key"), Value: []byte("{bad"),
		Headers: []*sarama.RecordHeader{{Key: []byte("traceparent"), Value: []byte("00-abc")}}}
	if err := p.DeadLetter(ctx, dlq, rec, "event-normalizer", errors.New("decoding event: unexpected EOF")); err != nil {
		t.Fatal(err)
	}
	got := kafkatest.ReadAll(t, brokers, dlq)
	if len(got) != 1 {
		t.Fatalf("dlq has %d records, want 1", len(got))
	}
	h := map[string]string{}
	for _, x := range got[0].Headers {
		h[string(x.Key)] = string(x.Value)
	}
	wantH := map[string]string{"traceparent": "00-abc", kafkaio.HeaderError: "decoding event: unexpected EOF",
		kafkaio.HeaderSourceTopic: "raw.k8s.events", kafkaio.HeaderSourcePartition: "3", kafkaio.HeaderSourceOffset: "42", kafkaio.HeaderWorker: "event-normalizer"}
	if fmt.Sprint(h) != fmt.Sprint(wantH) || string(got[0].Key) != "not a key" || string(got[0].Value) != "{bad" {
		t.Fatalf("dead letter %q=%q headers %v; want original key/value and headers %v", got[0].Key, got[0].Value, h, wantH)
	}
	if kafkatest.Sum(m.DeadLettered) != 1 {
		t.Fatalf("dead-lettered counter = %v, want 1", kafkatest.Sum(m.DeadLettered))
	}
}

// assertOneOwner checks the group's assignment as the broker reports it.
func assertOneOwner(t *testing.T, brokers []string, group, topic string, partition int32, members int) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	descs, err := admin.DescribeConsumerGroups([]string{group})
	if err != nil || len(descs) != 1 {
		t.Fatalf("describing %s: %v", group, err)
	}
	d := descs[0]
	if d.ProtocolType != "consumer" || d.Protocol != kafkaio.BalanceStrategyName || len(d.Members) != members {
		t.Fatalf("group %s: protocol %s/%s with %d members, want consumer/%s with %d", group, d.ProtocolType, d.Protocol, len(d.Members), kafkaio.BalanceStrategyName, members)
	}
	owners := 0
	for id, m := range d.Members {
		a, err := m.GetMemberAssignment()
		if err != nil {
			t.Fatalf("member %s assignment: %v", id, err)
		}
		if len(a.Topics) == 0 {
			continue
		}
		owners++
		if fmt.Sprint(a.Topics) != fmt.Sprint(map[string][]int32{topic: {partition}}) {
			t.Errorf("member %s holds %v, want only %s/%d", id, a.Topics, topic, partition)
		}
	}
	if owners != 1 {
		t.Fatalf("%d members hold partitions, want exactly 1", owners)
	}
}

// TestConsumerFencedMemberCannotCommit: member A is stuck in its handler when
// member B joins; the group goes on without A after the rebalance timeout and
// B gets the partition. When A's handler finally returns, A's commit carries
// the old generation and the broker rejects it: nothing is committed.
func TestConsumerFencedMemberCannotCommit(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	topic := "raw.k8s.events" + sfx
	kafkatest.CreateTopics(t, brokers, 2, topic)
	client := "fenced" + strings.ReplaceAll(sfx, ".", "-")
	group := kafkaio.GroupID("event-normalizer", client)
	want := produceInterleaved(t, brokers, topic, []string{client}, 10, 0)[client]

	newC := func(m *kafkaio.Metrics) *kafkaio.Consumer {
		c, err := kafkaio.NewConsumer(kafkaio.ConsumerConfig{
			Brokers: brokers, Role: "event-normalizer", ClientID: client, Topics: []string{topic},
			SessionTimeout: 6 * time.Second, RebalanceTimeout: 3 * time.Second, Metrics: m,
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	inHandler, release := make(chan struct{}), make(chan struct{})
	var aCalls atomic.Int32
	mA := kafkaio.NewMetrics(nil, "a")
	kafkatest.Run(t, func(ctx context.Context) error {
		return newC(mA).Run(ctx, func(ctx context.Context, batch []kafkaio.Record) error {
			if aCalls.Add(1) == 1 {
				close(inHandler)
				<-release // stuck, ignoring ctx, like a hung write
				return nil
			}
			<-ctx.Done() // later sessions: never finish a batch
			return ctx.Err()
		})
	})
	<-inHandler

	var bGot atomic.Int32
	kafkatest.Run(t, func(ctx context.Context) error {
		return newC(nil).Run(ctx, func(ctx context.Context, batch []kafkaio.Record) error {
			bGot.Add(int32(len(batch)))
			<-ctx.Done()
			return ctx.Err()
		})
	})
	testutil.Eventually(t, 60*time.Second, "B takes the partition from the stuck A", func() bool { return bGot.Load() >= int32(len(want)) })

	close(release) // A returns nil now and commits with its old generation
	testutil.Eventually(t, 30*time.Second, "A's commit rejected as fenced", func() bool {
		return kafkatest.Sum(mA.Errors.WithLabelValues("fenced")) >= 1
	})
	admin, err := sarama.NewClusterAdmin(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	p := kafkaio.PartitionFor(client, 2)
	offs, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {p}})
	if err != nil {
		t.Fatal(err)
	}
	if got := offs.GetBlock(topic, p).Offset; got != -1 {
		t.Fatalf("committed offset %d after the fenced member's commit, want none (-1)", got)
	}
}

// waitStable waits until the group is Stable with n members.
func waitStable(t *testing.T, brokers []string, group string, n int) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	testutil.Eventually(t, 30*time.Second, fmt.Sprintf("group %s stable with %d members", group, n), func() bool {
		d, err := admin.DescribeConsumerGroups([]string{group})
		return err == nil && len(d) == 1 && d[0].State == "Stable" && len(d[0].Members) == n
	})
}

// TestConsumerShutdownGraceCommitsBatchInFlight: a batch whose output is in
// flight when shutdown begins may finish within the grace period, and is
// then committed, so a restart does not redeliver it.
func TestConsumerShutdownGraceCommitsBatchInFlight(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	topic := "raw.k8s.events" + sfx
	kafkatest.CreateTopics(t, brokers, 2, topic)
	client := "grace" + strings.ReplaceAll(sfx, ".", "-")
	want := produceInterleaved(t, brokers, topic, []string{client}, 10, 0)[client]

	c, err := kafkaio.NewConsumer(kafkaio.ConsumerConfig{
		Brokers: brokers, Role: "event-normalizer", ClientID: client, Topics: []string{topic},
		MaxBatch: 100, Linger: 20 * time.Millisecond, ShutdownGrace: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inHandler := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- c.Run(ctx, func(hctx context.Context, batch []kafkaio.Record) error {
			close(inHandler)
			<-ctx.Done() // SIGTERM arrives while the batch's output is in flight
			// The acks come in now; a handler like SendBatch returns nil
			// unless its ctx was already canceled.
			return hctx.Err()
		})
	}()
	<-inHandler
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run after shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after shutdown")
	}
	admin, err := sarama.NewClusterAdmin(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	p := kafkaio.PartitionFor(client, 2)
	offs, err := admin.ListConsumerGroupOffsets(kafkaio.GroupID("event-normalizer", client), map[string][]int32{topic: {p}})
	if err != nil {
		t.Fatal(err)
	}
	if got := offs.GetBlock(topic, p).Offset; got != int64(len(want)) {
		t.Fatalf("committed offset %d after a graceful stop, want %d (the batch in flight)", got, len(want))
	}
}
