package rca

import (
	"context"
	"slices"
	"strings"
)

// connectionSignals are the log signatures of a call that failed on the
// network (lognorm's CONNECTION_REFUSED, TIMEOUT, NETWORK_UNREACHABLE). DNS is
// not one: the graph builder already points name-resolution failures at the
// cluster DNS Service.
var connectionSignals = []string{"log:CONNECTION_REFUSED", "log:TIMEOUT", "log:NETWORK_UNREACHABLE"}

// unnamedCallers returns the Pods whose events in evs include a failed
// connection while the graph knows nothing they call: their logs never named
// the peer (a Java ConnectException, a bare "connection refused"), so no
// CALLS edge leads to the callee and the neighbourhood cannot reach it.
func unnamedCallers(evs []Event, links []Link) []string {
	calls := map[string]bool{}
	for _, l := range links {
		if l.Type == "CALLS" {
			calls[l.From] = true
		}
	}
	var out []string
	for _, e := range evs {
		if !strings.HasPrefix(e.RID, "Pod/") || calls[e.RID] || slices.Contains(out, e.RID) ||
			!slices.Contains(connectionSignals, e.Signal) {
			continue
		}
		out = append(out, e.RID)
	}
	return out
}

// cypherNamespaceSuspects returns the Pods of a namespace (a rid prefix, read
// from the (client, rid) index) with a warning, an error log or a fault
// signature in the window: what an unnamed call may have failed against.
const cypherNamespaceSuspects = `
UNWIND $prefixes AS prefix
MATCH (r:Resource) WHERE r.client = $client AND r.rid STARTS WITH prefix
WITH r LIMIT $maxResources
CALL (r) {
  MATCH (r)<-[:ABOUT]-(e:Event)
  WHERE e.ts_ms - $from >= 0 AND $to - e.ts_ms >= 0
    AND (e.type = 'Warning' OR e.severity IN ['ERROR', 'CRITICAL'])
  RETURN e LIMIT 1
}
RETURN DISTINCT r.rid AS rid LIMIT $fanout`

// namespaceSuspects reads, for each unnamed caller, the failing Pods of its
// namespace that the neighbourhood did not already hold, and relates them to
// the caller (RelNamespace).
func (r reader) namespaceSuspects(ctx context.Context, callers, known []string, from, to int64) ([]string, []Relation, error) {
	byNS := map[string][]string{}
	var prefixes []any
	for _, c := range callers {
		parts := strings.SplitN(c, "/", 3)
		prefix := "Pod/" + parts[1] + "/"
		if _, ok := byNS[prefix]; !ok {
			prefixes = append(prefixes, prefix)
		}
		byNS[prefix] = append(byNS[prefix], c)
	}
	recs, err := r.run(ctx, "reading the failing pods of an unnamed caller's namespace", cypherNamespaceSuspects, map[string]any{
		"prefixes": prefixes, "from": from, "to": to, "fanout": r.lim.fanout, "maxResources": r.lim.maxResources})
	if err != nil {
		return nil, nil, err
	}
	var more []string
	var rels []Relation
	for _, rec := range recs {
		rid, _ := rec.Values[0].(string)
		parts := strings.SplitN(rid, "/", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range byNS["Pod/"+parts[1]+"/"] {
			if c != rid {
				rels = append(rels, Relation{From: rid, To: c, Kind: RelNamespace})
			}
		}
		if !slices.Contains(known, rid) && !slices.Contains(more, rid) {
			more = append(more, rid)
		}
	}
	return more, rels, nil
}
