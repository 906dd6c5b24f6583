package rca

import (
	"cmp"
	"container/heap"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/kgrca/kgplane/workers/graph"
)

// The ranking (docs/rca.md has the reasoning and the worked examples).
//
// Candidates are (resource, signal) pairs: five repeats of one NodeNotReady are
// one candidate. Between candidates there are two kinds of cause → effect
// edges: the CAUSES edges the rule table wrote (strong: a rule matched the
// signals, the relation and the lag), and inferred edges between candidates on
// related resources whose onsets are in causal order (weak: they keep a cause
// that no rule knows from disappearing).
//
// The score is the probability that the explanation of the symptom ends at
// the candidate: a walker starts on the symptom's candidates and, at each
// candidate, either stops there (the candidate is unexplained, a root) or
// moves to one of its causes. The chance of stopping is the chance that none
// of its causes caused it, prod(1 - strength); a move picks a cause in
// proportion to its strength. So a candidate that something upstream explains
// passes its share on (causes precede effects, and a candidate with no cause
// of its own is likelier a root), events that are not on a path to the symptom
// get nothing (noise elsewhere does not compete), and a root that explains
// several of the symptom's signals collects all their shares.

// Params are the ranking's knobs. They encode general knowledge (how much a
// matched rule or a bare relation says about causality), not anything about a
// particular cluster; DefaultParams explains each value.
type Params struct {
	// RuleFloor and RuleScale turn a rule's confidence c into an edge strength
	// RuleFloor + RuleScale*c: a matched rule is strong evidence whatever its
	// confidence, and the confidence orders rules among themselves.
	RuleFloor, RuleScale float64
	// Inferred is the strength of an edge that only a relation and the order
	// of onsets support, by relation.
	Inferred map[RelKind]float64
	// InferWindow: an inferred edge needs the cause's onset at most this long
	// before the effect's (the longest lag of the rule table).
	InferWindow time.Duration
	// OnsetSlack: onsets closer than this are simultaneous for inferred
	// edges (no order between them, so no edge), absorbing clock skew between
	// a kubelet event and the application's log of the same moment.
	OnsetSlack time.Duration
	// KnownCauses are the (cause, effect) signal pairs of the rule table. An
	// inferred edge between such a pair — the rule's relation or lag did not
	// hold, but the signals are ones that cause each other — is KnownBoost
	// times as strong (at most MaxInferred).
	KnownCauses map[[2]string]bool
	KnownBoost  float64
	MaxInferred float64
	// Salience is how much one event says on its own, by kind: a Kubernetes
	// Warning, a log with a fault signature (OOM, PANIC, CONNECTION_REFUSED)
	// or an event the normalizer rated WARNING or worse says 1; a log that is
	// only "at level X" says less (applications log warnings and errors all
	// day); a routine Normal event (Pulled, Started, ScalingReplicaSet) least
	// — yet it can be a cause (a scale to zero), so it still counts. A
	// candidate's salience scales the inferred edges it starts, less so the
	// rule edges (a matched rule is evidence of its own), and its weight as
	// a symptom (routine events are no symptom).
	Salience Salience
}

// Salience weights by kind of event.
type Salience struct {
	Normal     float64            // Normal events rated INFO
	GenericLog map[string]float64 // log:<SEVERITY> by severity; others 1
	// RuleDiscount is how much of the missing salience a rule edge from the
	// candidate loses: strength × (1 − RuleDiscount × (1 − salience)).
	RuleDiscount float64
}

// DefaultParams are the ranking's settings.
func DefaultParams() Params {
	return Params{
		// 0.6 + 0.35c: a rule at confidence 0.5 gives 0.775, at 0.95 0.93.
		RuleFloor: 0.6, RuleScale: 0.35,
		// A bare relation says little: at most a third of a rule's weight. The
		// same resource and the node it runs on are the closest relations;
		// what a resource uses or calls next; its owner (a controller's events
		// about it) and the pods behind a Service it is; siblings and peers,
		// which merely share something, least.
		Inferred: map[RelKind]float64{
			RelSame: 0.3, RelNode: 0.3, RelUses: 0.25, RelCalls: 0.25, RelOwner: 0.2, RelBackend: 0.2,
			RelSibling: 0.1, RelPeer: 0.08,
			// Only for callers whose errors name no target (see RelNamespace):
			// a guess among the namespace's failing resources, as weak as a
			// sibling.
			RelNamespace: 0.1,
		},
		InferWindow: 30 * time.Minute,
		OnsetSlack:  time.Second,
		KnownCauses: knownCauses(graph.DefaultRules()),
		KnownBoost:  2, MaxInferred: 0.6,
		Salience: Salience{Normal: 0.25,
			GenericLog:   map[string]float64{"WARNING": 0.4, "WARN": 0.4, "ERROR": 0.6, "CRITICAL": 0.8, "FATAL": 0.8},
			RuleDiscount: 0.5},
	}
}

// salience is the most any of the candidate's events says.
func (p Params) salience(c *cand) float64 {
	best := 0.0
	for _, e := range c.events {
		s := 1.0
		switch {
		case e.Type == "Log" && strings.HasPrefix(e.Signal, "log:"):
			if v, ok := p.Salience.GenericLog[strings.TrimPrefix(e.Signal, "log:")]; ok {
				s = v
			}
		case e.Type == "Normal" && (e.Severity == "" || e.Severity == "INFO"):
			s = p.Salience.Normal
		}
		best = max(best, s)
		if best == 1 {
			break
		}
	}
	return best
}

// knownCauses returns the (cause, effect) signal pairs of the rules.
func knownCauses(rules []graph.Rule) map[[2]string]bool {
	out := map[[2]string]bool{}
	for _, r := range rules {
		for _, c := range r.Cause {
			for _, e := range r.Effect {
				out[[2]string{c, e}] = true
			}
		}
	}
	return out
}

// Ranked is one candidate root cause with its evidence.
type Ranked struct {
	RID     string
	Signal  string
	Score   float64
	FirstMs int64
	LastMs  int64
	Events  int      // events of this candidate in the window
	EIDs    []string // its events, oldest first
	Message string   // its first event's message
	// Path leads from the candidate to the symptom along the most probable
	// explanation (the candidate first, a symptom event last).
	Path []Step
}

// Step is one hop of a path.
type Step struct {
	RID    string `json:"rid"`
	Signal string `json:"signal"`
	EID    string `json:"eid"`
	// Via is how this step leads to the next: the rule of the CAUSES edge, or
	// "related:<relation>" for an inferred edge; empty on the last step.
	Via string `json:"via,omitempty"`
}

// Edge is a cause → effect link between two ranked candidates, for drawing.
type Edge struct {
	From, To int // indexes into the Graph of the same incident
	Rule     string
	Strength float64
	Inferred bool
}

// Incident is a group of candidates connected by causes, ranked.
type Incident struct {
	// Candidates are the top candidates, best first.
	Candidates []Ranked
	// Graph is what to draw: the Candidates (first, same order) and the
	// candidates their paths pass through; Edges link them.
	Graph []Ranked
	Edges []Edge
}

type candKey struct{ rid, signal string }

type cand struct {
	key      candKey
	events   []*Event
	first    int64
	last     int64
	salience float64
	symptom  bool
	parents  []int // edge indexes (into ranker.edges) whose To is this candidate
	children []int
}

type edge struct {
	from, to       int
	s              float64
	rule           string // "" = inferred
	rel            RelKind
	fromEID, toEID string
	effectTs       int64
}

func (e edge) via() string {
	if e.rule != "" {
		return e.rule
	}
	return "related:" + string(e.rel)
}

type ranker struct {
	p     Params
	cands []*cand
	index map[candKey]int
	edges []edge
}

// build groups events into candidates and links them.
func build(g *Subgraph, p Params) *ranker {
	r := &ranker{p: p, index: map[candKey]int{}}
	scope := map[string]bool{}
	for _, rid := range g.Scope {
		scope[rid] = true
	}
	byEID := map[string]*Event{}
	evs := make([]*Event, 0, len(g.Events))
	for i := range g.Events {
		e := &g.Events[i]
		if _, dup := byEID[e.EID]; dup || e.EID == "" {
			continue
		}
		byEID[e.EID] = e
		evs = append(evs, e)
	}
	slices.SortStableFunc(evs, func(a, b *Event) int {
		return cmp.Or(cmp.Compare(a.TsMs, b.TsMs), cmp.Compare(a.EID, b.EID))
	})
	for _, e := range evs {
		k := candKey{e.RID, e.Signal}
		i, ok := r.index[k]
		if !ok {
			i = len(r.cands)
			r.index[k] = i
			r.cands = append(r.cands, &cand{key: k, first: e.TsMs, symptom: len(g.Scope) == 0 || scope[e.RID]})
		}
		c := r.cands[i]
		c.events = append(c.events, e)
		c.last = e.TsMs
	}
	for _, c := range r.cands {
		c.salience = p.salience(c)
	}
	// Rule edges: the strongest CAUSES edge between two candidates (the
	// earliest effect on a tie) stands for all of them.
	ruleEdge := map[[2]int]int{}
	for _, e := range evs {
		to := r.index[candKey{e.RID, e.Signal}]
		for _, c := range e.Causes {
			ce, ok := byEID[c.EID]
			if !ok {
				continue
			}
			from := r.index[candKey{ce.RID, ce.Signal}]
			if from == to {
				continue
			}
			// A routine event that matched a rule (a Normal "Stopping
			// container" before a callee's errors) is weaker evidence than a
			// warning that did.
			sal := r.cands[from].salience
			s := (p.RuleFloor + p.RuleScale*math.Min(math.Max(c.Confidence, 0), 1)) * (1 - p.Salience.RuleDiscount*(1-sal))
			k := [2]int{from, to}
			if j, ok := ruleEdge[k]; ok {
				if old := &r.edges[j]; s > old.s || s == old.s && e.TsMs < old.effectTs {
					old.s, old.rule, old.fromEID, old.toEID, old.effectTs = s, c.Rule, ce.EID, e.EID, e.TsMs
				}
				continue
			}
			ruleEdge[k] = len(r.edges)
			r.edges = append(r.edges, edge{from: from, to: to, s: s, rule: c.Rule, fromEID: ce.EID, toEID: e.EID, effectTs: e.TsMs})
		}
	}
	// Inferred edges along relations (and within each resource), where no rule
	// links the pair either way and the cause's onset comes first.
	byRID := map[string][]int{}
	for i, c := range r.cands {
		byRID[c.key.rid] = append(byRID[c.key.rid], i)
	}
	type pair struct{ from, to int }
	inferred := map[pair]int{}
	addInferred := func(from, to int, kind RelKind) {
		s := p.Inferred[kind] * r.cands[from].salience
		if p.KnownCauses[[2]string{r.cands[from].key.signal, r.cands[to].key.signal}] {
			s = min(s*p.KnownBoost, max(p.MaxInferred, p.Inferred[kind]))
		}
		if s <= 0 || from == to {
			return
		}
		cf, ct := r.cands[from], r.cands[to]
		gap := ct.first - cf.first
		if gap <= p.OnsetSlack.Milliseconds() || gap > p.InferWindow.Milliseconds() {
			return
		}
		if _, ok := ruleEdge[[2]int{from, to}]; ok {
			return
		}
		if _, ok := ruleEdge[[2]int{to, from}]; ok {
			return
		}
		if j, ok := inferred[pair{from, to}]; ok {
			if s > r.edges[j].s {
				r.edges[j].s, r.edges[j].rel = s, kind
			}
			return
		}
		inferred[pair{from, to}] = len(r.edges)
		r.edges = append(r.edges, edge{from: from, to: to, s: s, rel: kind,
			fromEID: cf.events[0].EID, toEID: ct.events[0].EID, effectTs: ct.first})
	}
	for _, ids := range byRID {
		for _, a := range ids {
			for _, b := range ids {
				addInferred(a, b, RelSame)
			}
		}
	}
	for _, rel := range g.Relations {
		if rel.From == rel.To {
			continue
		}
		for _, a := range byRID[rel.From] {
			for _, b := range byRID[rel.To] {
				addInferred(a, b, rel.Kind)
			}
		}
	}
	for i, e := range r.edges {
		r.cands[e.to].parents = append(r.cands[e.to].parents, i)
		r.cands[e.from].children = append(r.cands[e.from].children, i)
	}
	return r
}

// walk returns, for every candidate, the probability that the explanation of
// the start candidates ends there, and for every edge the probability of
// taking it from its effect.
func (r *ranker) walk(start map[int]float64) (absorbed []float64, move []float64) {
	n := len(r.cands)
	stop := make([]float64, n)
	move = make([]float64, len(r.edges))
	for i, c := range r.cands {
		p, sum := 1.0, 0.0
		for _, e := range c.parents {
			p *= 1 - r.edges[e].s
			sum += r.edges[e].s
		}
		stop[i] = p
		for _, e := range c.parents {
			move[e] = (1 - p) * r.edges[e].s / sum
		}
	}
	absorbed = make([]float64, n)
	mass := make([]float64, n)
	for i, w := range start {
		mass[i] = w
	}
	next := make([]float64, n)
	for iter := 0; iter < 500; iter++ {
		left := 0.0
		clear(next)
		for i, m := range mass {
			if m == 0 {
				continue
			}
			absorbed[i] += m * stop[i]
			for _, e := range r.cands[i].parents {
				next[r.edges[e].from] += m * move[e]
			}
		}
		mass, next = next, mass
		for _, m := range mass {
			left += m
		}
		if left < 1e-12 {
			break
		}
	}
	return absorbed, move
}

// paths finds, for every candidate, the most probable walk from a start
// candidate to it: next[c] is the edge the walk took into c (from c's
// effect), -1 for a start candidate, -2 where no walk reaches.
func (r *ranker) paths(start map[int]float64, move []float64) []int {
	n := len(r.cands)
	cost := make([]float64, n)
	via := make([]int, n)
	for i := range cost {
		cost[i], via[i] = math.Inf(1), -2
	}
	h := &costHeap{}
	for i := range start {
		cost[i], via[i] = 0, -1
		heap.Push(h, costItem{i, 0})
	}
	for h.Len() > 0 {
		it := heap.Pop(h).(costItem)
		if it.cost > cost[it.c] {
			continue
		}
		for _, e := range r.cands[it.c].parents {
			if move[e] <= 0 {
				continue
			}
			to := r.edges[e].from
			if c := it.cost - math.Log(move[e]); c < cost[to] {
				cost[to], via[to] = c, e
				heap.Push(h, costItem{to, c})
			}
		}
	}
	return via
}

type costItem struct {
	c    int
	cost float64
}
type costHeap []costItem

func (h costHeap) Len() int           { return len(h) }
func (h costHeap) Less(i, j int) bool { return h[i].cost < h[j].cost }
func (h costHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *costHeap) Push(x any)        { *h = append(*h, x.(costItem)) }
func (h *costHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// rank scores the candidates reachable from start and returns the top k
// (k <= 0: all) with their paths and the edges among them.
func (r *ranker) rank(start map[int]float64, k int) Incident {
	absorbed, move := r.walk(start)
	via := r.paths(start, move)
	var order []int
	for i := range r.cands {
		if absorbed[i] > 0 && via[i] != -2 {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		ca, cb := r.cands[a], r.cands[b]
		return cmp.Or(
			// Scores closer than rounding noise tie; then the earlier onset
			// (causes precede effects), then more evidence.
			-cmp.Compare(math.Round(absorbed[a]*1e9), math.Round(absorbed[b]*1e9)),
			cmp.Compare(ca.first, cb.first),
			-cmp.Compare(len(ca.events), len(cb.events)),
			cmp.Compare(ca.key.rid, cb.key.rid), cmp.Compare(ca.key.signal, cb.key.signal))
	})
	if k > 0 && len(order) > k {
		order = order[:k]
	}
	out := Incident{}
	// The drawn subgraph: the candidates, then what their paths pass through.
	pos := map[int]int{}
	add := func(c int) {
		if _, ok := pos[c]; ok {
			return
		}
		pos[c] = len(out.Graph)
		out.Graph = append(out.Graph, r.ranked(c, absorbed[c], via))
	}
	for _, c := range order {
		add(c)
	}
	out.Candidates = out.Graph[:len(order):len(order)]
	for _, c := range order {
		for x := c; via[x] >= 0; x = r.edges[via[x]].to {
			add(r.edges[via[x]].to)
		}
	}
	for _, e := range r.edges {
		f, okf := pos[e.from]
		t, okt := pos[e.to]
		if okf && okt {
			out.Edges = append(out.Edges, Edge{From: f, To: t, Rule: e.rule, Strength: e.s, Inferred: e.rule == ""})
		}
	}
	return out
}

func (r *ranker) ranked(c int, score float64, via []int) Ranked {
	cd := r.cands[c]
	eids := make([]string, len(cd.events))
	for j, e := range cd.events {
		eids[j] = e.EID
	}
	return Ranked{RID: cd.key.rid, Signal: cd.key.signal, Score: score, FirstMs: cd.first, LastMs: cd.last,
		Events: len(cd.events), EIDs: eids, Message: cd.events[0].Message, Path: r.path(c, via)}
}

// path follows via from c back to the start: c first, a start candidate last.
// Each step names the event that links it to the next.
func (r *ranker) path(c int, via []int) []Step {
	var out []Step
	eid := r.cands[c].events[0].EID
	for steps := 0; steps <= len(r.cands); steps++ {
		cd := r.cands[c]
		e := via[c]
		if e < 0 {
			out = append(out, Step{RID: cd.key.rid, Signal: cd.key.signal, EID: eid})
			return out
		}
		ed := r.edges[e]
		out = append(out, Step{RID: cd.key.rid, Signal: cd.key.signal, EID: ed.fromEID, Via: ed.via()})
		c, eid = ed.to, ed.toEID
	}
	return out // unreachable: via has no cycles
}

// normalized scales weights to sum to 1, dropping zeros.
func normalized(weights map[int]float64) map[int]float64 {
	sum := 0.0
	for _, w := range weights {
		sum += w
	}
	out := map[int]float64{}
	for i, w := range weights {
		if w > 0 {
			out[i] = w / sum
		}
	}
	return out
}

// RankSymptom ranks the root causes of the symptom events (those about
// g.Scope). It returns nil candidates when the scope has no events.
func RankSymptom(g *Subgraph, p Params, k int) Incident {
	r := build(g, p)
	// The symptom is what its resources keep showing: a warning repeated
	// through the window weighs more as a starting point than a one-off
	// earlier one (logarithmically: ten repeats are not ten symptoms).
	weights := map[int]float64{}
	for i, c := range r.cands {
		if c.symptom && c.salience > r.p.Salience.Normal {
			weights[i] = c.salience * (1 + math.Log(float64(len(c.events))))
		}
	}
	start := normalized(weights)
	if len(start) == 0 {
		return Incident{}
	}
	return r.rank(start, k)
}

// RankIncidents groups the window's candidates into incidents (connected by
// CAUSES edges or by being about one resource) and ranks the root causes of
// each, starting from its effects nothing else explains (candidates without
// effects of their own). Incidents come biggest first (events), then
// earliest; at most maxIncidents.
func RankIncidents(g *Subgraph, p Params, k, maxIncidents int) []Incident {
	r := build(g, p)
	n := len(r.cands)
	parent := make([]int, n)
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for _, e := range r.edges {
		if e.rule != "" || e.rel == RelSame {
			parent[find(e.from)] = find(e.to)
		}
	}
	groups := map[int][]int{}
	for i := range r.cands {
		groups[find(i)] = append(groups[find(i)], i)
	}
	type group struct {
		members []int
		events  int
		first   int64
	}
	var gs []group
	for _, m := range groups {
		g := group{members: m, first: math.MaxInt64}
		for _, i := range m {
			g.events += len(r.cands[i].events)
			g.first = min(g.first, r.cands[i].first)
		}
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b group) int {
		return cmp.Or(-cmp.Compare(a.events, b.events), cmp.Compare(a.first, b.first),
			cmp.Compare(r.cands[a.members[0]].key.rid, r.cands[b.members[0]].key.rid))
	})
	if maxIncidents > 0 && len(gs) > maxIncidents {
		gs = gs[:maxIncidents]
	}
	var out []Incident
	for _, g := range gs {
		weights := map[int]float64{}
		for _, i := range g.members {
			if len(r.cands[i].children) == 0 {
				weights[i] = r.cands[i].salience
			}
		}
		if len(weights) == 0 { // a cycle of inferred edges only: start everywhere
			for _, i := range g.members {
				weights[i] = r.cands[i].salience
			}
		}
		out = append(out, r.rank(normalized(weights), k))
	}
	return out
}
