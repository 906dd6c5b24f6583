package rca

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/workers/graph"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// TestBenchRCALatency measures a root-cause answer on a client graph of
// 1,000,000 events (KG_BENCH_EVENTS) in a private Neo4j (scripts/neo4j.sh on
// bolt 27687, removed afterwards; KG_BENCH_NEO4J_URI uses a running one
// instead and keeps its data). It is a benchmark: KG_BENCH=1 only.
//
//	KG_BENCH=1 go test -count=1 -run TestBenchRCALatency -v -timeout 90m ./workers/rca
//
// The graph: a week of a busy cluster's history (2,000 pods on 50 nodes, 200
// Services, pod lifecycle, probe failures, restarts, scheduling trouble,
// call errors, one pod with 10,000 events of its own) written through the
// graph builder, then an incident in the last minutes: a callee's pods are
// OOM-killed, their callers' connections are refused and their readiness
// fails. The answer is timed cold (the first question of a process, which
// also plans the statements) and warm (the median and worst of 20), with the
// query plans' rows and db hits.
func TestBenchRCALatency(t *testing.T) {
	if os.Getenv("KG_BENCH") != "1" {
		t.Skip("a benchmark: set KG_BENCH=1 (make bench-rca)")
	}
	total, _ := strconv.Atoi(envOrDefault("KG_BENCH_EVENTS", "1000000"))
	uri := os.Getenv("KG_BENCH_NEO4J_URI")
	if uri == "" {
		uri = startPrivateNeo4j(t)
	}
	d, err := graph.NewDriver(graph.Config{Neo4jURI: uri, MaxRetryTime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	client := envOrDefault("KG_BENCH_CLIENT", "rca-bench")
	ctx := context.Background()
	have := countOf(t, d, "MATCH (e:Event) WHERE e.client = $c AND e.ts_ms IS NOT NULL RETURN count(e)", client)
	if have < int64(total)*99/100 {
		deleteClient(d, client)
		loadBenchGraph(t, d, client, total)
	} else {
		t.Logf("reusing the %d events of client %s", have, client)
	}
	nodes := countOf(t, d, "MATCH (n) WHERE n.client = $c RETURN count(n)", client)
	events := countOf(t, d, "MATCH (e:Event) WHERE e.client = $c AND e.ts_ms IS NOT NULL RETURN count(e)", client)
	rels := countOf(t, d, "MATCH (n)-[r]->() WHERE n.client = $c RETURN count(r)", client)
	causes := countOf(t, d, "MATCH (n:Event)-[r:CAUSES]->() WHERE n.client = $c AND n.eid IS NOT NULL RETURN count(r)", client)
	hot := countOf(t, d, "MATCH (:Resource {client: $c, rid: 'Pod/ns-3/caller-0'})<-[:ABOUT]-(e) RETURN count(e)", client)
	t.Logf("graph of client %s: %d nodes, %d events, %d relationships (%d CAUSES); the symptom pod has %d events",
		client, nodes, events, rels, causes, hot)

	e := NewEngine(d, DefaultSettings())
	q := Question{Client: client, Resource: "Pod/ns-3/caller-0"}
	timeIt := func() (time.Duration, *Answer) {
		began := time.Now()
		a, err := e.Ask(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return time.Since(began), a
	}
	cold, a := timeIt()
	var warm []time.Duration
	for range 20 {
		took, _ := timeIt()
		warm = append(warm, took)
	}
	slices.Sort(warm)
	var tops []string
	for _, c := range a.Candidates[:min(3, len(a.Candidates))] {
		tops = append(tops, fmt.Sprintf("%s %s %.3f", c.RID, c.Signal, c.Score))
	}
	if !slices.ContainsFunc(a.Candidates[:min(3, len(a.Candidates))], func(c Ranked) bool { return strings.Contains(c.RID, "callee-") }) {
		t.Errorf("the incident's root is not among the top 3: %q", tops)
	}
	t.Logf("symptom question: cold %s, warm median %s, worst %s (20 runs); %d candidates, top 3: %q",
		cold.Round(time.Millisecond), warm[len(warm)/2].Round(time.Millisecond), warm[len(warm)-1].Round(time.Millisecond),
		len(a.Candidates), tops)

	var inc []time.Duration
	for range 5 {
		began := time.Now()
		if _, err := e.Ask(ctx, Question{Client: client}); err != nil {
			t.Fatal(err)
		}
		inc = append(inc, time.Since(began))
	}
	slices.Sort(inc)
	t.Logf("incidents question (the whole 30-minute window): median %s, worst %s (5 runs)",
		inc[len(inc)/2].Round(time.Millisecond), inc[len(inc)-1].Round(time.Millisecond))

	// The plans, as the operator's PROFILE would show them.
	to := a.To.UnixMilli()
	scope, rids, _, err := neighbourhoodOf(ctx, d, client, q.Resource)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		name, q string
		params  map[string]any
	}{
		{"newest event", cypherNewest, map[string]any{}},
		{"neighbourhood", cypherNeighbourhood(), map[string]any{"rid": q.Resource, "fanout": 50, "maxResources": 400}},
		{"events", cypherEvents, map[string]any{"rids": rids, "from": to - 30*60*1000, "to": to, "perResource": 500, "messageChars": 300}},
	} {
		st.params["client"] = client
		res, err := neo4j.ExecuteQuery(ctx, d, "PROFILE "+st.q, st.params, neo4j.EagerResultTransformer)
		if err != nil {
			t.Fatal(err)
		}
		p := res.Summary.Profile()
		t.Logf("plan of %q (%d result rows, %d db hits in all):\n%s", st.name, len(res.Records), totalHits(p), planText(p, 0))
	}
	t.Logf("neighbourhood: %d resources in scope, %d around it", len(scope), len(rids))
}

func neighbourhoodOf(ctx context.Context, d neo4j.DriverWithContext, client, rid string) (scope, rids []string, links []Link, err error) {
	s := d.NewSession(ctx, neo4j.SessionConfig{AccessMode: neo4j.AccessModeRead})
	defer s.Close(ctx)
	type out struct {
		scope, rids []string
		links       []Link
	}
	o, err := neo4j.ExecuteRead(ctx, s, func(tx neo4j.ManagedTransaction) (out, error) {
		sc, r, l, err := reader{tx: tx, client: client, lim: defaultLimits()}.neighbourhood(ctx, rid)
		return out{sc, r, l}, err
	})
	return o.scope, o.rids, o.links, err
}

func totalHits(p neo4j.ProfiledPlan) int64 {
	n := p.DbHits()
	for _, c := range p.Children() {
		n += totalHits(c)
	}
	return n
}

func planText(p neo4j.ProfiledPlan, depth int) string {
	details, _ := p.Arguments()["Details"].(string)
	if len(details) > 110 {
		details = details[:110] + "…"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s rows=%d hits=%d %s\n", strings.Repeat("  ", depth), strings.TrimSuffix(p.Operator(), "@neo4j"),
		p.Records(), p.DbHits(), strings.ReplaceAll(details, "\n", " "))
	for _, c := range p.Children() {
		b.WriteString(planText(c, depth+1))
	}
	return b.String()
}

func countOf(t *testing.T, d neo4j.DriverWithContext, q, client string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := neo4j.ExecuteQuery(ctx, d, q, map[string]any{"c": client}, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	n, _ := res.Records[0].Values[0].(int64)
	return n
}

func envOrDefault(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// startPrivateNeo4j starts scripts/neo4j.sh on 27687/27474 (heap and page
// cache from NEO4J_HEAP/NEO4J_PAGECACHE, default 2g/2g) and removes it and
// its data when the test ends.
func startPrivateNeo4j(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "NEO4J_BOLT_PORT=27687", "NEO4J_HTTP_PORT=27474",
		"NEO4J_HEAP="+envOrDefault("NEO4J_HEAP", "2g"), "NEO4J_PAGECACHE="+envOrDefault("NEO4J_PAGECACHE", "2g"))
	do := func(verb string) {
		cmd := exec.Command(filepath.Join(root, "scripts", "neo4j.sh"), verb)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("neo4j.sh %s: %v\n%s", verb, err, out)
		}
	}
	do("start")
	t.Cleanup(func() { do("clean") })
	return "bolt://127.0.0.1:27687"
}

// benchReasons is a busy cluster's mix of pod events.
var benchMix = []struct{ reason, typ, severity, message string }{
	{"Scheduled", "Normal", "INFO", "Successfully assigned pod to node"},
	{"Pulled", "Normal", "INFO", "Container image already present on machine"},
	{"Created", "Normal", "INFO", "Created container app"},
	{"Started", "Normal", "INFO", "Started container app"},
	{"Unhealthy", "Warning", "WARNING", "Readiness probe failed: HTTP probe failed with statuscode: 503"},
	{"Killing", "Normal", "INFO", "Stopping container app"},
	{"BackOff", "Warning", "ERROR", "Back-off restarting failed container app"},
	{"FailedScheduling", "Warning", "WARNING", "0/50 nodes are available: 50 Insufficient memory."},
	{"Pulled", "Normal", "INFO", "Container image already present on machine"},
	{"Started", "Normal", "INFO", "Started container app"},
}

// loadBenchGraph writes total events of a week's history and an incident at
// the end through the graph builder (see quick below).
func loadBenchGraph(t *testing.T, d neo4j.DriverWithContext, client string, total int) {
	t.Helper()
	ctx := context.Background()
	newBuilder := func(rules []graph.Rule) *graph.Builder {
		b, err := graph.NewBuilder(d, client, "", graph.DefaultTopics(), rules,
			func(context.Context, kafkaio.Record, error) error { return nil }, prometheus.NewRegistry(), quiet())
		if err != nil {
			t.Fatal(err)
		}
		if err := b.EnsureSchema(ctx, graph.IsolationShared); err != nil {
			t.Fatal(err)
		}
		return b
	}
	// The week before the window is written without rule probes (a rule no
	// signal matches): a probe walks a resource's neighbours' whole history,
	// which makes a week of a busy cluster take hours to write on this
	// machine, and the answer only reads the window's CAUSES edges. The last
	// 40 minutes are written with the rule table, as the builder would.
	quick := newBuilder([]graph.Rule{{Name: "none", Cause: []string{"-"}, Effect: []string{"-"}, Relation: graph.RelSame,
		MaxLag: time.Second, Confidence: 0.1}})
	full := newBuilder(graph.DefaultRules())
	b := quick
	end := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	start := end.Add(-7 * 24 * time.Hour)
	const pods, nodes, services = 2000, 50, 200
	podName := func(i int) (ns, name string) {
		switch i {
		case 0:
			return "ns-3", "caller-0"
		case 1, 2:
			return "ns-7", fmt.Sprintf("callee-%d", i-1)
		}
		return fmt.Sprintf("ns-%d", i%20), fmt.Sprintf("app-%d", i)
	}
	var batch []kafkaio.Record
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := b.Handle(ctx, batch); err != nil {
			t.Fatal(err)
		}
		batch = batch[:0]
	}
	add := func(r kafkaio.Record) {
		batch = append(batch, r)
		if len(batch) == 1000 {
			flush()
		}
	}
	topoRec := func(rec *graph.TopologyRecord) kafkaio.Record {
		v, _ := json.Marshal(rec)
		return kafkaio.Record{Topic: kafkaio.TopicTopology, Key: []byte(client + "::topology::" + rec.Kind + "/" + rec.Namespace + "/" + rec.Name),
			Value: v, Timestamp: start}
	}
	// Topology: pods on nodes, owned by ReplicaSets, behind Services.
	for i := range pods {
		ns, name := podName(i)
		add(topoRec(&graph.TopologyRecord{Kind: "Pod", Namespace: ns, Name: name, Node: fmt.Sprintf("node-%d", i%nodes),
			IPs: []string{fmt.Sprintf("10.1.%d.%d", i/250, i%250)}, Owners: []graph.Ref{{Kind: "ReplicaSet", Name: "rs-" + name}}}))
	}
	for s := range services {
		var sel []graph.Ref
		ns := fmt.Sprintf("ns-%d", s%20)
		for i := s; i < pods; i += services {
			if pns, name := podName(i); pns == ns {
				sel = append(sel, graph.Ref{Kind: "Pod", Name: name})
			}
		}
		if s == 7 {
			sel = append(sel, graph.Ref{Kind: "Pod", Name: "callee-0"}, graph.Ref{Kind: "Pod", Name: "callee-1"})
		}
		add(topoRec(&graph.TopologyRecord{Kind: "Service", Namespace: ns, Name: fmt.Sprintf("svc-%d", s),
			IPs: []string{fmt.Sprintf("10.96.0.%d", s)}, Selects: sel}))
	}
	flush()
	rng := rand.New(rand.NewPCG(1, 2))
	event := func(i int, reason, typ, severity, message string, at time.Time, seq int) kafkaio.Record {
		ns, name := podName(i)
		kind := "Pod"
		host := fmt.Sprintf("node-%d", i%nodes)
		if reason == "NodeNotReady" {
			kind, ns, name = "Node", "", host
		}
		id := fmt.Sprintf("evt-%016x", uint64(seq)*0x9e3779b97f4a7c15)
		v, _ := json.Marshal(map[string]any{"event_id": id, "timestamp": at.Format(time.RFC3339Nano), "first_timestamp": at.Format(time.RFC3339Nano),
			"count": 1, "reason": reason, "message": message, "type": typ, "severity": severity, "category": "OTHER",
			"object": map[string]any{"kind": kind, "namespace": ns, "name": name}, "source": map[string]any{"component": "kubelet", "host": host},
			"node": host})
		return kafkaio.Record{Topic: kafkaio.TopicEventsNormalized, Key: []byte(client + "::" + id), Value: v, Timestamp: at}
	}
	logRec := func(i int, severity, signature, message string, at time.Time, seq int) kafkaio.Record {
		ns, name := podName(i)
		id := fmt.Sprintf("log-%016x", uint64(seq)*0x9e3779b97f4a7c15)
		v, _ := json.Marshal(map[string]any{"log_id": id, "timestamp": at.Format(time.RFC3339Nano), "severity": severity,
			"message": message, "namespace": ns, "pod": name, "container": "app", "node": fmt.Sprintf("node-%d", i%nodes),
			"signature": signature})
		return kafkaio.Record{Topic: kafkaio.TopicLogsNormalized, Key: []byte(client + "::" + id), Value: v, Timestamp: at}
	}
	history := total - 200
	span := end.Add(-20 * time.Minute).Sub(start)
	ruled := end.Add(-40 * time.Minute)
	began := time.Now()
	for n := range history {
		at := start.Add(time.Duration(float64(span) * float64(n) / float64(history)))
		if b == quick && at.After(ruled) {
			flush()
			b = full
			t.Logf("%d events written without probes; the rest with the rule table", n)
		}
		var i int
		switch {
		case n%100 == 0:
			i = 0 // the symptom pod is a hot one: 1 % of all events
		default:
			i = rng.IntN(pods)
		}
		switch {
		case n%997 == 0:
			add(event(i, "NodeNotReady", "Normal", "CRITICAL", "Node status is now: NodeNotReady", at, n))
		case n%10 == 9:
			// A pod's dependencies are fixed: the two Services it calls.
			dep := []int{(i + 1) % services, (i * 7) % services}[n%2]
			if i == 0 {
				dep = 7
			}
			add(logRec(i, "ERROR", "CONNECTION_REFUSED", fmt.Sprintf("dial tcp 10.96.0.%d:8080: connect: connection refused", dep), at, n))
		default:
			m := benchMix[n%len(benchMix)]
			add(event(i, m.reason, m.typ, m.severity, m.message, at, n))
		}
		if n > 0 && n%100000 == 0 {
			flush()
			t.Logf("%d events written (%.0f/s)", n, float64(n)/time.Since(began).Seconds())
		}
	}
	// The incident, in the last minutes: svc-7's pods are OOM-killed and
	// crash-loop; caller-0 calls svc-7 by its address and fails readiness.
	flush()
	b = full
	inc := end.Add(-10 * time.Minute)
	seq := history
	next := func() int { seq++; return seq }
	for k := range 2 {
		add(event(1+k, "OOMKilled", "Warning", "CRITICAL", "Container app was OOM-killed", inc.Add(time.Duration(k)*time.Second), next()))
	}
	for s := 0; s < 60; s++ {
		at := inc.Add(time.Duration(10+s*8) * time.Second)
		add(event(1+s%2, "BackOff", "Warning", "ERROR", "Back-off restarting failed container app", at, next()))
		add(logRec(0, "ERROR", "CONNECTION_REFUSED", "dial tcp 10.96.0.7:8080: connect: connection refused", at.Add(time.Second), next()))
		add(event(0, "Unhealthy", "Warning", "WARNING", "Readiness probe failed: HTTP probe failed with statuscode: 503", at.Add(3*time.Second), next()))
	}
	flush()
	t.Logf("loaded %d events in %s", seq+1, time.Since(began).Round(time.Second))
}
