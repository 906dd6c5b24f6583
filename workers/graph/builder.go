package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// DeadLetterFunc sends a record that can never be written to dlq.normalized
// with the reason; it returns only when the dead letter is acknowledged.
type DeadLetterFunc func(ctx context.Context, in kafkaio.Record, reason error) error

// Builder writes one client's records to its graph. Handle is called with one
// batch at a time (it is not safe for concurrent use: per-client order matters).
type Builder struct {
	client   string
	database string
	topics   Topics
	driver   neo4j.DriverWithContext
	rules    []Rule
	probeQ   string // the Cypher that answers a batch's probes
	dlq      DeadLetterFunc
	log      *slog.Logger
	m        *metrics

	// Backoff between attempts while Neo4j is unavailable.
	MinBackoff, MaxBackoff time.Duration
}

type probeKey struct {
	dir string
	rel Relation
}

// NewBuilder prepares a builder for client writing to database ("" = the
// server's default database). It checks the rule table and registers metrics.
func NewBuilder(driver neo4j.DriverWithContext, client, database string, topics Topics, rules []Rule, dlq DeadLetterFunc,
	reg prometheus.Registerer, log *slog.Logger) (*Builder, error) {
	b := &Builder{client: client, database: database, topics: topics, driver: driver, rules: rules, dlq: dlq, log: log,
		MinBackoff: 250 * time.Millisecond, MaxBackoff: 5 * time.Second}
	if err := checkRules(rules); err != nil {
		return nil, err
	}
	var keys []probeKey
	for _, r := range rules {
		for _, dir := range []string{findCauses, findEffects} {
			if k := (probeKey{dir, probeRelation(r.Relation)}); !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	q, err := cypherProbes(keys)
	if err != nil {
		return nil, fmt.Errorf("rule table: %w", err)
	}
	b.probeQ = q
	m, err := newMetrics(reg, client)
	if err != nil {
		return nil, err
	}
	b.m = m
	return b, nil
}

// checkRules rejects a rule table the builder cannot run.
func checkRules(rules []Rule) error {
	seen := map[string]bool{}
	for i, r := range rules {
		switch {
		case r.Name == "" || seen[r.Name]:
			return fmt.Errorf("rule %d: empty or duplicate name %q", i, r.Name)
		case len(r.Cause) == 0 || len(r.Effect) == 0:
			return fmt.Errorf("rule %s: needs causes and effects", r.Name)
		case r.MaxLag <= 0:
			return fmt.Errorf("rule %s: max lag must be positive", r.Name)
		case r.Confidence <= 0 || r.Confidence > 1:
			return fmt.Errorf("rule %s: confidence %v not in (0, 1]", r.Name, r.Confidence)
		}
		seen[r.Name] = true
	}
	return nil
}

// EnsureSchema checks that the server can do the isolation asked for, creates
// the client's database in "database" isolation, and creates the constraints and
// indexes, all idempotently. It waits (with backoff) while Neo4j is unreachable.
func (b *Builder) EnsureSchema(ctx context.Context, iso Isolation) error {
	return b.retry(ctx, "preparing the schema", func() error {
		if iso == IsolationDatabase {
			if err := b.ensureDatabase(ctx); err != nil {
				return err
			}
		}
		for _, q := range schemaStatements() {
			if _, err := neo4j.ExecuteQuery(ctx, b.driver, q, nil, neo4j.EagerResultTransformer,
				neo4j.ExecuteQueryWithDatabase(b.database)); err != nil {
				return stopOnClientError(fmt.Errorf("running %q: %w", q, err))
			}
		}
		return nil
	})
}

// errStop ends retry at once: a configuration the server cannot honour, or data
// it refuses. Retrying cannot help.
type errStop struct{ error }

func (b *Builder) ensureDatabase(ctx context.Context) error {
	res, err := neo4j.ExecuteQuery(ctx, b.driver, "CALL dbms.components() YIELD edition RETURN edition", nil,
		neo4j.EagerResultTransformer, neo4j.ExecuteQueryWithDatabase("system"))
	if err != nil {
		return fmt.Errorf("asking Neo4j for its edition: %w", err)
	}
	edition := ""
	if len(res.Records) > 0 {
		edition, _ = res.Records[0].Values[0].(string)
	}
	if strings.EqualFold(edition, "community") {
		return errStop{fmt.Errorf("NEO4J_ISOLATION=database needs Neo4j Enterprise or Aura, but the server is %s edition, "+
			"which has one user database: set NEO4J_ISOLATION=shared", edition)}
	}
	if _, err := neo4j.ExecuteQuery(ctx, b.driver, "CREATE DATABASE $db IF NOT EXISTS WAIT", map[string]any{"db": b.database},
		neo4j.EagerResultTransformer, neo4j.ExecuteQueryWithDatabase("system")); err != nil {
		return stopOnClientError(fmt.Errorf("creating database %s (NEO4J_DATABASE; create it beforehand or grant "+
			"the user CREATE DATABASE): %w", b.database, err))
	}
	return nil
}

// stopOnClientError makes a client error (refused statement, missing
// privilege, unsupported command) end the start: waiting will not fix it.
// Everything else (Neo4j down or busy) is retried.
func stopOnClientError(err error) error {
	var ne *neo4j.Neo4jError
	if errors.As(err, &ne) && strings.HasPrefix(ne.Code, "Neo.ClientError.") {
		return errStop{err}
	}
	return err
}

// retry runs f until it succeeds, ctx ends, or it fails with errStop, backing
// off between attempts.
func (b *Builder) retry(ctx context.Context, what string, f func() error) error {
	backoff := b.MinBackoff
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		var stop errStop
		if errors.As(err, &stop) {
			return stop.error
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		}
		b.log.Warn("neo4j unavailable, retrying", "what", what, "attempt", attempt, "backoff", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, b.MaxBackoff)
	}
}

// item is one decoded input.
type item struct {
	in kafkaio.Record
	d  decoded
}

type deadLetter struct {
	in     kafkaio.Record
	reason error
}

// Handle writes one batch in one transaction and returns when it is committed
// (nil: the caller may commit the offsets), or when ctx ends (an error: the
// offsets must not be committed). Records that can never be written are
// dead-lettered; Neo4j being unavailable is waited out, never dropped.
func (b *Builder) Handle(ctx context.Context, batch []kafkaio.Record) error {
	if len(batch) == 0 {
		return nil
	}
	start := time.Now()
	var items []item
	var dead []deadLetter
	for _, in := range batch {
		d, err := decode(b.client, b.topics, in)
		switch {
		case err == nil:
			items = append(items, item{in, d})
			continue
		case errors.Is(err, errOtherClient):
			b.m.records.WithLabelValues(in.Topic, "other_client").Inc()
		case errors.Is(err, errLowSignal):
			b.m.records.WithLabelValues(in.Topic, "low_signal").Inc()
		default:
			dead = append(dead, deadLetter{in, err})
		}
	}
	written := items
	err := b.commit(ctx, items)
	var rej *rejectedError
	if errors.As(err, &rej) {
		// Neo4j refused the batch for something in the data. Write the records one
		// by one so only the ones it refuses are dead-lettered.
		b.m.retries.WithLabelValues("rejected").Inc()
		b.log.Warn("neo4j rejected a batch; writing its records one by one", "records", len(items), "err", rej.err)
		written = nil
		for _, it := range items {
			err := b.commit(ctx, []item{it})
			switch {
			case errors.As(err, &rej):
				dead = append(dead, deadLetter{it.in, fmt.Errorf("neo4j refused the record: %w", rej.err)})
			case err != nil:
				return err
			default:
				written = append(written, it)
			}
		}
	} else if err != nil {
		return err
	}
	for _, d := range dead {
		b.log.Warn("dead-lettering record", "topic", d.in.Topic, "partition", d.in.Partition, "offset", d.in.Offset, "reason", d.reason)
		if err := b.dlq(ctx, d.in, d.reason); err != nil {
			return fmt.Errorf("dead-lettering %s/%d@%d: %w", d.in.Topic, d.in.Partition, d.in.Offset, err)
		}
		b.m.deadLetters.WithLabelValues(d.in.Topic).Inc()
		b.m.records.WithLabelValues(d.in.Topic, "dead_letter").Inc()
	}
	now := time.Now()
	var newest time.Time
	for _, it := range written {
		b.m.records.WithLabelValues(it.in.Topic, "written").Inc()
		if !it.in.Timestamp.IsZero() {
			b.m.endToEnd.Observe(now.Sub(it.in.Timestamp).Seconds())
		}
	}
	for _, in := range batch {
		if in.Timestamp.After(newest) {
			newest = in.Timestamp
		}
	}
	if !newest.IsZero() {
		b.m.lag.Set(now.Sub(newest).Seconds())
	}
	b.m.batchSize.Observe(float64(len(batch)))
	b.m.batchDuration.Observe(now.Sub(start).Seconds())
	return nil
}

// rejectedError: Neo4j refused the transaction for its content (a client error
// such as a type or constraint violation); retrying the same data cannot help.
type rejectedError struct{ err error }

func (e *rejectedError) Error() string { return "neo4j rejected the write: " + e.err.Error() }

// permanent tells a refusal of the data from unavailability. Only statement and
// schema client errors are the data's fault; everything else (connectivity,
// transient, database unavailable, security) is waited out.
func permanent(err error) bool {
	var ne *neo4j.Neo4jError
	if errors.As(err, &ne) {
		return strings.HasPrefix(ne.Code, "Neo.ClientError.Statement.") || strings.HasPrefix(ne.Code, "Neo.ClientError.Schema.")
	}
	var ue *neo4j.UsageError
	return errors.As(err, &ue)
}

// commit writes items in one transaction, retrying until it commits or ctx ends.
func (b *Builder) commit(ctx context.Context, items []item) error {
	if len(items) == 0 {
		return nil
	}
	p := buildPlan(items)
	var rejected error
	err := b.retry(ctx, "writing a batch", func() error {
		st, err := b.write(ctx, p)
		if err == nil {
			st.record(b.m)
			return nil
		}
		if permanent(err) {
			rejected = err
			return errStop{err}
		}
		b.m.retries.WithLabelValues("unavailable").Inc()
		return err
	})
	if rejected != nil {
		return &rejectedError{rejected}
	}
	return err
}

// plan is a batch turned into the parameter rows of the Cypher statements.
type plan struct {
	resources []map[string]any
	topo      []topoRound
	events    []map[string]any
	names     []map[string]any  // what the batch's logs name (NAMES)
	named     []string          // their eids (NAMES, then CALLS)
	reprobe   []string          // rids whose events are probed again
	eventSigs map[string]string // eid → signal of the batch's events
	eidOrder  []string
}

// topoRound is a run of topology records with distinct resources. Records are
// applied in order, so a batch holding a pod's record and then its tombstone
// leaves the same graph as two batches would (relations that held, then ended).
type topoRound struct {
	upserts []map[string]any
	rels    map[string][]map[string]any // by relationship type
	ips     []map[string]any            // HAS_IP
	tombs   []map[string]any
}

func buildPlan(items []item) plan {
	p := plan{eventSigs: map[string]string{}}
	seenRes := map[string]bool{}
	addRes := func(r resource) {
		if !seenRes[r.RID] {
			seenRes[r.RID] = true
			p.resources = append(p.resources, map[string]any{"rid": r.RID, "kind": r.Kind, "namespace": r.Namespace, "name": r.Name})
		}
	}
	reprobe := map[string]bool{}
	var round *topoRound
	inRound := map[string]bool{}
	for _, it := range items {
		if t := it.d.topo; t != nil {
			if round == nil || inRound[t.Res.RID] {
				p.topo = append(p.topo, topoRound{rels: map[string][]map[string]any{}})
				round = &p.topo[len(p.topo)-1]
				inRound = map[string]bool{}
			}
			inRound[t.Res.RID] = true
			if t.Tombstone {
				round.tombs = append(round.tombs, map[string]any{"rid": t.Res.RID, "ts_ms": t.TsMs})
				continue
			}
			addRes(t.Res)
			reprobe[t.Res.RID] = true
			keep := make([]string, 0, len(t.Rels))
			for _, r := range t.Rels {
				addRes(r.Target)
				keep = append(keep, r.Type+" "+r.Target.RID)
				round.rels[r.Type] = append(round.rels[r.Type], map[string]any{"rid": t.Res.RID, "target": r.Target.RID})
				if r.Type == "SELECTS" {
					reprobe[r.Target.RID] = true
				}
			}
			for _, ip := range t.IPs {
				keep = append(keep, "HAS_IP "+ip)
				round.ips = append(round.ips, map[string]any{"rid": t.Res.RID, "ip": ip})
			}
			labels := t.Labels
			if labels == nil {
				labels = []string{}
			}
			round.upserts = append(round.upserts, map[string]any{"rid": t.Res.RID, "uid": nullable(t.UID), "labels": labels,
				"keep": keep, "ts_ms": t.TsMs})
		}
		if e := it.d.event; e != nil {
			// The events statement merges the event's resources itself.
			var node, nodeName any
			if e.Node != "" {
				if n, err := newResource("Node", "", e.Node); err == nil {
					node, nodeName = n.RID, n.Name
				}
			}
			props := map[string]any{"source": e.Source, "reason": e.Reason, "signal": e.Signal, "type": e.Type,
				"severity": e.Severity, "category": e.Category, "message": e.Message,
				"ts": time.UnixMilli(e.TsMs).UTC(), "ts_ms": e.TsMs, "count": e.Count}
			names := namesOf(e)
			if e.DNS {
				props["dns"] = true
			}
			if len(names) > 0 {
				props["named"] = true
			}
			p.events = append(p.events, map[string]any{"rid": e.Res.RID, "kind": e.Res.Kind, "namespace": e.Res.Namespace,
				"name": e.Res.Name, "uid": nullable(e.UID), "eid": e.EID, "node": node, "node_name": nodeName,
				"props": props})
			if len(names) > 0 {
				p.names = append(p.names, map[string]any{"eid": e.EID, "names": names})
				if !slices.Contains(p.named, e.EID) {
					p.named = append(p.named, e.EID)
				}
			}
			if _, ok := p.eventSigs[e.EID]; !ok {
				p.eidOrder = append(p.eidOrder, e.EID)
			}
			p.eventSigs[e.EID] = e.Signal
		}
	}
	for rid := range reprobe {
		p.reprobe = append(p.reprobe, rid)
	}
	sort.Strings(p.reprobe)
	return p
}

// Roles of a NAMES edge from a log to what it names.
const (
	namesPeer        = "peer"         // a host name or address it talked to
	namesNameserver  = "nameserver"   // the DNS server a failed lookup asked
	namesDNSFallback = "dns-fallback" // the cluster DNS Service, for a DNS failure that names no known nameserver
)

// namesOf lists what a log names, as NAMES rows: {role, rid} for a :Name,
// {role, ip} for an :IP.
func namesOf(e *eventRow) []map[string]any {
	var out []map[string]any
	for _, rid := range e.Calls.RIDs {
		out = append(out, map[string]any{"role": namesPeer, "rid": rid, "ip": nil})
	}
	for _, ip := range e.Calls.IPs {
		out = append(out, map[string]any{"role": namesPeer, "rid": nil, "ip": ip})
	}
	for _, ip := range e.Calls.Nameservers {
		out = append(out, map[string]any{"role": namesNameserver, "rid": nil, "ip": ip})
	}
	if e.DNS && e.Res.RID != dnsServiceRID {
		out = append(out, map[string]any{"role": namesDNSFallback, "rid": dnsServiceRID, "ip": nil})
	}
	if out == nil {
		return []map[string]any{}
	}
	return out
}

// strings1 is the first column of recs as strings.
func strings1(recs []*neo4j.Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		if s, ok := r.Values[0].(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writeStats counts what one transaction created.
type writeStats struct {
	nodes int
	edges map[string]int
}

func (s writeStats) record(m *metrics) {
	m.nodesCreated.Add(float64(s.nodes))
	for t, n := range s.edges {
		if t == "" {
			continue
		}
		m.edgesCreated.WithLabelValues(t).Add(float64(n))
	}
}

// write runs the plan in one managed transaction: the driver retries transient
// failures for MaxTransactionRetryTime, the caller retries beyond that.
func (b *Builder) write(ctx context.Context, p plan) (writeStats, error) {
	session := b.driver.NewSession(ctx, neo4j.SessionConfig{AccessMode: neo4j.AccessModeWrite, DatabaseName: b.database})
	defer session.Close(ctx)
	var st writeStats
	began := time.Now()
	_, err := session.ExecuteWrite(ctx, func(tx neo4j.ManagedTransaction) (any, error) {
		st = writeStats{edges: map[string]int{}}
		return nil, b.writeTx(ctx, tx, p, &st)
	})
	b.log.Debug("transaction", "took", time.Since(began), "err", err)
	return st, err
}

func (b *Builder) writeTx(ctx context.Context, tx neo4j.ManagedTransaction, p plan, st *writeStats) error {
	exec := func(what, q string, params map[string]any, edgeType string) ([]*neo4j.Record, error) {
		params["client"] = b.client
		began := time.Now()
		defer func() { b.log.Debug("statement", "what", what, "took", time.Since(began)) }()
		res, err := tx.Run(ctx, q, params)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		recs, err := res.Collect(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		sum, err := res.Consume(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		st.nodes += sum.Counters().NodesCreated()
		st.edges[edgeType] += sum.Counters().RelationshipsCreated()
		return recs, nil
	}
	// What topology adds that logs may already have named: new resources
	// and addresses. Their logs are linked (CALLS) now.
	var newRIDs, newIPs []string
	if len(p.resources) > 0 {
		recs, err := exec("merging topology resources", cypherResources, map[string]any{"rows": p.resources}, "")
		if err != nil {
			return err
		}
		newRIDs = strings1(recs)
	}
	for _, round := range p.topo {
		if len(round.upserts) > 0 {
			if _, err := exec("updating topology", cypherTopologyUpsert, map[string]any{"rows": round.upserts}, ""); err != nil {
				return err
			}
		}
		for _, typ := range topologyRelTypes {
			if rows := round.rels[typ]; len(rows) > 0 {
				if _, err := exec("merging "+typ, cypherTopologyRel(typ), map[string]any{"rows": rows}, typ); err != nil {
					return err
				}
			}
		}
		if len(round.ips) > 0 {
			recs, err := exec("merging HAS_IP", cypherTopologyIPs, map[string]any{"rows": round.ips}, "HAS_IP")
			if err != nil {
				return err
			}
			newIPs = append(newIPs, strings1(recs)...)
		}
		if len(round.tombs) > 0 {
			if _, err := exec("applying tombstones", cypherTopologyTombstone, map[string]any{"rows": round.tombs}, ""); err != nil {
				return err
			}
		}
	}
	reprobe := append([]string(nil), p.reprobe...)
	if len(p.events) > 0 {
		recs, err := exec("merging events", cypherEvents, map[string]any{"rows": p.events}, "ABOUT")
		if err != nil {
			return err
		}
		// The statement's relationships are ABOUT edges and the new RUNS_ON
		// edges it returns.
		st.edges["ABOUT"] -= len(recs)
		st.edges["RUNS_ON"] += len(recs)
		for _, r := range recs {
			if rid, ok := r.Values[0].(string); ok && !slices.Contains(reprobe, rid) {
				reprobe = append(reprobe, rid)
			}
		}
	}
	if len(p.names) > 0 {
		if _, err := exec("merging NAMES", cypherNames, map[string]any{"rows": p.names}, "NAMES"); err != nil {
			return err
		}
	}
	// CALLS: the batch's logs that name peers, and the earlier logs that
	// named what topology just added (a log may arrive before the topology
	// of what it names: they are different topics).
	link := append([]string(nil), p.named...)
	if len(newRIDs) > 0 || len(newIPs) > 0 {
		recs, err := exec("finding logs that named new resources", cypherNamedBy, map[string]any{
			"rids": nonNil(newRIDs), "ips": nonNil(newIPs), "limit": reprobeLimit}, "")
		if err != nil {
			return err
		}
		for _, eid := range strings1(recs) {
			if !slices.Contains(link, eid) {
				link = append(link, eid)
			}
		}
	}
	if len(link) > 0 {
		// A new CALLS edge: the caller's earlier events may now be effects of
		// the callee's.
		recs, err := exec("merging CALLS", cypherCalls, map[string]any{"eids": link}, "CALLS")
		if err != nil {
			return err
		}
		for _, rid := range strings1(recs) {
			if !slices.Contains(reprobe, rid) {
				reprobe = append(reprobe, rid)
			}
		}
	}
	// The events to probe: the batch's, plus the earlier events of resources
	// whose relations just changed (a relation that arrives after the events it
	// connects still links them).
	sigs := p.eventSigs
	order := p.eidOrder
	if len(reprobe) > 0 {
		recs, err := exec("listing events to probe again", cypherEventsAbout, map[string]any{"rids": reprobe, "limit": reprobeLimit}, "")
		if err != nil {
			return err
		}
		sigs = make(map[string]string, len(p.eventSigs)+len(recs))
		for k, v := range p.eventSigs {
			sigs[k] = v
		}
		order = append([]string(nil), p.eidOrder...)
		for _, r := range recs {
			eid, _ := r.Values[0].(string)
			sig, _ := r.Values[1].(string)
			if _, ok := sigs[eid]; !ok && eid != "" {
				sigs[eid] = sig
				order = append(order, eid)
			}
		}
	}
	var probes []map[string]any
	for _, eid := range order {
		for _, row := range probeRows(b.rules, eid, sigs[eid]) {
			probes = append(probes, row.params)
		}
	}
	if len(probes) > 0 {
		if _, err := exec("linking causes and effects", b.probeQ, map[string]any{"probes": probes}, "CAUSES"); err != nil {
			return err
		}
	}
	return nil
}

// probeRow is one event's probes for one direction and relation, as Cypher
// parameters.
type probeRow struct {
	dir    string
	rel    Relation
	params map[string]any
}

// probeRelation is the walk a relation's probes take: calls-named walks as
// calls does (one walk for both; the named condition is checked per rule).
func probeRelation(rel Relation) Relation {
	if rel == RelCallsNamed {
		return RelCalls
	}
	return rel
}

// probeRows groups probesFor by direction and relation, in rule-table order.
func probeRows(rules []Rule, eid, signal string) []probeRow {
	var out []probeRow
	index := map[probeKey]int{}
	for _, pr := range probesFor(rules, eid, signal) {
		k := probeKey{pr.Dir, probeRelation(pr.Relation)}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, probeRow{dir: pr.Dir, rel: pr.Relation,
				params: map[string]any{"eid": eid, "key": probeKeyString(k), "dir": pr.Dir, "others": []string{},
					"lag_ms": int64(0), "rules": []map[string]any{}}})
		}
		p := out[i].params
		for _, o := range pr.Others {
			if !slices.Contains(p["others"].([]string), o) {
				p["others"] = append(p["others"].([]string), o)
			}
		}
		p["lag_ms"] = max(p["lag_ms"].(int64), pr.MaxLagMs)
		p["rules"] = append(p["rules"].([]map[string]any), map[string]any{"rule": pr.Rule, "others": pr.Others,
			"lag_ms": pr.MaxLagMs, "confidence": pr.Confidence, "named": pr.Relation == RelCallsNamed})
	}
	return out
}
