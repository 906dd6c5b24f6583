package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

// graphDump is one client's graph, keyed so that two clients' graphs of the
// same records compare equal: nodes by label and identity (eid, rid), edges
// by their ends, type and identifying property (a CAUSES edge's rule, a
// topology edge's via).
type graphDump struct {
	nodes     map[string]string // node key → its properties but client, canonical
	nodeCount map[string]int    // node key → how many nodes have it (>1: a duplicate)
	edges     map[string]string // edge key → its other properties, canonical
	edgeCount map[string]int
	crossEdge []string // edges that leave the client's graph
}

// nodeKey is "Event evt-…" or "Resource Pod/ns/name".
func nodeKey(labels []any, props map[string]any) string {
	label := ""
	for _, l := range labels {
		if s, _ := l.(string); s == "Event" || s == "Resource" {
			label = s
		}
	}
	switch label {
	case "Event":
		return "Event " + fmt.Sprint(props["eid"])
	case "Resource":
		return "Resource " + fmt.Sprint(props["rid"])
	}
	// A call target (:Name, :IP): its identity is its properties, less the
	// client, which differs between the faulted graph and the reference.
	b, _ := json.Marshal(labels)
	return "Other " + string(b) + " " + canonical(props, map[string]bool{"client": true})
}

// edgeIdentity are the properties that tell two edges of one type between
// the same nodes apart; the others are compared as values.
var edgeIdentity = map[string]bool{"rule": true, "via": true}

func dumpGraph(ctx context.Context, driver neo4j.DriverWithContext, client string) (*graphDump, error) {
	g := &graphDump{nodes: map[string]string{}, nodeCount: map[string]int{}, edges: map[string]string{}, edgeCount: map[string]int{}}
	// Every label the graph builder writes (docs/graph.md).
	for _, label := range []string{"Event", "Resource", "Name", "IP"} {
		res, err := neo4j.ExecuteQuery(ctx, driver, "MATCH (n:"+label+" {client: $client}) RETURN labels(n), properties(n)",
			map[string]any{"client": client}, neo4j.EagerResultTransformer)
		if err != nil {
			return nil, fmt.Errorf("reading the %s nodes of %s: %w", label, client, err)
		}
		for _, r := range res.Records {
			labels, _ := r.Values[0].([]any)
			props, _ := r.Values[1].(map[string]any)
			k := nodeKey(labels, props)
			g.nodeCount[k]++
			g.nodes[k] = canonical(props, map[string]bool{"client": true})
		}
	}
	res, err := neo4j.ExecuteQuery(ctx, driver, `
MATCH (a {client: $client})-[x]->(b)
RETURN labels(a), properties(a), type(x), properties(x), labels(b), properties(b), b.client`,
		map[string]any{"client": client}, neo4j.EagerResultTransformer)
	if err != nil {
		return nil, fmt.Errorf("reading the edges of %s: %w", client, err)
	}
	for _, r := range res.Records {
		la, _ := r.Values[0].([]any)
		pa, _ := r.Values[1].(map[string]any)
		typ, _ := r.Values[2].(string)
		px, _ := r.Values[3].(map[string]any)
		lb, _ := r.Values[4].([]any)
		pb, _ := r.Values[5].(map[string]any)
		id := map[string]any{}
		for k := range edgeIdentity {
			if v, ok := px[k]; ok {
				id[k] = v
			}
		}
		k := nodeKey(la, pa) + " -[" + typ + canonical(id, nil) + "]-> " + nodeKey(lb, pb)
		if bc, _ := r.Values[6].(string); bc != client {
			g.crossEdge = append(g.crossEdge, k+" (to client "+bc+")")
		}
		g.edgeCount[k]++
		g.edges[k] = canonical(px, edgeIdentity)
	}
	return g, nil
}

// canonical is props as sorted k=v pairs, skip left out, values printed so
// that equal values read equal (temporal values in RFC 3339, numbers in
// their shortest form).
func canonical(props map[string]any, skip map[string]bool) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if skip[k] {
			continue
		}
		parts = append(parts, k+"="+value(props[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func value(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case float64:
		return strconv.FormatFloat(x, 'g', 12, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = value(e)
		}
		return "[" + strings.Join(s, ",") + "]"
	default:
		if t, ok := v.(interface{ String() string }); ok {
			return t.String()
		}
		return fmt.Sprint(x)
	}
}

// graphDiff is how a client's faulted graph differs from its reference.
type graphDiff struct {
	missingNodes, extraNodes, foreignNodes, changedNodes, dupNodes []string
	missingEdges, extraEdges, changedEdges, dupEdges               []string
}

// lost counts what the faulted run lacks.
func (d graphDiff) lost() int { return len(d.missingNodes) + len(d.missingEdges) }

// differs counts what the faulted run has differently or additionally.
func (d graphDiff) differs() int {
	return len(d.extraNodes) + len(d.changedNodes) + len(d.extraEdges) + len(d.changedEdges)
}

func (d graphDiff) dups() int { return len(d.dupNodes) + len(d.dupEdges) }

// missingAndChanged lists, in key order, the keys of want that got lacks and
// those whose canonical properties differ.
func missingAndChanged(got, want map[string]string) (missing, changed []string) {
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case g != want[k]:
			changed = append(changed, k+": "+g+" want "+want[k])
		}
	}
	return missing, changed
}

// compare compares a client's graph with its reference. others holds the
// Event keys of every other client's reference: an extra event found there is
// another client's record in this client's graph.
func compare(got, want *graphDump, others map[string]string) graphDiff {
	var d graphDiff
	d.missingNodes, d.changedNodes = missingAndChanged(got.nodes, want.nodes)
	for _, k := range slices.Sorted(maps.Keys(got.nodes)) {
		if got.nodeCount[k] > 1 {
			d.dupNodes = append(d.dupNodes, fmt.Sprintf("%s ×%d", k, got.nodeCount[k]))
		}
		if _, ok := want.nodes[k]; ok {
			continue
		}
		if owner, ok := others[k]; ok {
			d.foreignNodes = append(d.foreignNodes, k+" (a record of "+owner+")")
		} else {
			d.extraNodes = append(d.extraNodes, k)
		}
	}
	d.missingEdges, d.changedEdges = missingAndChanged(got.edges, want.edges)
	for _, k := range slices.Sorted(maps.Keys(got.edges)) {
		if got.edgeCount[k] > 1 {
			d.dupEdges = append(d.dupEdges, fmt.Sprintf("%s ×%d", k, got.edgeCount[k]))
		}
		if _, ok := want.edges[k]; !ok {
			d.extraEdges = append(d.extraEdges, k)
		}
	}
	return d
}

// strangers counts the nodes whose client is none of known (a graph of a
// client that never registered, or of no client at all), and the edges
// between two clients' graphs.
func strangers(ctx context.Context, driver neo4j.DriverWithContext, known []string) (map[string]int64, int64, error) {
	res, err := neo4j.ExecuteQuery(ctx, driver, `
MATCH (n) WHERE n.client IS NULL OR NOT n.client IN $known
RETURN coalesce(n.client, '(none)') AS client, count(*) AS n`,
		map[string]any{"known": known}, neo4j.EagerResultTransformer)
	if err != nil {
		return nil, 0, fmt.Errorf("looking for nodes of unknown clients: %w", err)
	}
	out := map[string]int64{}
	for _, r := range res.Records {
		c, _ := r.Values[0].(string)
		n, _ := r.Values[1].(int64)
		out[c] = n
	}
	res, err = neo4j.ExecuteQuery(ctx, driver, `MATCH (a)-[x]->(b) WHERE a.client <> b.client RETURN count(x)`, nil, neo4j.EagerResultTransformer)
	if err != nil {
		return nil, 0, fmt.Errorf("looking for edges between clients: %w", err)
	}
	var cross int64
	if len(res.Records) > 0 {
		cross, _ = res.Records[0].Values[0].(int64)
	}
	return out, cross, nil
}
