package rca

import (
	"context"
	"fmt"
	"strings"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// The Cypher that reads a question's subgraph. Every statement starts from
// nodes matched with $client (the (client, rid) and (client, ts_ms) indexes),
// so in shared isolation no statement ever touches another client's nodes.

// neighbourhoodLevels is how many hops the neighbourhood reaches from the
// symptom: a caller, the Service it calls, that Service's pods, their node or
// the Service they call, its pods.
const neighbourhoodLevels = 5

// cypherNeighbourhood builds the statement that returns the symptom's scope
// (the resource, what it owns two levels down — Deployment → ReplicaSet →
// Pod — and what it selects) and the topology and call relationships around
// it, level by level: from each resource of a level, the ones it points to
// (RUNS_ON, OWNED_BY, USES, CALLS, SELECTS) and the ones that point to it as
// owned or selected (its siblings' owner's other children, the Services
// that select it). Each resource contributes at most $fanout of each, the
// whole at most $maxResources resources: a Deployment of 500 replicas gives a
// sample of its siblings. What the relationships mean for causality is
// decided in Go (relations.go), so the statement stays small to plan.
func cypherNeighbourhood() string {
	var b strings.Builder
	b.WriteString(`
MATCH (s:Resource {client: $client, rid: $rid})
CALL (s) {
  CALL (s) {
    MATCH (s)<-[:OWNED_BY*1..2]-(m:Resource) RETURN m LIMIT $fanout
    UNION
    MATCH (s)-[:SELECTS]->(m:Resource) RETURN m LIMIT $fanout
  }
  RETURN collect(DISTINCT m) AS members // one row, [] when none
}
WITH [s] + [m IN members WHERE m <> s] AS scope
WITH scope, scope AS seen, scope AS frontier, [] AS links`)
	for level := 0; level < neighbourhoodLevels; level++ {
		b.WriteString(`
CALL (frontier, seen) {
  UNWIND frontier AS x
  CALL (x) {
    MATCH (x)-[l:RUNS_ON|OWNED_BY|USES|CALLS|SELECTS]->(y:Resource) RETURN l, y LIMIT $fanout
    UNION
    MATCH (x)<-[l:OWNED_BY|SELECTS]-(y:Resource) RETURN l, y LIMIT $fanout
  }
  WITH l, y WHERE y.client = $client
  WITH collect([startNode(l).rid, type(l), endNode(l).rid]) AS found, collect(DISTINCT y) AS ys
  RETURN found, [n IN ys WHERE NOT n IN seen][..$maxResources] AS fresh
}
WITH scope, seen + fresh AS seen, CASE WHEN size(seen) >= $maxResources THEN [] ELSE fresh END AS frontier, links + found AS links`)
	}
	b.WriteString(`
RETURN [r IN scope | r.rid] AS scope, [r IN seen | r.rid][..$maxResources] AS rids, links`)
	return b.String()
}

// cypherEvents returns the events about the given resources in the window,
// the newest $perResource per resource, each with the CAUSES edges into it. The window is written as differences on purpose (as
// in the builder's probes): as plain comparisons the planner may answer it
// from the (client, ts_ms) index, every event of the client in the window,
// instead of walking ABOUT from the few resources asked about.
const cypherEvents = `
UNWIND $rids AS rid
MATCH (r:Resource {client: $client, rid: rid})
CALL (r) {
  MATCH (r)<-[:ABOUT]-(e:Event)
  WHERE e.ts_ms - $from >= 0 AND $to - e.ts_ms >= 0
  RETURN e ORDER BY e.ts_ms DESC LIMIT $perResource
}
RETURN r.rid AS rid, e.eid AS eid, e.signal AS signal, e.ts_ms AS ts, e.count AS count, e.type AS type, e.severity AS severity,
       left(e.message, $messageChars) AS message,
       [(e)<-[c:CAUSES]-(a:Event) WHERE a.client = $client | [a.eid, c.rule, c.confidence]] AS causes`

// cypherWindowEvents returns the client's warnings in the window, newest
// first, at most $limit, with the CAUSES edges into them (incidents).
const cypherWindowEvents = `
MATCH (e:Event)
WHERE e.client = $client AND e.ts_ms >= $from AND e.ts_ms <= $to
  AND (e.type <> 'Normal' OR e.severity IN ['WARNING', 'ERROR', 'CRITICAL'])
WITH e ORDER BY e.client DESC, e.ts_ms DESC LIMIT $limit
MATCH (e)-[:ABOUT]->(r:Resource)
RETURN r.rid AS rid, e.eid AS eid, e.signal AS signal, e.ts_ms AS ts, e.count AS count, e.type AS type, e.severity AS severity,
       left(e.message, $messageChars) AS message,
       [(e)<-[c:CAUSES]-(a:Event) WHERE a.client = $client | [a.eid, c.rule, c.confidence]] AS causes`

// cypherNewest is the client's newest event time (epoch ms), from the
// (client, ts_ms) index; null when the client has no events. The ORDER BY
// names both indexed properties so the planner reads the index backwards and
// stops at the first entry (ordering by ts_ms alone sorts every event of the
// client: a million db hits on a million-event graph instead of two).
const cypherNewest = `
MATCH (e:Event) WHERE e.client = $client AND e.ts_ms IS NOT NULL
RETURN e.ts_ms AS ts ORDER BY e.client DESC, e.ts_ms DESC LIMIT 1`

// cypherResource says whether the resource exists, and otherwise suggests
// resources of the same name.
const cypherResource = `
OPTIONAL MATCH (r:Resource {client: $client, rid: $rid})
WITH r
CALL (r) {
  WITH r WHERE r IS NULL
  MATCH (o:Resource) WHERE o.client = $client AND o.name = $name
  RETURN collect(o.rid)[..5] AS similar
}
RETURN r IS NOT NULL AS found, similar`

// Limits of one question, so an answer costs a bounded amount whatever the
// graph holds.
type limits struct {
	fanout       int // related resources per resource and relation
	maxResources int // resources in a neighbourhood
	perResource  int // newest warnings per resource in the window
	windowEvents int // warnings in an incidents question
	messageChars int
}

func defaultLimits() limits {
	return limits{fanout: 50, maxResources: 400, perResource: 500, windowEvents: 20000, messageChars: 300}
}

// reader runs the statements in one read transaction.
type reader struct {
	tx     neo4j.ManagedTransaction
	client string
	lim    limits
}

func (r reader) run(ctx context.Context, what, q string, params map[string]any) ([]*neo4j.Record, error) {
	params["client"] = r.client
	res, err := r.tx.Run(ctx, q, params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	recs, err := res.Collect(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return recs, nil
}

// newest returns the client's newest event time, ok=false when it has none.
func (r reader) newest(ctx context.Context) (int64, bool, error) {
	recs, err := r.run(ctx, "finding the client's newest event", cypherNewest, map[string]any{})
	if err != nil || len(recs) == 0 {
		return 0, false, err
	}
	ts, ok := recs[0].Values[0].(int64)
	return ts, ok, nil
}

// resource reports whether rid exists, with similar rids when it does not.
func (r reader) resource(ctx context.Context, rid, name string) (bool, []string, error) {
	recs, err := r.run(ctx, "looking up the resource", cypherResource, map[string]any{"rid": rid, "name": name})
	if err != nil || len(recs) == 0 {
		return false, nil, err
	}
	found, _ := recs[0].Values[0].(bool)
	var similar []string
	if l, ok := recs[0].Values[1].([]any); ok {
		for _, s := range l {
			if str, ok := s.(string); ok {
				similar = append(similar, str)
			}
		}
	}
	return found, similar, nil
}

// neighbourhood reads the symptom's scope, the resources around it and the
// relationships between them.
func (r reader) neighbourhood(ctx context.Context, rid string) (scope, rids []string, links []Link, err error) {
	recs, err := r.run(ctx, "reading the symptom's neighbourhood", cypherNeighbourhood(), map[string]any{
		"rid": rid, "fanout": r.lim.fanout, "maxResources": r.lim.maxResources})
	if err != nil || len(recs) == 0 {
		return nil, nil, nil, err
	}
	scope = strings1(recs[0].Values[0])
	rids = strings1(recs[0].Values[1])
	if l, ok := recs[0].Values[2].([]any); ok {
		for _, x := range l {
			if t := strings1(x); len(t) == 3 {
				links = append(links, Link{From: t[0], Type: t[1], To: t[2]})
			}
		}
	}
	return scope, rids, links, nil
}

// events reads the warnings about rids in [from, to].
func (r reader) events(ctx context.Context, rids []string, from, to int64) ([]Event, error) {
	recs, err := r.run(ctx, "reading the neighbourhood's events", cypherEvents, map[string]any{
		"rids": rids, "from": from, "to": to, "perResource": r.lim.perResource, "messageChars": r.lim.messageChars})
	if err != nil {
		return nil, err
	}
	return toEvents(recs), nil
}

// windowEvents reads the client's warnings in [from, to].
func (r reader) windowEvents(ctx context.Context, from, to int64) ([]Event, error) {
	recs, err := r.run(ctx, "reading the window's events", cypherWindowEvents, map[string]any{
		"from": from, "to": to, "limit": r.lim.windowEvents, "messageChars": r.lim.messageChars})
	if err != nil {
		return nil, err
	}
	return toEvents(recs), nil
}

func toEvents(recs []*neo4j.Record) []Event {
	out := make([]Event, 0, len(recs))
	for _, rec := range recs {
		v := rec.Values
		e := Event{}
		e.RID, _ = v[0].(string)
		e.EID, _ = v[1].(string)
		e.Signal, _ = v[2].(string)
		e.TsMs, _ = v[3].(int64)
		e.Count, _ = v[4].(int64)
		e.Type, _ = v[5].(string)
		e.Severity, _ = v[6].(string)
		e.Message, _ = v[7].(string)
		if l, ok := v[8].([]any); ok {
			for _, x := range l {
				t, _ := x.([]any)
				if len(t) != 3 {
					continue
				}
				c := Cause{}
				c.EID, _ = t[0].(string)
				c.Rule, _ = t[1].(string)
				c.Confidence, _ = t[2].(float64)
				e.Causes = append(e.Causes, c)
			}
		}
		out = append(out, e)
	}
	return out
}

func strings1(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
