package soak

import (
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// ClientRow is one client's line of the soak table.
type ClientRow struct {
	Client                           string
	Events, Logs, Topology, Poison   int // acknowledged records
	Nodes, Edges, RefNodes, RefEdges int // the faulted graph and the reference
	Lost                             int // nodes and edges of the reference the graph lacks
	Foreign                          int // another client's records in this graph, edges leaving it
	Dups                             int // nodes or edges that exist twice
	Differs                          int // nodes and edges the reference lacks, or with other properties
	DLQMissing                       int // records the reference dead-lettered that no dead-letter topic holds
	WronglyDLQd                      int // records the reference wrote that were dead-lettered
	Kills                            int // SIGKILLs the soak sent to its workers
	Starts                           int // worker starts (task logs)
	Failures                         int // worker exits with a failure status
	CrashLoop                        bool
	MaxLag                           int64
	Notes                            []string // the first differences found, for the details
}

func (c *ClientRow) note(format string, args ...any) {
	if len(c.Notes) < 12 {
		c.Notes = append(c.Notes, fmt.Sprintf(format, args...))
	}
}

func (c *ClientRow) samples(d graphDiff, cross []string) {
	for _, g := range []struct {
		what string
		keys []string
	}{{"lost node", d.missingNodes}, {"lost edge", d.missingEdges}, {"foreign node", d.foreignNodes}, {"edge to another client", cross},
		{"duplicate node", d.dupNodes}, {"duplicate edge", d.dupEdges}, {"extra node", d.extraNodes}, {"extra edge", d.extraEdges},
		{"changed node", d.changedNodes}, {"changed edge", d.changedEdges}} {
		for _, k := range g.keys[:min(3, len(g.keys))] {
			c.note("%s: %s", g.what, clip(k))
		}
	}
}

// KeyLevelOutcome is what became of the poison records of one kind whose key
// names no live client.
type KeyLevelOutcome struct {
	Expect                       string
	Produced, DeadLettered, Left int
}

// Report is a soak's result.
type Report struct {
	Config       Config
	Started      time.Time
	LoadDuration time.Duration
	DrainTime    time.Duration
	CheckTime    time.Duration
	Total        time.Duration
	LoadAtStart  string
	LoadAtEnd    string

	Acked, PoisonAcked, PublishRetries int64
	DeadLetters                        int
	Rows                               []ClientRow
	Faults                             []faultLog
	KeyLevel                           map[string]*KeyLevelOutcome
	Accepted                           []string // poison the contract wants dead-lettered, written by the reference too
	Strangers                          map[string]int64
	CrossEdges                         int64
	BadPhases                          []string
	Stalls                             []string
	Leftovers                          []string
	Problems                           []string // anything else that fails the run
}

// Failures lists every reason the soak fails: any loss or leak, and every
// crash loop, stall and fault the system did not take.
func (r *Report) Failures() []string {
	var out []string
	var t ClientRow
	for _, c := range r.Rows {
		t.Lost += c.Lost
		t.Foreign += c.Foreign
		t.Dups += c.Dups
		t.Differs += c.Differs
		t.DLQMissing += c.DLQMissing
		t.WronglyDLQd += c.WronglyDLQd
		if c.CrashLoop {
			out = append(out, "crash loop: "+c.Client)
		}
	}
	for _, x := range []struct {
		n    int
		what string
	}{{t.Lost, "nodes or edges lost"}, {t.Foreign, "records in another client's graph"}, {t.Dups, "duplicate nodes or edges"},
		{t.Differs, "graph differences from the fault-free run"}, {t.DLQMissing, "poison or bad records not dead-lettered"},
		{t.WronglyDLQd, "valid records dead-lettered"}} {
		if x.n > 0 {
			out = append(out, fmt.Sprintf("%d %s", x.n, x.what))
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(r.KeyLevel)) {
		o := r.KeyLevel[kind]
		if o.Expect == expectDLQ && o.DeadLettered < o.Produced {
			out = append(out, fmt.Sprintf("%s: %d of %d not dead-lettered", kind, o.Produced-o.DeadLettered, o.Produced))
		}
	}
	for c, n := range r.Strangers {
		out = append(out, fmt.Sprintf("%d nodes of %s, which is no registered client", n, c))
	}
	if r.CrossEdges > 0 {
		out = append(out, fmt.Sprintf("%d edges between two clients' graphs", r.CrossEdges))
	}
	for _, a := range r.Accepted {
		out = append(out, "poison written to the graph instead of dead-lettered: "+a)
	}
	for _, f := range r.Faults {
		if f.Failed != "" {
			out = append(out, fmt.Sprintf("%s at %s: %s", f.Kind, fmtOffset(f.At), f.Failed))
		}
	}
	for _, b := range r.BadPhases {
		out = append(out, "a client left the active phase without a fault that explains it: "+b)
	}
	out = append(out, r.Stalls...)
	for _, l := range r.Leftovers {
		out = append(out, "process left running after the soak: "+l)
	}
	return append(out, r.Problems...)
}

// OK reports whether the soak held: nothing lost, nothing leaked.
func (r *Report) OK() bool { return len(r.Failures()) == 0 }

// Write prints the report: the run, the table, the faults, the poison, the verdict.
func (r *Report) Write(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "\nkgplane soak: %d clients, %.0f records/s, %s of load, %d planes (%s backend), %d partitions, seed %d\n",
		c.Clients, c.Rate, r.LoadDuration.Round(time.Second), c.Planes, c.Backend, c.Partitions, c.Seed)
	fmt.Fprintf(w, "machine: %s, %d CPUs, %s; load average %s at the start, %s at the end\n", cpuModel(), runtime.NumCPU(), runtime.Version(), r.LoadAtStart, r.LoadAtEnd)
	fmt.Fprintf(w, "acknowledged: %d records (%d of them poison, %d publish retries); dead letters: %d; drained in %s; checked in %s; %s in all\n\n",
		r.Acked, r.PoisonAcked, r.PublishRetries, r.DeadLetters, r.DrainTime.Round(time.Second), r.CheckTime.Round(time.Second), r.Total.Round(time.Second))
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "client\tevents\tlogs\ttopology\tpoison\tnodes\tedges\tlost\tforeign\tdup\tdiffer\tdlq missing\twrongly dlq'd\tkills\tstarts\tfailures\tcrash loop\tmax lag\t")
	var t ClientRow
	t.Client = "total"
	for _, row := range r.Rows {
		writeRow(tw, row)
		t.Events += row.Events
		t.Logs += row.Logs
		t.Topology += row.Topology
		t.Poison += row.Poison
		t.Nodes += row.Nodes
		t.Edges += row.Edges
		t.Lost += row.Lost
		t.Foreign += row.Foreign
		t.Dups += row.Dups
		t.Differs += row.Differs
		t.DLQMissing += row.DLQMissing
		t.WronglyDLQd += row.WronglyDLQd
		t.Kills += row.Kills
		t.Starts += row.Starts
		t.Failures += row.Failures
		t.CrashLoop = t.CrashLoop || row.CrashLoop
		t.MaxLag = max(t.MaxLag, row.MaxLag)
	}
	writeRow(tw, t)
	tw.Flush()
	if c.Backend == "nomad" {
		fmt.Fprintf(w, "(starts, failures and crash loops come from the embedded backend's task logs; with Nomad, see its allocations' task events)\n")
	}
	fmt.Fprintf(w, "\nfaults (offset from the start of the load):\n")
	for _, f := range r.Faults {
		fmt.Fprintf(w, "  %s\n", f)
	}
	if len(r.KeyLevel) > 0 {
		fmt.Fprintf(w, "\npoison whose key names no live client (the others are in the clients' rows):\n")
		for _, kind := range slices.Sorted(maps.Keys(r.KeyLevel)) {
			o := r.KeyLevel[kind]
			fmt.Fprintf(w, "  %-20s produced %4d  dead-lettered %4d  left for a future client %4d  (expected: %s)\n", kind, o.Produced, o.DeadLettered, o.Left, o.Expect)
		}
	}
	var notes []string
	for _, row := range r.Rows {
		for _, n := range row.Notes {
			notes = append(notes, row.Client+": "+n)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nfirst differences:\n")
		for _, n := range notes[:min(40, len(notes))] {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	if f := r.Failures(); len(f) > 0 {
		fmt.Fprintf(w, "\nFAILED (%d):\n", len(f))
		for _, x := range f {
			fmt.Fprintf(w, "  - %s\n", x)
		}
	} else {
		fmt.Fprintf(w, "\nPASSED: nothing lost, nothing leaked, no duplicate, every graph equal to its fault-free run, every poison record dead-lettered, no crash loop\n")
	}
}

func writeRow(w io.Writer, r ClientRow) {
	loop := "-"
	if r.CrashLoop {
		loop = "YES"
	}
	fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t\n", r.Client, r.Events, r.Logs, r.Topology, r.Poison,
		r.Nodes, r.Edges, r.Lost, r.Foreign, r.Dups, r.Differs, r.DLQMissing, r.WronglyDLQd, r.Kills, r.Starts, r.Failures, loop, r.MaxLag)
}

// cpuModel is /proc/cpuinfo's model name.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}
