package graph

import (
	"fmt"
	"strings"
)

// The Cypher the builder runs. Every statement is an UNWIND over the batch's rows
// and MERGEs on the (client, key) pairs the uniqueness constraints cover, so a
// replayed batch matches what it wrote before instead of adding to it. Every
// MATCH and MERGE carries $client: in "shared" isolation that is the only thing
// between two clients' graphs.

// schemaStatements create the constraints and indexes, idempotently. Composite
// property uniqueness constraints exist in Neo4j Community 5 (node key
// constraints, which also demand existence, are Enterprise only).
func schemaStatements() []string {
	return []string{
		"CREATE CONSTRAINT kg_resource_key IF NOT EXISTS FOR (r:Resource) REQUIRE (r.client, r.rid) IS UNIQUE",
		"CREATE CONSTRAINT kg_event_key IF NOT EXISTS FOR (e:Event) REQUIRE (e.client, e.eid) IS UNIQUE",
		"CREATE INDEX kg_event_ts IF NOT EXISTS FOR (e:Event) ON (e.client, e.ts_ms)",
		// An address a topology record lists (HAS_IP), so a log that names it
		// finds its resource without scanning the client's resources.
		"CREATE CONSTRAINT kg_ip_key IF NOT EXISTS FOR (a:IP) REQUIRE (a.client, a.ip) IS UNIQUE",
		// A resource id a log names (NAMES), which topology may only bring later.
		"CREATE CONSTRAINT kg_name_key IF NOT EXISTS FOR (n:Name) REQUIRE (n.client, n.rid) IS UNIQUE",
	}
}

// It returns the resources it created.
const cypherResources = `
UNWIND $rows AS row
OPTIONAL MATCH (old:Resource {client: $client, rid: row.rid})
WITH row, old IS NULL AS created
MERGE (r:Resource {client: $client, rid: row.rid})
  ON CREATE SET r.kind = row.kind, r.namespace = row.namespace, r.name = row.name
WITH row WHERE created
RETURN DISTINCT row.rid AS rid`

// cypherTopologyUpsert records a resource's current state and ends (sets until
// on) its topology relations that the record no longer lists. Ended relations
// are kept: an incident that happened while they held still needs them.
const cypherTopologyUpsert = `
UNWIND $rows AS row
MATCH (r:Resource {client: $client, rid: row.rid})
SET r.uid = coalesce(row.uid, r.uid), r.labels = row.labels, r.deleted_ms = null
WITH r, row
OPTIONAL MATCH (r)-[x:RUNS_ON|OWNED_BY|SELECTS|USES|HAS_IP {via: 'topology'}]->(t)
WHERE x.until IS NULL AND NOT (type(x) + ' ' + coalesce(t.rid, t.ip)) IN row.keep
SET x.until = row.ts_ms`

// cypherTopologyTombstone: the resource was deleted; its topology relations end.
// A tombstone for a resource the graph never saw matches nothing.
const cypherTopologyTombstone = `
UNWIND $rows AS row
MATCH (r:Resource {client: $client, rid: row.rid})
SET r.deleted_ms = row.ts_ms
WITH r, row
OPTIONAL MATCH (r)-[x:RUNS_ON|OWNED_BY|SELECTS|USES|HAS_IP {via: 'topology'}]->()
WHERE x.until IS NULL
SET x.until = row.ts_ms`

// cypherTopologyRel creates (or revives) one type of topology relation; the type
// cannot be a parameter, hence one statement per type.
func cypherTopologyRel(typ string) string {
	return `
UNWIND $rows AS row
MATCH (r:Resource {client: $client, rid: row.rid}), (t:Resource {client: $client, rid: row.target})
MERGE (r)-[x:` + typ + ` {via: 'topology'}]->(t)
SET x.until = null`
}

// cypherTopologyIPs records (or revives) a resource's addresses. An address
// moves to another resource (a recycled pod IP) by the old owner's relation
// ending and the new one's starting; both stay, with until telling them apart.
// It returns the addresses a resource gained (new or revived).
const cypherTopologyIPs = `
UNWIND $rows AS row
MATCH (r:Resource {client: $client, rid: row.rid})
MERGE (a:IP {client: $client, ip: row.ip})
WITH r, a, row, EXISTS { (r)-[h:HAS_IP {via: 'topology'}]->(a) WHERE h.until IS NULL } AS had
MERGE (r)-[x:HAS_IP {via: 'topology'}]->(a)
SET x.until = null
WITH row WHERE NOT had
RETURN DISTINCT row.ip AS ip`

// cypherNamedBy lists the logs that named some resources or addresses
// (newest $limit each), to link them once topology brings what they named.
const cypherNamedBy = `
CALL () {
  UNWIND $rids AS rid
  MATCH (:Name {client: $client, rid: rid})<-[:NAMES]-(e:Event)
  WITH rid, e ORDER BY e.ts_ms DESC
  WITH rid, collect(e)[..$limit] AS es
  UNWIND es AS e
  RETURN e
  UNION
  UNWIND $ips AS ip
  MATCH (:IP {client: $client, ip: ip})<-[:NAMES]-(e:Event)
  WITH ip, e ORDER BY e.ts_ms DESC
  WITH ip, collect(e)[..$limit] AS es
  UNWIND es AS e
  RETURN e
}
RETURN DISTINCT e.eid AS eid`

// cypherCalls links each log to what it named (NAMES) and the graph knows:
// a resource of the named rid, the resource that held a named address when
// the log was written (until unset, or later), and for a DNS failure the
// nameserver it named or, when topology knows none of those, the cluster DNS
// Service. Its pod CALLS each of them; first_ms/last_ms widen monotonically,
// so a replay leaves them as they were. A word that looks like a host name
// but names nothing known adds nothing.
//
// Each log keeps what it is about in e.calls: its resolved targets (for a DNS
// failure only the DNS Service: the name it could not resolve did not fail).
// The calls relations of the rules follow e.calls for a log that names
// anything (e.named), so a pod that calls two services does not blame one for
// the other's errors; only a log that names nothing is linked through all its
// pod's CALLS.
//
// It returns the callers with a new CALLS edge, whose earlier events are
// probed again.
const cypherCalls = `
UNWIND $eids AS eid
MATCH (e:Event {client: $client, eid: eid})-[:ABOUT]->(p:Resource)
CALL (e, p) {
  CALL (e) {
    MATCH (e)-[:NAMES {role: 'peer'}]->(n:Name)
    MATCH (t:Resource {client: $client, rid: n.rid})
    RETURN t, false AS dns
    UNION
    MATCH (e)-[:NAMES {role: 'peer'}]->(:IP)<-[h:HAS_IP]-(t:Resource)
    WHERE h.until IS NULL OR h.until >= e.ts_ms
    RETURN t, false AS dns
    UNION
    MATCH (e)-[:NAMES {role: 'nameserver'}]->(:IP)<-[h:HAS_IP]-(t:Resource)
    WHERE h.until IS NULL OR h.until >= e.ts_ms
    RETURN t, true AS dns
    UNION
    MATCH (e)-[:NAMES {role: 'dns-fallback'}]->(n:Name)
    WHERE NOT EXISTS {
      MATCH (e)-[:NAMES {role: 'nameserver'}]->(:IP)<-[h2:HAS_IP]-(:Resource) WHERE h2.until IS NULL OR h2.until >= e.ts_ms
    }
    MATCH (t:Resource {client: $client, rid: n.rid})
    RETURN t, true AS dns
  }
  WITH t, dns WHERE t <> p
  RETURN collect(DISTINCT t) AS targets,
         collect(DISTINCT CASE WHEN dns = coalesce(e.dns, false) THEN t.rid END) AS mine // one row, [] when none
}
FOREACH (_ IN CASE WHEN size(mine) > 0 THEN [1] ELSE [] END | SET e.calls = mine)
WITH e, p, targets
UNWIND targets AS t
WITH e, p, t, EXISTS { (p)-[:CALLS {via: 'log'}]->(t) } AS existed
MERGE (p)-[c:CALLS {via: 'log'}]->(t)
SET c.first_ms = CASE WHEN c.first_ms IS NULL OR e.ts_ms < c.first_ms THEN e.ts_ms ELSE c.first_ms END,
    c.last_ms = CASE WHEN c.last_ms IS NULL OR e.ts_ms > c.last_ms THEN e.ts_ms ELSE c.last_ms END
WITH p, existed WHERE NOT existed
RETURN DISTINCT p.rid AS rid`

// cypherNames records what the batch's logs name: a :Name for a resource id,
// an :IP for an address, each linked by NAMES with its role. cypherCalls
// turns them into CALLS, now or when topology brings what they named.
const cypherNames = `
UNWIND $rows AS row
MATCH (e:Event {client: $client, eid: row.eid})
FOREACH (x IN [x IN row.names WHERE x.rid IS NOT NULL] |
  MERGE (n:Name {client: $client, rid: x.rid})
  MERGE (e)-[:NAMES {role: x.role}]->(n))
FOREACH (x IN [x IN row.names WHERE x.ip IS NOT NULL] |
  MERGE (a:IP {client: $client, ip: x.ip})
  MERGE (e)-[:NAMES {role: x.role}]->(a))`

// cypherEvents merges the events, their ABOUT edges and the RUNS_ON edges
// they reveal (row.node: the node a pod's event or log names). It returns the
// RUNS_ON edges that are new, so the pods' earlier events are probed again.
const cypherEvents = `
UNWIND $rows AS row
MERGE (r:Resource {client: $client, rid: row.rid})
  ON CREATE SET r.kind = row.kind, r.namespace = row.namespace, r.name = row.name
FOREACH (_ IN CASE WHEN r.uid IS NULL AND row.uid IS NOT NULL THEN [1] ELSE [] END | SET r.uid = row.uid)
MERGE (e:Event {client: $client, eid: row.eid})
SET e += row.props
MERGE (e)-[:ABOUT]->(r)
WITH r, row WHERE row.node IS NOT NULL
MERGE (n:Resource {client: $client, rid: row.node})
  ON CREATE SET n.kind = 'Node', n.namespace = '', n.name = row.node_name
WITH r, n
WHERE NOT EXISTS { (r)-[:RUNS_ON {via: 'event'}]->(n) }
MERGE (r)-[:RUNS_ON {via: 'event'}]->(n)
RETURN DISTINCT r.rid AS rid, n.rid AS node`

// cypherEventsAbout lists the events about some resources, to probe them again
// after their relations changed: the newest reprobeLimit per resource, so a
// long-lived resource whose topology changes often costs a bounded amount.
const cypherEventsAbout = `
UNWIND $rids AS rid
MATCH (:Resource {client: $client, rid: rid})<-[:ABOUT]-(e:Event)
WITH rid, e ORDER BY e.ts_ms DESC
WITH rid, collect(e)[..$limit] AS events
UNWIND events AS e
RETURN DISTINCT e.eid AS eid, e.signal AS signal`

// reprobeLimit bounds the events probed again per resource whose relations
// changed.
const reprobeLimit = 1000

// relationPattern is the walk from a new event's resource nr to the resources of
// its counterparts o, for one direction and relation, and the extra condition
// that the two resources differ where the relation demands it.
func relationPattern(dir string, rel Relation) (pattern, cond string, err error) {
	switch {
	case rel == RelSame:
		return "(nr)<-[:ABOUT]-(o:Event)", "", nil
	case rel == RelNode && dir == findCauses:
		return "(nr)-[:RUNS_ON]->(:Resource)<-[:ABOUT]-(o:Event)", "", nil
	case rel == RelNode && dir == findEffects:
		return "(nr)<-[:RUNS_ON]-(:Resource)<-[:ABOUT]-(o:Event)", "", nil
	case rel == RelOwner:
		return "(nr)-[:OWNED_BY]->(:Resource)<-[:OWNED_BY]-(orr:Resource)<-[:ABOUT]-(o:Event)", " AND orr <> nr", nil
	case rel == RelSelects:
		return "(nr)<-[:SELECTS]-(:Resource)-[:SELECTS]->(orr:Resource)<-[:ABOUT]-(o:Event)", " AND orr <> nr", nil
	// calls: the cause is about what the effect's resource CALLS, or a pod a
	// called Service SELECTS.
	// An effect that names what it called (e.named) is linked only through
	// what those names resolve to (e.calls), whether topology knew them before
	// or after the log: the result does not depend on arrival order.
	// calls-named walks the same way (probeRelation); its rules also demand
	// that the effect named the Service walked through (r.named, checked per
	// rule after the walk).
	// Two walks each (the callee itself, or a pod behind the called Service),
	// separated by "|": one branch per walk plans better than a SELECTS*0..1.
	case rel == RelCalls && dir == findCauses:
		return "(nr)-[:CALLS]->(via:Resource)<-[:ABOUT]-(o:Event)|(nr)-[:CALLS]->(via:Resource)-[:SELECTS]->(orr:Resource)<-[:ABOUT]-(o:Event)",
			" AND (n.named IS NULL OR via.rid IN coalesce(n.calls, []))", nil
	case rel == RelCalls && dir == findEffects:
		return "(nr)<-[:CALLS]-(orr:Resource)<-[:ABOUT]-(o:Event)|(nr)<-[:SELECTS]-(via:Resource)<-[:CALLS]-(orr:Resource)<-[:ABOUT]-(o:Event)",
			" AND orr <> nr AND (o.named IS NULL OR via.rid IN coalesce(o.calls, []))", nil
	case rel == RelController && dir == findCauses, rel == RelManaged && dir == findEffects:
		return "(nr)-[:OWNED_BY*1..2]->(:Resource)<-[:ABOUT]-(o:Event)", "", nil
	case rel == RelController && dir == findEffects, rel == RelManaged && dir == findCauses:
		return "(nr)<-[:OWNED_BY*1..2]-(:Resource)<-[:ABOUT]-(o:Event)", "", nil
	// uses: the cause is about a resource the effect's resource USES.
	case rel == RelUses && dir == findCauses:
		return "(nr)-[:USES]->(:Resource)<-[:ABOUT]-(o:Event)", "", nil
	case rel == RelUses && dir == findEffects:
		return "(nr)<-[:USES]-(:Resource)<-[:ABOUT]-(o:Event)", "", nil
	}
	return "", "", fmt.Errorf("relation %q: want one of %v", rel, Relations())
}

// probeKeyString names a (direction, relation) pair in probe rows.
func probeKeyString(k probeKey) string { return k.dir + "/" + string(k.rel) }

// cypherProbes builds the one statement that answers every probe of a batch. A
// probe row is one new event n with its rules for one direction and relation
// (p.key); its branch of the UNION walks the relation from n's resource to the
// counterparts o whose signal and time fit (p.others and p.lag_ms are the union
// and the maximum over p.rules, so the neighbourhood is walked once), then each
// rule is checked and the CAUSES edge MERGEd. n is the effect when looking for
// causes, the cause otherwise. One statement, not one per relation, because a
// round trip costs more than the walk. Needs Neo4j 5.23+ (CALL (...) scope).
func cypherProbes(keys []probeKey) (string, error) {
	var branches []string
	for _, k := range keys {
		pattern, cond, err := relationPattern(k.dir, k.rel)
		if err != nil {
			return "", err
		}
		// The window is written as differences on purpose: as plain comparisons
		// on o.ts_ms the planner may answer it from the (client, ts_ms) index,
		// scanning every event of the client in the window instead of the few
		// around one resource (seconds per batch instead of milliseconds).
		window := "n.ts_ms - o.ts_ms >= 0 AND n.ts_ms - o.ts_ms <= p.lag_ms"
		if k.dir == findEffects {
			window = "o.ts_ms - n.ts_ms >= 0 AND o.ts_ms - n.ts_ms <= p.lag_ms"
		}
		for _, pat := range strings.Split(pattern, "|") {
			via, c := "null", cond
			switch {
			case strings.Contains(pat, "(via:"):
				via = "via.rid"
			case strings.Contains(c, "via."):
				// The walk to the callee itself: it is what was called.
				via = "nr.rid"
				c = strings.ReplaceAll(c, "via.rid", "nr.rid")
			}
			if strings.Contains(pat, "(orr:") && !strings.Contains(c, "orr <> nr") {
				c += " AND orr <> nr"
			}
			branches = append(branches, `
  WITH p, n, nr WHERE p.key = '`+probeKeyString(k)+`'
  MATCH `+pat+`
  WHERE o.client = $client AND o <> n AND o.signal IN p.others AND `+window+c+`
  RETURN o, `+via+` AS via`)
		}
	}
	if len(branches) == 0 {
		return "", fmt.Errorf("no probe keys")
	}
	return `
UNWIND $probes AS p
MATCH (n:Event {client: $client, eid: p.eid})-[:ABOUT]->(nr:Resource)
CALL (p, n, nr) {` + strings.Join(branches, "\n  UNION") + `
}
WITH DISTINCT p, n, o, via
UNWIND p.rules AS r
WITH p, n, o, r, via, CASE p.dir WHEN '` + findCauses + `' THEN n ELSE o END AS effect
WHERE o.signal IN r.others AND abs(n.ts_ms - o.ts_ms) <= r.lag_ms
  AND (NOT r.named OR (effect.calls IS NOT NULL AND via IN effect.calls))
WITH r, CASE p.dir WHEN '` + findCauses + `' THEN o ELSE n END AS c, CASE p.dir WHEN '` + findCauses + `' THEN n ELSE o END AS e
MERGE (c)-[x:CAUSES {rule: r.rule}]->(e)
SET x.confidence = r.confidence, x.lag_s = (e.ts_ms - c.ts_ms) / 1000.0`, nil
}
