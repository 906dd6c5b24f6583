package strays_test

// Every kind of producer an operator runs, against the real Kafka and Neo4j,
// with the real workers and the control plane's stray consumer: the records
// reach the client's graph, or dlq.raw with their reason. None is lost.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/internal/testinfra"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/strays"
	"github.com/kgrca/kgplane/workers/eventnorm"
	"github.com/kgrca/kgplane/workers/graph"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
	"github.com/kgrca/kgplane/workers/lognorm"
	"github.com/kgrca/kgplane/workers/normalizer"
)

// kcatPath is kcat (librdkafka's CLI), or a skip: make test installs it
// (scripts/tools.sh), a developer's machine may not have it.
func kcatPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat is not on PATH, so the librdkafka producer path is not tested here; install it (apt-get install kcat, or scripts/tools.sh) or run make test, which does")
	}
	return p
}

// kcat publishes lines ("<key>\t<value>", or values alone when keyed is
// false: null keys) as librdkafka does with partitioner=murmur2_random, the
// setting docs/normalization.md gives Vector and Fluent Bit.
func kcat(t *testing.T, bin string, brokers []string, topic string, keyed bool, lines ...string) {
	t.Helper()
	args := []string{"-P", "-b", strings.Join(brokers, ","), "-t", topic, "-X", "topic.partitioner=murmur2_random"}
	if keyed {
		args = append(args, "-K", "\t")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, out)
	}
}

// consoleProducer publishes "<key>\t<value>" lines with the Kafka
// distribution's own kafka-console-producer and its default partitioner
// (murmur2 of the whole key), through scripts/kafka.sh.
func consoleProducer(t *testing.T, brokers []string, topic string, lines ...string) {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("no java on PATH: the Kafka console producer cannot run (make test needs Java for Kafka anyway)")
	}
	_, port, err := net.SplitHostPort(brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("../scripts/kafka.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, "tool", "console-producer", "--topic", topic,
		"--property", "parse.key=true", "--property", "key.separator=\t")
	cmd.Env = append(os.Environ(), "KAFKA_PORT="+port)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kafka console producer: %v\n%s", err, out)
	}
}

// keyOn returns the first key format(i) whose murmur2 (of the whole key, as
// Kafka's default partitioner and librdkafka's murmur2 hash it) lands on one
// of the partitions in want.
func keyOn(t *testing.T, format string, n int32, want ...int32) string {
	t.Helper()
	for i := range 10000 {
		k := fmt.Sprintf(format, i)
		if slices.Contains(want, kafkaio.PartitionFor(k, n)) {
			return k
		}
	}
	t.Fatalf("no key %q on partitions %v of %d", format, want, n)
	return ""
}

func eventID(t *testing.T, keyID string, raw []byte) string {
	id, _, err := eventnorm.Normalize(keyID, raw)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func logID(t *testing.T, raw []byte) string {
	id, _, err := lognorm.Normalize("", raw)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// graphIDs returns the event ids in client's graph and whether rid exists.
func graphIDs(t *testing.T, d neo4j.DriverWithContext, client, rid string) ([]string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := neo4j.ExecuteQuery(ctx, d, `
OPTIONAL MATCH (e:Event {client: $c}) WITH collect(e.eid) AS eids
OPTIONAL MATCH (r:Resource {client: $c, rid: $rid}) RETURN eids, count(r) > 0`,
		map[string]any{"c": client, "rid": rid}, neo4j.EagerResultTransformer)
	if err != nil {
		t.Logf("reading the graph: %v", err)
		return nil, false
	}
	var ids []string
	for _, v := range res.Records[0].Values[0].([]any) {
		ids = append(ids, v.(string))
	}
	slices.Sort(ids)
	return ids, res.Records[0].Values[1].(bool)
}

// TestEveryProducerReachesTheGraph: client a's records published by
//   - a sarama producer with our client partitioner (kg-agent), key a::event::<uid>;
//   - kcat (librdkafka) with partitioner=murmur2_random and key = a: an
//     event, a Vector log and a Fluent Bit log (what the shippers send with
//     docs/normalization.md's settings);
//   - Kafka's console producer with the seed's key formats and no
//     partitioner setting: events landing on a partition no live client owns
//     (the control plane forwards them) and on live client b's partition
//     (b's worker forwards them), a topology record;
//
// all reach a's graph in Neo4j; records whose key names no client (console
// producer, kcat without a key) land in dlq.raw with their reason, from
// whichever reader saw them.
func TestEveryProducerReachesTheGraph(t *testing.T) {
	kcatBin := kcatPath(t)
	brokers := kafkatest.Brokers(t)
	uri := testinfra.Neo4jURI(t)
	sfx := kafkatest.Suffix()
	id := strings.TrimPrefix(sfx, ".")
	const n = 8
	topics := strays.DefaultTopics(sfx)
	for _, tp := range topics {
		kafkatest.CreateTopics(t, brokers, n, tp.Name)
	}
	dlqRaw, dlqNorm := kafkaio.TopicDLQRaw+sfx, kafkaio.TopicDLQNormalized+sfx
	kafkatest.CreateTopics(t, brokers, 1, dlqRaw, dlqNorm)
	rawEvents, rawLogs, topology := kafkaio.TopicRawEvents+sfx, kafkaio.TopicRawLogs+sfx, kafkaio.TopicTopology+sfx
	a := kafkatest.ClientOn(t, "prod-a-"+id, 0, n)
	b := kafkatest.ClientOn(t, "prod-b-"+id, 1, n)

	d, err := graph.NewDriver(graph.Config{Neo4jURI: uri, MaxRetryTime: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = neo4j.ExecuteQuery(ctx, d, "MATCH (n {client: $c}) DETACH DELETE n", map[string]any{"c": a}, neo4j.EagerResultTransformer)
		d.Close(ctx)
	})

	// a's three workers, b's event normalizer, the control plane's stray consumer.
	log := quietLog()
	normalize := func(client, role string, fn normalizer.Func, in, out string) {
		kafkatest.Run(t, func(ctx context.Context) error {
			return normalizer.Run(ctx, normalizer.Config{Role: role, Brokers: brokers, ClientID: client, Normalize: fn,
				InputTopic: in, OutputTopic: out, DLQTopic: dlqRaw, Linger: 20 * time.Millisecond, Logger: log})
		})
	}
	normalize(a, kafkaio.RoleEventNormalizer, eventnorm.Normalize, rawEvents, kafkaio.TopicEventsNormalized+sfx)
	normalize(a, kafkaio.RoleLogNormalizer, lognorm.Normalize, rawLogs, kafkaio.TopicLogsNormalized+sfx)
	normalize(b, kafkaio.RoleEventNormalizer, eventnorm.Normalize, rawEvents, kafkaio.TopicEventsNormalized+sfx)
	kafkatest.Run(t, func(ctx context.Context) error {
		return graph.Run(ctx, graph.Config{ClientID: a, KafkaBrokers: brokers, Neo4jURI: uri, Database: a, Isolation: graph.IsolationShared,
			BatchSize: 100, BatchLinger: 20 * time.Millisecond, MaxRetryTime: 2 * time.Second,
			Topics: graph.Topics{Events: kafkaio.TopicEventsNormalized + sfx, Logs: kafkaio.TopicLogsNormalized + sfx, Topology: topology, DeadLetter: dlqNorm},
		}, prometheus.NewRegistry(), log)
	})
	reg := prometheus.NewRegistry()
	sc, err := strays.New(strays.Config{Brokers: brokers, Topics: topics, GroupID: "kg-strays-test" + sfx, Linger: 20 * time.Millisecond, Logger: log, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	sc.SetLiveClients([]string{a, b})
	kafkatest.Run(t, func(ctx context.Context) error { sc.Run(ctx); return nil })

	var want []string
	// kg-agent: our partitioner, the full key.
	ours := kafkatest.RawEvent("uid-ours-"+id, 0)
	kafkatest.Produce(t, brokers, []*sarama.ProducerMessage{{Topic: rawEvents, Key: sarama.StringEncoder(kafkatest.Key(a, "event", "uid-ours-"+id)), Value: sarama.ByteEncoder(ours)}})
	want = append(want, eventID(t, "uid-ours-"+id, ours))

	// librdkafka (kcat), key = the client id: lands on a's partition.
	kcatEvent := kafkatest.RawEvent("uid-kcat-"+id, 1)
	vector := []byte(`{"message":"ERROR dial tcp 10.0.0.7:5432: connect: connection refused","timestamp":"2026-11-20T10:00:00.5Z","stream":"stderr","source_type":"kubernetes_logs",` +
		`"kubernetes":{"pod_namespace":"shop","pod_name":"web-1","pod_uid":"p-1","container_name":"app","pod_node_name":"node-1"}}`)
	fluentBit := []byte(`{"@timestamp":1795170001.25,"log":"panic: runtime error: invalid memory address or nil pointer dereference\n","stream":"stderr",` +
		`"kubernetes":{"namespace_name":"shop","pod_name":"web-2","pod_id":"p-2","container_name":"app","host":"node-2"}}`)
	kcat(t, kcatBin, brokers, rawEvents, true, a+"\t"+string(kcatEvent))
	kcat(t, kcatBin, brokers, rawLogs, true, a+"\t"+string(vector), a+"\t"+string(fluentBit))
	want = append(want, eventID(t, "", kcatEvent), logID(t, vector), logID(t, fluentBit))

	// Kafka's console producer, the seed's keys, its default partitioner.
	uncovered := others(n, 0, 1)
	strayUID := strings.TrimPrefix(keyOn(t, a+"::event::uid-cp-%d", n, uncovered...), a+"::event::")
	onB := strings.TrimPrefix(keyOn(t, a+"::event::uid-cp-b-%d", n, 1), a+"::event::")
	byCP, byB := kafkatest.RawEvent(strayUID, 2), kafkatest.RawEvent(onB, 3)
	badUncovered := keyOn(t, "Shop_Cluster-%d::event::x", n, uncovered...)
	badOnA := keyOn(t, "Shop_Cluster-%d::event::y", n, 0)
	consoleProducer(t, brokers, rawEvents,
		kafkatest.Key(a, "event", strayUID)+"\t"+string(byCP),
		kafkatest.Key(a, "event", onB)+"\t"+string(byB),
		badUncovered+"\t{}",
		badOnA+"\t{}")
	want = append(want, eventID(t, strayUID, byCP), eventID(t, onB, byB))
	podKey := keyOn(t, a+"::topology::Pod/shop/web-%d", n, uncovered...)
	rid := strings.TrimPrefix(podKey, a+"::topology::")
	parts := strings.Split(rid, "/")
	consoleProducer(t, brokers, topology, podKey+"\t"+fmt.Sprintf(`{"kind":"Pod","namespace":"shop","name":%q,"node":"node-1"}`, parts[2]))

	// librdkafka without a key.
	kcat(t, kcatBin, brokers, rawEvents, false, string(kafkatest.RawEvent("uid-nokey-"+id, 4)))

	slices.Sort(want)
	var got []string
	var hasPod bool
	defer func() {
		if t.Failed() {
			t.Logf("graph of %s: event ids %v, pod %s: %v; want %v", a, got, rid, hasPod, want)
		}
	}()
	testutil.Eventually(t, 120*time.Second, "every record in a's graph", func() bool {
		got, hasPod = graphIDs(t, d, a, rid)
		return hasPod && slices.Equal(got, want)
	})

	var dead []*sarama.ConsumerMessage
	testutil.Eventually(t, 60*time.Second, "three dead letters", func() bool {
		dead = kafkatest.ReadAll(t, brokers, dlqRaw)
		return len(dead) >= 3
	})
	reasons := map[string]string{}
	for _, m := range dead {
		reasons[string(m.Key)] = kafkatest.Headers(m.Headers)[kafkaio.HeaderError]
	}
	for key, reason := range map[string]string{badUncovered: "does not name a client", badOnA: "does not name a client", "": "no key"} {
		if !strings.Contains(reasons[key], reason) {
			t.Errorf("dead letter of key %q: reason %q, want one containing %q (all: %v)", key, reasons[key], reason, reasons)
		}
	}
	if len(dead) != 3 {
		t.Errorf("%d dead letters, want 3: %v", len(dead), reasons)
	}
	if n := kafkatest.Gathered(t, reg, "kgplane_stray_records_total", kafkaio.StrayWrongPartition); n < 2 {
		t.Errorf("the control plane forwarded %v records, want at least the event and the topology record", n)
	}
}
