package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/internal/testinfra"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

// uniqueClient returns a fresh valid client id.
func uniqueClient(prefix string) string {
	return prefix + "-" + strings.TrimPrefix(kafkatest.Suffix(), ".")
}

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testDriver connects to the shared test Neo4j.
func testDriver(t testing.TB, uri string) neo4j.DriverWithContext {
	t.Helper()
	cfg := Config{Neo4jURI: uri, MaxRetryTime: 2 * time.Second}
	d, err := NewDriver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

// cleanupClient deletes a client's nodes from the shared database at the end.
func cleanupClient(t testing.TB, d neo4j.DriverWithContext, client string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = neo4j.ExecuteQuery(ctx, d, "MATCH (n {client: $client}) DETACH DELETE n",
			map[string]any{"client": client}, neo4j.EagerResultTransformer)
	})
}

// fakeDLQ collects dead letters in memory.
type fakeDLQ struct {
	mu      sync.Mutex
	letters []string // "<key>: <reason>"
}

func (f *fakeDLQ) send(_ context.Context, rec kafkaio.Record, reason error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.letters = append(f.letters, string(rec.Key)+": "+reason.Error())
	return nil
}

func (f *fakeDLQ) all() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.letters...)
}

// newTestBuilder is a builder for client on the shared Neo4j, schema ready.
func newTestBuilder(t testing.TB, client string) (*Builder, neo4j.DriverWithContext, *fakeDLQ) {
	t.Helper()
	d := testDriver(t, testinfra.Neo4jURI(t))
	cleanupClient(t, d, client)
	dlq := &fakeDLQ{}
	b, err := NewBuilder(d, client, "", DefaultTopics(), DefaultRules(), dlq.send, prometheus.NewRegistry(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.EnsureSchema(ctx, IsolationShared); err != nil {
		t.Fatal(err)
	}
	return b, d, dlq
}

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func hexID(prefix, name string) string {
	h := sha256.Sum256([]byte(name))
	return prefix + hex.EncodeToString(h[:8])
}

// ev is a normalized event in a test.
type ev struct {
	name       string // test handle; the event id is derived from it
	at         time.Duration
	reason     string
	message    string
	kind       string
	namespace  string
	objName    string
	host       string
	count      int
	severity   string
	eventIDRaw string // overrides the derived id
}

func (e ev) id() string { return hexID("evt-", e.name) }

func (e ev) record(client string) kafkaio.Record {
	count := e.count
	if count == 0 {
		count = 1
	}
	sev := e.severity
	if sev == "" {
		sev = "WARNING"
	}
	body := map[string]any{
		"event_id": e.id(), "timestamp": t0.Add(e.at).Format(time.RFC3339Nano),
		"first_timestamp": t0.Add(e.at).Format(time.RFC3339Nano), "count": count,
		"reason": e.reason, "message": e.message, "type": "Warning", "severity": sev, "category": "OTHER",
		"object": map[string]any{"kind": e.kind, "namespace": e.namespace, "name": e.objName, "uid": "uid-" + e.objName},
		"source": map[string]any{"component": "kubelet", "host": e.host}, "node": e.host,
	}
	v, _ := json.Marshal(body)
	return kafkaio.Record{Topic: kafkaio.TopicEventsNormalized, Key: []byte(client + "::" + e.id()), Value: v,
		Timestamp: t0.Add(e.at)}
}

// lg is a normalized log in a test.
type lg struct {
	name, namespace, pod, node, severity, signature, message string
	at                                                       time.Duration
}

func (l lg) id() string { return hexID("log-", l.name) }

func (l lg) record(client string) kafkaio.Record {
	v, _ := json.Marshal(map[string]any{"log_id": l.id(), "timestamp": t0.Add(l.at).Format(time.RFC3339Nano),
		"severity": l.severity, "message": l.message, "namespace": l.namespace, "pod": l.pod, "container": "app",
		"node": l.node, "pod_uid": "uid-" + l.pod, "signature": l.signature})
	return kafkaio.Record{Topic: kafkaio.TopicLogsNormalized, Key: []byte(client + "::" + l.id()), Value: v, Timestamp: t0.Add(l.at)}
}

// topo is a topology record in a test; nil rec = tombstone.
func topo(client string, rec *TopologyRecord, kind, ns, name string, at time.Duration) kafkaio.Record {
	r := kafkaio.Record{Topic: kafkaio.TopicTopology, Key: []byte(client + "::topology::" + kind + "/" + ns + "/" + name),
		Timestamp: t0.Add(at)}
	if rec != nil {
		r.Value, _ = json.Marshal(rec)
	}
	return r
}

func podTopo(client, ns, name, node, rs string, at time.Duration) kafkaio.Record {
	return topo(client, &TopologyRecord{Kind: "Pod", Namespace: ns, Name: name, UID: "uid-" + name, Node: node,
		Labels: map[string]string{"app": "web"}, Owners: []Ref{{Kind: "ReplicaSet", Name: rs}}}, "Pod", ns, name, at)
}

// causes returns the client's CAUSES edges as "cause-eid -[rule]-> effect-eid".
func causes(t testing.TB, d neo4j.DriverWithContext, client string) []string {
	t.Helper()
	res, err := neo4j.ExecuteQuery(context.Background(), d, `
MATCH (c:Event {client: $client})-[x:CAUSES]->(e:Event)
RETURN c.eid + ' -[' + x.rule + ']-> ' + e.eid AS s ORDER BY s`, map[string]any{"client": client}, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatalf("reading CAUSES: %v", err)
	}
	out := []string{}
	for _, r := range res.Records {
		out = append(out, r.Values[0].(string))
	}
	return out
}

func edge(cause, rule, effect string) string { return cause + " -[" + rule + "]-> " + effect }

// dump renders every node and relationship of client with all properties,
// sorted: two graphs are equal when their dumps are.
func dump(t testing.TB, d neo4j.DriverWithContext, client string) []string {
	t.Helper()
	ctx := context.Background()
	nodes, err := neo4j.ExecuteQuery(ctx, d, `
MATCH (n {client: $client}) RETURN labels(n) AS l, properties(n) AS p`, map[string]any{"client": client}, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatalf("dumping nodes: %v", err)
	}
	rels, err := neo4j.ExecuteQuery(ctx, d, `
MATCH (a {client: $client})-[r]->(b) RETURN coalesce(a.rid, a.eid) AS a, type(r) AS t, properties(r) AS p, coalesce(b.rid, b.eid) AS b, b.client AS bc`,
		map[string]any{"client": client}, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatalf("dumping relationships: %v", err)
	}
	var out []string
	for _, r := range nodes.Records {
		out = append(out, fmt.Sprintf("node %v %s", r.Values[0], props(r.Values[1])))
	}
	for _, r := range rels.Records {
		out = append(out, fmt.Sprintf("rel %v -%v %s-> %v (%v)", r.Values[0], r.Values[1], props(r.Values[2]), r.Values[3], r.Values[4]))
	}
	sort.Strings(out)
	return out
}

func props(v any) string {
	m, _ := v.(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%v;", k, m[k])
	}
	return b.String()
}

func handle(t testing.TB, b *Builder, recs ...kafkaio.Record) {
	t.Helper()
	// Generous: on a loaded two-core machine one Neo4j transaction has taken
	// over a minute; the deadline only keeps a wedged test from hanging.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := b.Handle(ctx, recs); err != nil {
		t.Fatalf("Handle: %v", err)
	}
}

func count(t testing.TB, d neo4j.DriverWithContext, q string, params map[string]any) int64 {
	t.Helper()
	res, err := neo4j.ExecuteQuery(context.Background(), d, q, params, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	n, _ := res.Records[0].Values[0].(int64)
	return n
}

func withTopic(r kafkaio.Record, topic string) kafkaio.Record { r.Topic = topic; return r }

func utf8Valid(s string) bool { return utf8.ValidString(s) }
