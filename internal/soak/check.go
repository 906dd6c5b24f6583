package soak

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// check compares, per client, what Kafka acknowledged with what is in Neo4j
// and in the dead-letter topics, and fills the report.
func (r *runner) check(ctx context.Context, rep *Report) error {
	start := time.Now()
	r.say("check: building the fault-free reference graphs of %d clients", len(r.clients))
	refs := map[string]*reference{}
	for _, c := range r.clients {
		ref, err := buildReference(ctx, r.driver, c, r.ledger.records(c), r.log)
		if err != nil {
			return err
		}
		refs[c] = ref
	}
	r.say("check: reading the graphs and the dead-letter topics")
	want, got := map[string]*graphDump{}, map[string]*graphDump{}
	others := map[string]string{} // an Event key of a reference → its client
	for _, c := range r.clients {
		var err error
		if want[c], err = dumpGraph(ctx, r.driver, refID(c)); err != nil {
			return err
		}
		if got[c], err = dumpGraph(ctx, r.driver, c); err != nil {
			return err
		}
		for k := range want[c].nodes {
			if strings.HasPrefix(k, "Event ") {
				others[k] = c
			}
		}
	}
	letters, nLetters, err := readDeadLetters(ctx, r.offs)
	if err != nil {
		return err
	}
	rep.DeadLetters = nLetters
	var history map[string]*taskHistory
	if r.cfg.Backend == "embedded" {
		var dirs []string
		for _, p := range r.planes.list {
			dirs = append(dirs, p.stateDir)
		}
		if history, err = readTaskLogs(dirs); err != nil {
			return fmt.Errorf("reading the task logs: %w", err)
		}
	}
	r.mu.Lock()
	windows := slices.Clone(r.windows)
	killed := maps.Clone(r.killed)
	maxLag := maps.Clone(r.maxLag)
	rep.Faults = slices.Clone(r.faults)
	rep.BadPhases = slices.Clone(r.badPhases)
	r.mu.Unlock()

	for _, c := range r.clients {
		recs := r.ledger.records(c)
		row := ClientRow{Client: c, MaxLag: maxLag[c]}
		for _, s := range recs {
			switch {
			case s.Poison != "":
				row.Poison++
			case s.Topic == kafkaio.TopicRawEvents:
				row.Events++
			case s.Topic == kafkaio.TopicRawLogs:
				row.Logs++
			default:
				row.Topology++
			}
		}
		g, w := got[c], want[c]
		row.Nodes, row.Edges = len(g.nodes), len(g.edges)
		row.RefNodes, row.RefEdges = len(w.nodes), len(w.edges)
		others := maps.Clone(others)
		for k, owner := range others {
			if owner == c {
				delete(others, k)
			}
		}
		d := compare(g, w, others)
		row.Lost, row.Foreign, row.Dups, row.Differs = d.lost(), len(d.foreignNodes)+len(g.crossEdge), d.dups(), d.differs()
		row.samples(d, g.crossEdge)
		// Dead letters the reference wrote that the faulted run lacks, and
		// records the reference kept that the faulted run dead-lettered.
		expected := map[[32]byte]bool{}
		for _, e := range refs[c].dlq {
			h := recordHash(e.Key, e.Value)
			expected[h] = true
			if len(letters[h]) == 0 {
				row.DLQMissing++
				row.note("not dead-lettered: %s %s (%s)", e.Kind, clip(string(e.Key)), e.Reason)
			}
		}
		for _, s := range recs {
			if h := recordHash(s.Key, s.Value); !expected[h] && len(letters[h]) > 0 {
				row.WronglyDLQd++
				row.note("dead-lettered although valid: %s %s (%s)", s.Topic, clip(string(s.Key)), letters[h][0].Reason)
			}
		}
		for _, a := range refs[c].accepted {
			rep.Accepted = append(rep.Accepted, c+": "+a)
		}
		for _, role := range roles {
			row.Kills += killed[c+" "+role]
			if h := history[c+" "+role]; h != nil {
				row.Starts += h.starts
				row.Failures += len(h.failures)
				if loop, unexplained := crashLoop(h, windows); loop {
					row.CrashLoop = true
					row.note("%s crash loop: %d failures outside outages, %d panics, gave up %d times", role, unexplained, len(h.panics), len(h.giveups))
					for _, p := range h.panics[:min(2, len(h.panics))] {
						row.note("%s: %s", role, clip(p.Detail))
					}
				}
			}
		}
		rep.Rows = append(rep.Rows, row)
	}
	// Poison whose key names no live client.
	rep.KeyLevel = map[string]*KeyLevelOutcome{}
	for _, p := range r.ledger.keyLevelPoison() {
		o := rep.KeyLevel[p.Kind]
		if o == nil {
			o = &KeyLevelOutcome{Expect: p.Expect}
			rep.KeyLevel[p.Kind] = o
		}
		o.Produced++
		found := len(letters[recordHash(p.Key, p.Value)]) > 0
		switch {
		case found:
			o.DeadLettered++
		case p.Expect == expectLeft:
			o.Left++
		}
	}
	known := slices.Clone(r.clients)
	for _, c := range r.clients {
		known = append(known, refID(c))
	}
	if rep.Strangers, rep.CrossEdges, err = strangers(ctx, r.driver, known); err != nil {
		return err
	}
	if _, v := r.planes.leader(ctx); v == nil {
		rep.Stalls = append(rep.Stalls, "no plane leads at the end")
	} else if s := r.allRunning(v); s != "" {
		rep.Stalls = append(rep.Stalls, "at the end "+s)
	}
	rep.CheckTime = time.Since(start)
	r.say("check done in %s", rep.CheckTime.Round(time.Second))
	return nil
}

func clip(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
