package rca

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// fixture builds a Subgraph by hand: events "rid signal @seconds", causes by
// index.
type fixture struct {
	g Subgraph
}

func (f *fixture) ev(rid, signal string, s int, causes ...cause) string {
	eid := fmt.Sprintf("e%d", len(f.g.Events))
	e := Event{EID: eid, RID: rid, Signal: signal, TsMs: int64(s) * 1000, Count: 1, Severity: "WARNING", Message: signal + " on " + rid}
	for _, c := range causes {
		e.Causes = append(e.Causes, Cause{EID: c.eid, Rule: c.rule, Confidence: c.conf})
	}
	f.g.Events = append(f.g.Events, e)
	return eid
}

type cause struct {
	eid, rule string
	conf      float64
}

func (f *fixture) rel(from, to string, kind RelKind) {
	f.g.Relations = append(f.g.Relations, Relation{From: from, To: to, Kind: kind})
}

func top(inc Incident) []string {
	var out []string
	for _, c := range inc.Candidates {
		out = append(out, c.RID+" "+c.Signal)
	}
	return out
}

// A chain through a call: the callee panics and crash-loops, the caller's
// connections are refused and its readiness fails. The root is the panic,
// three rule edges away from the symptom.
func TestRankFollowsTheChainToItsRoot(t *testing.T) {
	f := &fixture{}
	const caller, callee = "Pod/web/front-1", "Pod/shop/cart-1"
	panicE := f.ev(callee, "log:PANIC", 0)
	back := f.ev(callee, "BackOff", 10, cause{panicE, "crash-backoff", 0.6})
	refused := f.ev(caller, "log:CONNECTION_REFUSED", 12, cause{panicE, "callee-down-caller-errors", 0.75},
		cause{back, "callee-down-caller-errors", 0.75})
	f.ev(caller, "Unhealthy", 20, cause{refused, "dependency-down-readiness", 0.6})
	f.ev(caller, "log:CONNECTION_REFUSED", 40, cause{back, "callee-down-caller-errors", 0.75})
	f.rel(callee, caller, RelCalls)
	f.g.Scope = []string{caller}

	inc := RankSymptom(&f.g, DefaultParams(), 5)
	got := top(inc)
	if len(got) == 0 || got[0] != callee+" log:PANIC" {
		t.Fatalf("ranking %q, want the callee's panic first", got)
	}
	c := inc.Candidates[0]
	if c.Events != 1 || c.FirstMs != 0 {
		t.Errorf("first candidate %+v", c)
	}
	var hops []string
	for _, s := range c.Path {
		hops = append(hops, s.Signal+"|"+s.Via)
	}
	// The most probable explanation: the panic → the refused connection → the
	// readiness failure (or straight to a refused connection, also a symptom
	// event); it must end on the symptom's resource.
	if last := c.Path[len(c.Path)-1]; last.RID != caller || c.Path[0].EID != panicE || c.Path[0].Via != "callee-down-caller-errors" {
		t.Errorf("path %q", hops)
	}
	// Scores are probabilities: they sum to at most 1.
	sum := 0.0
	for _, c := range inc.Candidates {
		sum += c.Score
	}
	if sum > 1.0000001 {
		t.Errorf("scores sum to %v", sum)
	}
}

// Five repeats of one NodeNotReady are one candidate; the pods' evictions it
// caused and the replacements' scheduling failures make it the root.
func TestRepeatsAreOneCandidate(t *testing.T) {
	f := &fixture{}
	var nnr []string
	for i := range 5 {
		nnr = append(nnr, f.ev("Node//node-1", "NodeNotReady", i*30))
	}
	ev1 := f.ev("Pod/shop/web-a", "Evicted", 40, cause{nnr[1], "node-not-ready-eviction", 0.9})
	ev2 := f.ev("Pod/shop/web-b", "Evicted", 41, cause{nnr[1], "node-not-ready-eviction", 0.9})
	f.ev("Pod/shop/web-c", "FailedScheduling", 50, cause{ev1, "eviction-unschedulable-replacement", 0.7},
		cause{ev2, "eviction-unschedulable-replacement", 0.7})
	f.ev("Pod/shop/web-c", "FailedScheduling", 80, cause{ev1, "eviction-unschedulable-replacement", 0.7})
	f.g.Scope = []string{"Pod/shop/web-c"}
	inc := RankSymptom(&f.g, DefaultParams(), 5)
	if got := top(inc); len(got) == 0 || got[0] != "Node//node-1 NodeNotReady" {
		t.Fatalf("ranking %q", got)
	}
	if c := inc.Candidates[0]; c.Events != 5 || len(c.EIDs) != 5 || c.EIDs[0] != nnr[0] {
		t.Errorf("NodeNotReady candidate %+v", c)
	}
	for _, c := range inc.Candidates {
		if c.Signal == "FailedScheduling" && c.Events != 2 {
			t.Errorf("FailedScheduling repeats: %d events", c.Events)
		}
	}
}

// No rule links the node's kernel OOM report to the pod's restarts, but the
// pod runs on the node and the report came first: the inferred edge keeps the
// node among the top answers with its path, and unrelated noise (another
// namespace's crash) does not compete.
func TestMissingRuleDoesNotHideTheCause(t *testing.T) {
	f := &fixture{}
	const pod, node = "Pod/shop/api-1", "Node//node-4"
	f.ev(node, "SystemOOM", 0)
	f.ev(pod, "BackOff", 10)
	f.ev(pod, "BackOff", 40)
	f.ev("Pod/other/batch-1", "BackOff", 1)
	f.ev("Pod/other/batch-1", "log:PANIC", 0)
	f.rel(node, pod, RelNode)
	f.g.Scope = []string{pod}
	inc := RankSymptom(&f.g, DefaultParams(), 3)
	got := top(inc)
	i := slices.Index(got, node+" SystemOOM")
	if i < 0 {
		t.Fatalf("ranking %q lacks the node", got)
	}
	for _, c := range got {
		if strings.Contains(c, "batch-1") {
			t.Errorf("unrelated candidate ranked: %q", got)
		}
	}
	if p := inc.Candidates[i].Path; len(p) < 2 || !strings.HasPrefix(p[0].Via, "related:") {
		t.Errorf("path %+v", p)
	}
	// With a signal the rule table knows as a cause of the pod's (an OOM
	// kill, reported on the node here), the same relation is stronger and
	// the node comes first.
	f.g.Events[0].Signal = "OOMKilling"
	if got := top(RankSymptom(&f.g, DefaultParams(), 3)); got[0] != node+" OOMKilling" {
		t.Errorf("with a known cause: %q", got)
	}
}

// A cause that is explained by something else passes its share on; an
// unexplained earlier event on an unrelated resource gets none.
func TestExplainedCandidatesPassTheirShareOn(t *testing.T) {
	f := &fixture{}
	const pod = "Pod/shop/cart-1"
	oom := f.ev(pod, "OOMKilled", 0)
	f.ev(pod, "BackOff", 10, cause{oom, "oom-backoff", 0.9})
	f.ev(pod, "BackOff", 70, cause{oom, "oom-backoff", 0.9})
	f.ev("Pod/shop/cart-2", "OOMKilled", -100)
	f.rel("Pod/shop/cart-2", pod, RelSibling)
	f.g.Scope = []string{pod}
	inc := RankSymptom(&f.g, DefaultParams(), 5)
	got := top(inc)
	if len(got) < 2 || got[0] != pod+" OOMKilled" {
		t.Fatalf("ranking %q", got)
	}
	// The sibling's older OOM is related (weakly) and earlier: it may follow,
	// but never lead.
	if inc.Candidates[0].Score < 2*inc.Candidates[1].Score {
		t.Errorf("scores %v and %v too close", inc.Candidates[0].Score, inc.Candidates[1].Score)
	}
}

// Simultaneous onsets (a kubelet event and the application's log of the same
// second) are not ordered by an inferred edge, and an inferred edge never
// reverses a rule.
func TestInferredEdgesRespectOrderAndRules(t *testing.T) {
	f := &fixture{}
	const pod = "Pod/shop/x-1"
	a := f.ev(pod, "OOMKilled", 10)
	f.ev(pod, "log:OOM", 10)
	b := f.ev(pod, "BackOff", 5) // an effect dated before its cause (a clock skew)
	f.g.Events[len(f.g.Events)-1].Causes = []Cause{{EID: a, Rule: "oom-backoff", Confidence: 0.9}}
	f.g.Scope = []string{pod}
	r := build(&f.g, DefaultParams())
	for _, e := range r.edges {
		from, to := r.cands[e.from].key.signal, r.cands[e.to].key.signal
		if e.rule == "" && (from == "BackOff" && to == "OOMKilled" || from == "OOMKilled" && to == "log:OOM" || from == "log:OOM" && to == "OOMKilled") {
			t.Errorf("inferred edge %s → %s", from, to)
		}
	}
	_ = b
}

// Incidents: two separate faults are two incidents, biggest first, each with
// its own root; an isolated warning is its own incident.
func TestRankIncidents(t *testing.T) {
	f := &fixture{}
	nnr := f.ev("Node//n1", "NodeNotReady", 0)
	for i := range 4 {
		f.ev(fmt.Sprintf("Pod/a/p-%d", i), "Evicted", 30+i, cause{nnr, "node-not-ready-eviction", 0.9})
	}
	pull := f.ev("Pod/b/img-1", "ErrImagePull", 0)
	f.ev("Pod/b/img-1", "ImagePullBackOff", 20, cause{pull, "image-pull-backoff", 0.95})
	f.ev("Pod/c/lonely", "Unhealthy", 5)
	incs := RankIncidents(&f.g, DefaultParams(), 3, 10)
	if len(incs) != 3 {
		t.Fatalf("%d incidents", len(incs))
	}
	want := [][]string{{"Node//n1 NodeNotReady"}, {"Pod/b/img-1 ErrImagePull"}, {"Pod/c/lonely Unhealthy"}}
	for i, w := range want {
		if got := top(incs[i]); len(got) == 0 || got[0] != w[0] {
			t.Errorf("incident %d: %q, want %q first", i, got, w)
		}
	}
	if n := len(RankIncidents(&f.g, DefaultParams(), 3, 2)); n != 2 {
		t.Errorf("max incidents: %d", n)
	}
}

// The drawn subgraph holds the candidates and what their paths pass through.
func TestGraphHoldsThePaths(t *testing.T) {
	f := &fixture{}
	const caller, callee = "Pod/web/front-1", "Pod/shop/cart-1"
	oom := f.ev(callee, "OOMKilled", 0)
	ref := f.ev(caller, "log:CONNECTION_REFUSED", 5, cause{oom, "callee-down-caller-errors", 0.75})
	f.ev(caller, "Unhealthy", 10, cause{ref, "dependency-down-readiness", 0.6})
	f.g.Scope = []string{caller}
	inc := RankSymptom(&f.g, DefaultParams(), 1)
	if len(inc.Candidates) != 1 || len(inc.Graph) < 2 || len(inc.Edges) == 0 {
		t.Fatalf("incident %+v", inc)
	}
	var names []string
	for _, g := range inc.Graph {
		names = append(names, g.Signal)
	}
	if !slices.Contains(names, "OOMKilled") || !slices.Contains(names, "log:CONNECTION_REFUSED") {
		t.Errorf("graph %q", names)
	}
}

func TestEmptySubgraphs(t *testing.T) {
	if inc := RankSymptom(&Subgraph{Scope: []string{"Pod/a/b"}}, DefaultParams(), 5); len(inc.Candidates) != 0 {
		t.Errorf("candidates from nothing: %+v", inc)
	}
	if incs := RankIncidents(&Subgraph{}, DefaultParams(), 5, 5); len(incs) != 0 {
		t.Errorf("incidents from nothing: %+v", incs)
	}
}
