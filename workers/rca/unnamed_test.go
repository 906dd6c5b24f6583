package rca

import (
	"slices"
	"testing"

	"github.com/kgrca/kgplane/scenario"
)

func TestUnnamedCallers(t *testing.T) {
	refused := func(rid string) Event { return Event{RID: rid, Signal: "log:CONNECTION_REFUSED"} }
	for _, c := range []struct {
		name  string
		evs   []Event
		links []Link
		want  []string
	}{
		{"a refused call with no known callee", []Event{refused("Pod/a/x"), refused("Pod/a/x")}, nil, []string{"Pod/a/x"}},
		{"a timeout and an unreachable network count", []Event{{RID: "Pod/a/x", Signal: "log:TIMEOUT"}, {RID: "Pod/b/y", Signal: "log:NETWORK_UNREACHABLE"}}, nil, []string{"Pod/a/x", "Pod/b/y"}},
		{"the graph knows what it calls", []Event{refused("Pod/a/x")}, []Link{{From: "Pod/a/x", Type: "CALLS", To: "Service/a/db"}}, nil},
		{"another relation is no call", []Event{refused("Pod/a/x")}, []Link{{From: "Pod/a/x", Type: "RUNS_ON", To: "Node//n"}}, []string{"Pod/a/x"}},
		{"DNS failures already lead to the cluster DNS", []Event{{RID: "Pod/a/x", Signal: "log:DNS"}}, nil, nil},
		{"other signals", []Event{{RID: "Pod/a/x", Signal: "BackOff"}, {RID: "Pod/a/x", Signal: "log:ERROR"}}, nil, nil},
		{"only pods call", []Event{refused("Deployment/a/x")}, nil, nil},
	} {
		if got := unnamedCallers(c.evs, c.links); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// A caller whose errors never name its peer (a Java ConnectException) still
// leads to the pod of its namespace that failed first; a failing pod of
// another namespace does not become a suspect.
func TestUnnamedCalleeInTheNamespace(t *testing.T) {
	r := &recs{f: &scenario.File{Header: scenario.Header{Scenario: "unnamed",
		RootCause: scenario.Answer{RID: "Pod/orders/db-0", Signals: []string{"Error"}},
		Symptom:   scenario.Symptom{RID: "Pod/orders/api-1"}}}}
	for _, n := range []string{"node-a", "node-b"} {
		r.topo("Node", "", n, nil)
	}
	r.topo("Pod", "orders", "db-0", map[string]any{"node": "node-b"})
	r.topo("Pod", "orders", "api-1", map[string]any{"node": "node-a"})
	r.topo("Pod", "orders", "idle-1", map[string]any{"node": "node-a"})
	r.topo("Pod", "other", "batch-1", map[string]any{"node": "node-a"})
	r.event(0, "Warning", "Failed", `Failed to pull image "reg.example/batch:1": not found`, "Pod", "other", "batch-1", "node-a")
	r.event(10, "Warning", "Error", "Container postgres terminated with exit code 1 (Error)", "Pod", "orders", "db-0", "node-b")
	r.log(20, "orders", "api-1", "node-a", "ERROR request failed\njava.net.ConnectException: Connection refused\n\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)")
	r.event(30, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", "Pod", "orders", "api-1", "node-a")
	client, _, e := loadFixture(t, "rca-unnamed", r.f)

	// A guess, weak on one log line: among the first three (more errors of
	// the caller and more failures of the suspect raise it).
	a := ask(t, e, Question{Client: client, Resource: "Pod/orders/api-1", Top: 3})
	i := slices.IndexFunc(a.Candidates, func(c Ranked) bool { return c.RID == "Pod/orders/db-0" && c.Signal == "Error" })
	if i < 0 {
		t.Fatalf("candidates %+v, want Pod/orders/db-0 Error among them", a.Candidates)
	}
	if p := a.Candidates[i].Path; len(p) < 2 || p[0].Via != "related:namespace" {
		t.Errorf("path %+v, want one that starts with the namespace relation", p)
	}
	for _, c := range a.Candidates {
		if c.RID == "Pod/other/batch-1" {
			t.Errorf("a failing pod of another namespace is a candidate: %+v", c)
		}
	}
}
