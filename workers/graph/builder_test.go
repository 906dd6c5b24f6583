package graph

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/internal/testinfra"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

func TestIncidentYieldsExpectedGraph(t *testing.T) {
	client := uniqueClient("gb-incident")
	b, d, dlq := newTestBuilder(t, client)
	in := newIncident(client)
	for _, batch := range in.inOrder() {
		handle(t, b, batch...)
	}
	if got := causes(t, d, client); !slices.Equal(got, in.want) {
		t.Fatalf("CAUSES edges:\n got %q\nwant %q", got, in.want)
	}
	if l := dlq.all(); len(l) != 0 {
		t.Fatalf("dead letters: %q", l)
	}
	p := map[string]any{"client": client}
	for _, c := range []struct {
		what string
		q    string
		want int64
	}{
		{"events (7 k8s + 1 high-signal log; the INFO log is not one)", "MATCH (e:Event {client: $client}) RETURN count(e)", 8},
		{"log events", "MATCH (e:Event {client: $client, source: 'log', reason: 'CONNECTION_REFUSED'}) RETURN count(e)", 1},
		{"every event is ABOUT one resource", "MATCH (e:Event {client: $client}) WHERE COUNT { (e)-[:ABOUT]->(:Resource) } = 1 RETURN count(e)", 8},
		{"the node has one identity", "MATCH (r:Resource {client: $client, kind: 'Node', name: 'node-1'}) RETURN count(r)", 1},
		{"the node's rid is cluster-scoped", "MATCH (r:Resource {client: $client, rid: 'Node//node-1'}) RETURN count(r)", 1},
		{"the pod resource from events and topology is one node", "MATCH (r:Resource {client: $client, rid: 'Pod/shop/web-a'}) RETURN count(r)", 1},
		{"the deleted pod's topology relations ended", "MATCH (:Resource {client: $client, rid: 'Pod/shop/web-a'})-[x {via: 'topology'}]->() WHERE x.until IS NULL RETURN count(x)", 0},
		{"its event-revealed RUNS_ON stays", "MATCH (:Resource {client: $client, rid: 'Pod/shop/web-a'})-[x:RUNS_ON {via: 'event'}]->(:Resource {rid: 'Node//node-1'}) RETURN count(x)", 1},
		{"replacements are owned by the ReplicaSet", "MATCH (:Resource {client: $client})-[x:OWNED_BY {via: 'topology'}]->(:Resource {rid: 'ReplicaSet/shop/web-7d9'}) WHERE x.until IS NULL RETURN count(x)", 2},
		{"the service selects no pod any more", "MATCH (:Resource {client: $client, rid: 'Service/shop/web'})-[x:SELECTS]->() WHERE x.until IS NULL RETURN count(x)", 0},
		{"deleted pods are marked", "MATCH (r:Resource {client: $client}) WHERE r.deleted_ms IS NOT NULL RETURN count(r)", 2},
		{"labels are stored", "MATCH (r:Resource {client: $client, rid: 'Pod/shop/web-c'}) WHERE r.labels = ['app=web'] RETURN count(r)", 1},
		{"CAUSES edges carry confidence and lag", "MATCH (:Event {client: $client})-[x:CAUSES {rule: 'node-not-ready-eviction'}]->() WHERE x.confidence = 0.9 AND x.lag_s IN [40.0, 41.0] RETURN count(x)", 2},
	} {
		if got := count(t, d, c.q, p); got != c.want {
			t.Errorf("%s: got %d, want %d", c.what, got, c.want)
		}
	}
}

func TestEffectBeforeCauseStillLinks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		order func(in incident) [][]kafkaio.Record
	}{
		{"events newest first, topology last", func(in incident) [][]kafkaio.Record {
			ev := slices.Clone(in.events)
			slices.Reverse(ev)
			return [][]kafkaio.Record{ev[:3], ev[3:], in.topology, in.after}
		}},
		{"everything in one batch, reversed", func(in incident) [][]kafkaio.Record {
			all := slices.Concat(in.events, in.topology)
			slices.Reverse(all)
			return [][]kafkaio.Record{append(all, in.after...)}
		}},
		{"one record per batch, effects first", func(in incident) [][]kafkaio.Record {
			var out [][]kafkaio.Record
			for _, r := range slices.Concat(in.topology, in.after) {
				out = append(out, []kafkaio.Record{r})
			}
			ev := slices.Clone(in.events)
			slices.Reverse(ev)
			for _, r := range ev {
				out = append(out, []kafkaio.Record{r})
			}
			return out
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := uniqueClient("gb-reverse")
			b, d, _ := newTestBuilder(t, client)
			in := newIncident(client)
			for _, batch := range tc.order(in) {
				handle(t, b, batch...)
			}
			if got := causes(t, d, client); !slices.Equal(got, in.want) {
				t.Fatalf("CAUSES edges:\n got %q\nwant %q", got, in.want)
			}
		})
	}
}

func TestReplayLeavesGraphIdentical(t *testing.T) {
	client := uniqueClient("gb-replay")
	b, d, _ := newTestBuilder(t, client)
	in := newIncident(client)
	for _, batch := range in.inOrder() {
		handle(t, b, batch...)
	}
	first := dump(t, d, client)
	if len(first) < 40 {
		t.Fatalf("suspiciously small graph: %d lines", len(first))
	}
	for _, batch := range in.inOrder() {
		handle(t, b, batch...)
	}
	// Redelivery in different batch boundaries, too.
	handle(t, b, slices.Concat(in.inOrder()...)...)
	if second := dump(t, d, client); !slices.Equal(first, second) {
		t.Fatalf("graph changed on replay:\nfirst  %q\nsecond %q", first, second)
	}
}

func TestSharedIsolationKeepsClientsApart(t *testing.T) {
	ca, cb := uniqueClient("gb-iso-a"), uniqueClient("gb-iso-b")
	ba, d, _ := newTestBuilder(t, ca)
	bb, _, _ := newTestBuilder(t, cb)
	ia, ib := newIncident(ca), newIncident(cb)
	// The same cluster (same names, same node) in both clients, interleaved.
	for i, batch := range ia.inOrder() {
		handle(t, ba, batch...)
		handle(t, bb, ib.inOrder()[i]...)
	}
	if got := causes(t, d, ca); !slices.Equal(got, ia.want) {
		t.Fatalf("client a CAUSES:\n got %q\nwant %q", got, ia.want)
	}
	if got := causes(t, d, cb); !slices.Equal(got, ib.want) {
		t.Fatalf("client b CAUSES:\n got %q\nwant %q", got, ib.want)
	}
	p := map[string]any{"a": ca, "b": cb}
	if n := count(t, d, `MATCH (x)-[r]-(y) WHERE x.client IN [$a, $b] AND (y.client IS NULL OR y.client <> x.client) RETURN count(r)`, p); n != 0 {
		t.Fatalf("%d relationships cross between the clients", n)
	}
	if n := count(t, d, `MATCH (x) WHERE x.client IN [$a, $b] AND NOT x:Resource AND NOT x:Event AND NOT x:IP AND NOT x:Name RETURN count(x)`, p); n != 0 {
		t.Fatalf("%d unexpected nodes", n)
	}
	na := count(t, d, "MATCH (x {client: $a}) RETURN count(x)", p)
	nb := count(t, d, "MATCH (x {client: $b}) RETURN count(x)", p)
	if na == 0 || na != nb {
		t.Fatalf("node counts: a=%d b=%d, want equal and non-zero", na, nb)
	}
	if n := count(t, d, "MATCH (r:Resource {rid: 'Node//node-1'}) WHERE r.client IN [$a, $b] RETURN count(r)", p); n != 2 {
		t.Fatalf("node-1 exists %d times across the two clients, want once each", n)
	}
}

// One record per batch, or all in one batch, makes the same graph.
func TestBatchBoundariesDoNotChangeTheGraph(t *testing.T) {
	ca, cb := uniqueClient("gb-batch-a"), uniqueClient("gb-batch-b")
	ba, d, _ := newTestBuilder(t, ca)
	bb, _, _ := newTestBuilder(t, cb)
	ia, ib := newIncident(ca), newIncident(cb)
	handle(t, ba, slices.Concat(ia.inOrder()...)...)
	for _, r := range slices.Concat(ib.inOrder()...) {
		handle(t, bb, r)
	}
	da, db := dump(t, d, ca), dump(t, d, cb)
	for i := range db {
		db[i] = replaceAll(db[i], cb, ca)
	}
	if !slices.Equal(da, db) {
		t.Fatalf("graphs differ:\nbatched %q\nsingle  %q", da, db)
	}
}

func replaceAll(s, old, new string) string {
	for {
		i := indexOf(s, old)
		if i < 0 {
			return s
		}
		s = s[:i] + new + s[i+len(old):]
	}
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestDatabaseIsolationOnCommunityFailsAtStart(t *testing.T) {
	client := uniqueClient("gb-db")
	uri := testinfra.Neo4jURI(t)
	cfg := Config{ClientID: client, KafkaBrokers: []string{"127.0.0.1:1"}, Neo4jURI: uri, Database: client,
		Isolation: IsolationDatabase, BatchSize: 10, BatchLinger: time.Millisecond, MaxRetryTime: time.Second, Topics: DefaultTopics()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Run(ctx, cfg, prometheus.NewRegistry(), quietLog())
	if err == nil || !strings.Contains(err.Error(), "NEO4J_ISOLATION=shared") || !strings.Contains(err.Error(), "community") {
		t.Fatalf("Run in database isolation on Community: %v, want a message naming NEO4J_ISOLATION=shared", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run waited instead of failing at start")
	}
}

// The constraints exist after EnsureSchema, and running it again is harmless.
func TestSchemaIsIdempotent(t *testing.T) {
	b, d, _ := newTestBuilder(t, uniqueClient("gb-schema"))
	if err := b.EnsureSchema(context.Background(), IsolationShared); err != nil {
		t.Fatal(err)
	}
	n := count(t, d, `SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties
WHERE name IN ['kg_resource_key', 'kg_event_key'] AND type = 'UNIQUENESS' AND properties[0] = 'client' RETURN count(*)`, nil)
	if n != 2 {
		t.Fatalf("%d of the 2 composite uniqueness constraints on (client, key)", n)
	}
}

// The root-cause query of docs/graph.md finds the failed node behind a
// replacement pod that cannot be scheduled.
func TestOperatorRootCauseQuery(t *testing.T) {
	client := uniqueClient("gb-rca")
	b, d, _ := newTestBuilder(t, client)
	in := newIncident(client)
	for _, batch := range in.inOrder() {
		handle(t, b, batch...)
	}
	res, err := neo4j.ExecuteQuery(context.Background(), d, `
MATCH path = (root:Event {client: $client})-[:CAUSES*1..6]->(e:Event {client: $client, eid: $eid})
WHERE NOT (root)<-[:CAUSES]-()
RETURN root.reason, root.ts, [r IN relationships(path) | r.rule] AS rules,
       reduce(c = 1.0, r IN relationships(path) | c * r.confidence) AS confidence
ORDER BY confidence DESC`, map[string]any{"client": client, "eid": hexID("evt-", "sched-c")}, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 2 { // via either evicted pod
		t.Fatalf("%d root-cause paths, want 2", len(res.Records))
	}
	for _, r := range res.Records {
		rules := r.Values[2].([]any)
		if r.Values[0] != "NodeNotReady" || len(rules) != 2 || rules[0] != "node-not-ready-eviction" ||
			rules[1] != "eviction-unschedulable-replacement" || r.Values[3].(float64) < 0.62 || r.Values[3].(float64) > 0.64 {
			t.Fatalf("root cause %v", r.Values)
		}
	}
}
