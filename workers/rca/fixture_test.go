package rca

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/internal/graphload"
	"github.com/kgrca/kgplane/internal/testinfra"
	"github.com/kgrca/kgplane/scenario"
	"github.com/kgrca/kgplane/workers/graph"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

// A small cluster written through the real normalizers and graph builder:
// checkout (web) calls the payments Service (pay), whose pod is OOM-killed;
// checkout's connections are refused and its readiness fails. Meanwhile, in
// another namespace, a batch pod cannot pull its image (a second, unrelated
// fault), and a web pod logs an unrelated warning.
var fixtureT0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

type recs struct {
	f *scenario.File
	n int
}

func (r *recs) add(topic, key string, value any) {
	b, _ := json.Marshal(value)
	if value == nil {
		b = nil
	}
	r.f.Records = append(r.f.Records, scenario.Record{Topic: topic, Key: key, Value: b})
}

func (r *recs) topo(kind, ns, name string, extra map[string]any) {
	v := map[string]any{"kind": kind, "namespace": ns, "name": name}
	for k, x := range extra {
		v[k] = x
	}
	r.add(scenario.TopicTopology, kind+"/"+ns+"/"+name, v)
}

// event is a core/v1 Event at second s of the fixture.
func (r *recs) event(s int, typ, reason, msg, kind, ns, name, host string) {
	r.n++
	ts := fixtureT0.Add(time.Duration(s) * time.Second).Format(time.RFC3339)
	uid := fmt.Sprintf("uid-%04d", r.n)
	r.add(scenario.TopicEvents, uid, map[string]any{
		"kind": "Event", "apiVersion": "v1", "metadata": map[string]any{"uid": uid, "creationTimestamp": ts},
		"involvedObject": map[string]any{"kind": kind, "namespace": ns, "name": name, "uid": "obj-" + name},
		"reason":         reason, "message": msg, "type": typ, "count": 1, "firstTimestamp": ts, "lastTimestamp": ts,
		"source": map[string]any{"component": "kubelet", "host": host}})
}

// log is a Fluent Bit kubernetes record at second s.
func (r *recs) log(s int, ns, pod, node, line string) {
	r.n++
	ts := fixtureT0.Add(time.Duration(s) * time.Second).Format(time.RFC3339Nano)
	r.add(scenario.TopicLogs, fmt.Sprintf("log-%04d", r.n), map[string]any{
		"time": ts, "stream": "stderr", "log": line,
		"kubernetes": map[string]any{"pod_name": pod, "namespace_name": ns, "host": node, "container_name": "app",
			"pod_id": "obj-" + pod}})
}

func fixtureScenario() *scenario.File {
	r := &recs{f: &scenario.File{Header: scenario.Header{Scenario: "fixture",
		RootCause: scenario.Answer{RID: "Pod/pay/payments-1", Signals: []string{"OOMKilled"}},
		Symptom:   scenario.Symptom{RID: "Pod/web/checkout-1"}}}}
	for _, n := range []string{"node-a", "node-b"} {
		r.topo("Node", "", n, nil)
	}
	r.topo("Pod", "pay", "payments-1", map[string]any{"node": "node-b", "ips": []string{"10.1.2.3"},
		"owners": []map[string]any{{"kind": "ReplicaSet", "name": "payments-5c"}}})
	r.topo("Service", "pay", "payments", map[string]any{"ips": []string{"10.96.7.7"},
		"selects": []map[string]any{{"kind": "Pod", "name": "payments-1"}}})
	r.topo("Pod", "web", "checkout-1", map[string]any{"node": "node-a", "ips": []string{"10.1.1.1"}})
	r.topo("Pod", "web", "front-1", map[string]any{"node": "node-a"})
	r.topo("Pod", "batch", "report-1", map[string]any{"node": "node-a"})

	r.event(0, "Normal", "Pulled", "Container image already present on machine", "Pod", "web", "front-1", "node-a")
	r.log(5, "web", "front-1", "node-a", "WARN cache miss ratio high")
	r.event(60, "Warning", "OOMKilled", "Container payments was OOM-killed (memory limit 256Mi)", "Pod", "pay", "payments-1", "node-b")
	r.log(62, "web", "checkout-1", "node-a", `ERROR POST http://payments.pay:8080/charge failed: dial tcp 10.96.7.7:8080: connect: connection refused`)
	r.event(70, "Warning", "BackOff", "Back-off restarting failed container payments in pod payments-1", "Pod", "pay", "payments-1", "node-b")
	r.event(75, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", "Pod", "web", "checkout-1", "node-a")
	r.log(80, "web", "checkout-1", "node-a", `ERROR POST http://payments.pay:8080/charge failed: dial tcp 10.96.7.7:8080: connect: connection refused`)
	r.event(90, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", "Pod", "web", "checkout-1", "node-a")
	// The unrelated fault.
	r.event(65, "Warning", "Failed", `Failed to pull image "reg.example/report:9.9": not found`, "Pod", "batch", "report-1", "node-a")
	r.event(85, "Warning", "BackOff", `Back-off pulling image "reg.example/report:9.9"`, "Pod", "batch", "report-1", "node-a")
	return r.f
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func uniqueClient(prefix string) string {
	return prefix + "-" + strings.TrimPrefix(kafkatest.Suffix(), ".")
}

// loadFixture writes f into a fresh client of the shared test Neo4j and
// returns the client, a driver and an engine. The client's graph is deleted
// at the end.
func loadFixture(t testing.TB, prefix string, f *scenario.File) (string, neo4j.DriverWithContext, *Engine) {
	t.Helper()
	uri := testinfra.Neo4jURI(t)
	d, err := graph.NewDriver(graph.Config{Neo4jURI: uri, MaxRetryTime: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	client := uniqueClient(prefix)
	t.Cleanup(func() { deleteClient(d, client) })
	loadInto(t, d, client, f)
	return client, d, NewEngine(d, DefaultSettings())
}

func loadInto(t testing.TB, d neo4j.DriverWithContext, client string, f *scenario.File) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := graph.NewBuilder(d, client, "", graph.DefaultTopics(), graph.DefaultRules(),
		func(context.Context, kafkaio.Record, error) error { return nil }, prometheus.NewRegistry(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureSchema(ctx, graph.IsolationShared); err != nil {
		t.Fatal(err)
	}
	// One record per batch: the order the pipeline delivers them in.
	if _, err := graphload.Load(ctx, b.Handle, client, f, 1); err != nil {
		t.Fatal(err)
	}
}

func deleteClient(d neo4j.DriverWithContext, client string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = neo4j.ExecuteQuery(ctx, d, "MATCH (n {client: $client}) DETACH DELETE n", map[string]any{"client": client},
		neo4j.EagerResultTransformer)
}
