package graph

import (
	"context"
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
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

// kafkaSetup creates private copies of the builder's topics.
func kafkaSetup(t *testing.T) ([]string, Topics) {
	t.Helper()
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	topics := Topics{Events: "events.normalized" + sfx, Logs: "logs.normalized" + sfx, Topology: "state.k8s.topology" + sfx,
		DeadLetter: "dlq.normalized" + sfx}
	kafkatest.CreateTopics(t, brokers, 3, topics.Events, topics.Logs, topics.Topology, topics.DeadLetter)
	return brokers, topics
}

// produce sends records to the private topics, keeping each record's topic role.
func produce(t *testing.T, brokers []string, topics Topics, recs []kafkaio.Record) {
	t.Helper()
	var msgs []*sarama.ProducerMessage
	for _, r := range recs {
		topic := map[string]string{kafkaio.TopicEventsNormalized: topics.Events, kafkaio.TopicLogsNormalized: topics.Logs,
			kafkaio.TopicTopology: topics.Topology}[r.Topic]
		m := &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(r.Key), Timestamp: r.Timestamp}
		if r.Value != nil {
			m.Value = sarama.ByteEncoder(r.Value)
		}
		msgs = append(msgs, m)
	}
	kafkatest.Produce(t, brokers, msgs)
}

func runConfig(client, uri string, brokers []string, topics Topics) Config {
	return Config{ClientID: client, KafkaBrokers: brokers, Neo4jURI: uri, Database: client, Isolation: IsolationShared,
		BatchSize: 100, BatchLinger: 20 * time.Millisecond, MaxRetryTime: 2 * time.Second, Topics: topics}
}

func TestRunConsumesKafkaIntoTheGraph(t *testing.T) {
	brokers, topics := kafkaSetup(t)
	uri := testinfra.Neo4jURI(t)
	client, other := uniqueClient("gb-run"), uniqueClient("gb-run-other")
	d := testDriver(t, uri)
	cleanupClient(t, d, client)
	cleanupClient(t, d, other)
	in := newIncident(client)
	bad := ev{name: "bad", reason: "", kind: "Pod", namespace: "a", objName: "p"}.record(client)
	recs := slices.Concat(in.topology, in.events, in.after, []kafkaio.Record{bad},
		newIncident(other).events) // another client's records on the same topics
	produce(t, brokers, topics, recs)

	reg := prometheus.NewRegistry()
	stop := kafkatest.Run(t, func(ctx context.Context) error {
		return Run(ctx, runConfig(client, uri, brokers, topics), reg, quietLog())
	})
	testutil.Eventually(t, 60*time.Second, "the incident's CAUSES edges", func() bool {
		return slices.Equal(causes(t, d, client), in.want)
	})
	var dead []*sarama.ConsumerMessage
	testutil.Eventually(t, 30*time.Second, "the dead letter", func() bool {
		dead = kafkatest.ReadAll(t, brokers, topics.DeadLetter)
		return len(dead) > 0
	})
	if len(dead) != 1 || string(dead[0].Key) != string(bad.Key) {
		t.Fatalf("dead letters: %d, first key %q", len(dead), dead[0].Key)
	}
	headers := map[string]string{}
	for _, h := range dead[0].Headers {
		headers[string(h.Key)] = string(h.Value)
	}
	if !strings.Contains(headers[kafkaio.HeaderError], "missing reason") || headers[kafkaio.HeaderWorker] != kafkaio.RoleGraphBuilder ||
		headers[kafkaio.HeaderSourceTopic] != topics.Events {
		t.Fatalf("dead letter headers: %v", headers)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := count(t, d, "MATCH (n {client: $c}) RETURN count(n)", map[string]any{"c": other}); n != 0 {
		t.Fatalf("%d nodes of the other client written", n)
	}
	if v := metricValue(t, reg, "kg_graph_edges_created_total", "CAUSES"); v != float64(len(in.want)) {
		t.Fatalf("kg_graph_edges_created_total{type=CAUSES} = %v, want %d", v, len(in.want))
	}
}

// metricValue sums the series of a counter vector in reg that have a label with
// this value (0 when there is none yet).
func metricValue(t *testing.T, reg *prometheus.Registry, name, labelValue string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == labelValue {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// ownNeo4j starts a private Neo4j on other ports (the fault test stops it;
// the shared one is never touched) and removes it when the test ends.
type ownNeo4j struct {
	t      *testing.T
	script string
	env    []string
	uri    string
}

func startOwnNeo4j(t *testing.T) *ownNeo4j {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	n := &ownNeo4j{t: t, script: filepath.Join(root, "scripts", "neo4j.sh"),
		env: append(os.Environ(), "NEO4J_BOLT_PORT=17687", "NEO4J_HTTP_PORT=17474"), uri: "bolt://127.0.0.1:17687"}
	n.do("start")
	t.Cleanup(func() { n.do("clean") })
	return n
}

func (n *ownNeo4j) do(verb string) {
	n.t.Helper()
	cmd := exec.Command(n.script, verb)
	cmd.Env = n.env
	if out, err := cmd.CombinedOutput(); err != nil {
		n.t.Fatalf("neo4j.sh %s: %v\n%s", verb, err, out)
	}
}

// Neo4j down for 20 s in the middle of a run: the builder waits, loses nothing,
// and ends with the graph an uninterrupted run makes.
func TestNeo4jOutageLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops a private Neo4j")
	}
	brokers, topics := kafkaSetup(t)
	testinfra.Neo4jURI(t) // the services are expected
	own := startOwnNeo4j(t)
	d := testDriver(t, own.uri)
	client, ref := uniqueClient("gb-outage"), uniqueClient("gb-ref")

	// The reference: the same input, uninterrupted, straight into the builder.
	refIn := newIncident(ref)
	dlq := &fakeDLQ{}
	rb, err := NewBuilder(d, ref, "", DefaultTopics(), DefaultRules(), dlq.send, prometheus.NewRegistry(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := rb.EnsureSchema(ctx, IsolationShared); err != nil {
		t.Fatal(err)
	}
	for _, batch := range refIn.inOrder() {
		handle(t, rb, batch...)
	}
	want := dump(t, d, ref)

	in := newIncident(client)
	phases := in.inOrder()
	produce(t, brokers, topics, slices.Concat(phases[0], phases[1]))
	reg := prometheus.NewRegistry()
	stop := kafkatest.Run(t, func(ctx context.Context) error {
		return Run(ctx, runConfig(client, own.uri, brokers, topics), reg, quietLog())
	})
	testutil.Eventually(t, 60*time.Second, "the first half in the graph", func() bool {
		return len(causes(t, d, client)) == 2 // NodeNotReady → both evictions
	})

	own.do("stop")
	down := time.Now()
	produce(t, brokers, topics, slices.Concat(phases[2], phases[3]))
	testutil.Eventually(t, 30*time.Second, "the builder retrying against the stopped Neo4j", func() bool {
		return metricValue(t, reg, "kg_graph_write_retries_total", "unavailable") > 0
	})
	// Keep it down for the 20 s the scenario asks for; the builder must neither
	// crash nor commit meanwhile.
	select {
	case <-time.After(time.Until(down.Add(20 * time.Second))):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	own.do("start")
	testutil.Eventually(t, 90*time.Second, "the whole incident after the restart", func() bool {
		got, err := tryCauses(d, client)
		return err == nil && slices.Equal(got, in.want)
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := dump(t, d, client)
	for i := range got {
		got[i] = strings.ReplaceAll(got[i], client, ref)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("graph after the outage differs from the uninterrupted one:\n got %q\nwant %q", got, want)
	}
}

func tryCauses(d neo4j.DriverWithContext, client string) ([]string, error) {
	res, err := neo4j.ExecuteQuery(context.Background(), d, `
MATCH (c:Event {client: $client})-[x:CAUSES]->(e:Event)
RETURN c.eid + ' -[' + x.rule + ']-> ' + e.eid AS s ORDER BY s`, map[string]any{"client": client}, neo4j.EagerResultTransformer)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, r := range res.Records {
		out = append(out, r.Values[0].(string))
	}
	return out, nil
}

// A restarted builder resumes from its committed offsets and links new events to
// the ones written before the restart (Neo4j, not memory, holds the window).
func TestRestartedBuilderLinksToEarlierEvents(t *testing.T) {
	brokers, topics := kafkaSetup(t)
	uri := testinfra.Neo4jURI(t)
	client := uniqueClient("gb-restart")
	d := testDriver(t, uri)
	cleanupClient(t, d, client)
	in := newIncident(client)
	phases := in.inOrder()

	produce(t, brokers, topics, slices.Concat(phases[0], phases[1]))
	stop := kafkatest.Run(t, func(ctx context.Context) error {
		return Run(ctx, runConfig(client, uri, brokers, topics), prometheus.NewRegistry(), quietLog())
	})
	// The whole first half, not just its first edges: stopping between its
	// batches would leave a record to be read again after the restart.
	eventsNow := func() int64 {
		return count(t, d, "MATCH (e:Event {client: $c}) RETURN count(e)", map[string]any{"c": client})
	}
	testutil.Eventually(t, 60*time.Second, "the first half in the graph", func() bool {
		return len(causes(t, d, client)) == 2 && eventsNow() == 5
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	before := eventsNow()

	produce(t, brokers, topics, slices.Concat(phases[2], phases[3]))
	reg := prometheus.NewRegistry()
	stop = kafkatest.Run(t, func(ctx context.Context) error {
		return Run(ctx, runConfig(client, uri, brokers, topics), reg, quietLog())
	})
	testutil.Eventually(t, 60*time.Second, "the whole incident", func() bool { return slices.Equal(causes(t, d, client), in.want) })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Only the second half was read again: the first was committed.
	written := metricValue(t, reg, "kg_graph_records_total", "written")
	if want := float64(len(phases[2]) + len(phases[3])); written != want || before != 5 {
		t.Fatalf("after the restart %v records written (want %v, the second half only); %d events before", written, want, before)
	}
}
