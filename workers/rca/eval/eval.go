// Package eval measures the root-cause ranking the way the field does: it
// replays scenario files (docs/scenarios.md) into fresh clients, lets the
// real pipeline — event and log normalizers, graph builder — build each
// client's graph, asks the ranking about the scenario's symptom, and scores
// the answer with the scenario's ground truth (scenario.Header.Correct):
// A@k is the share of scenarios whose root cause is among the top k.
//
// Nothing here knows how a scenario was made: any directory of scenario files
// in the contract's format is scored the same way.
package eval

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kgrca/kgplane/scenario"
	"github.com/kgrca/kgplane/workers/rca"
)

// Scenario is one file to evaluate.
type Scenario struct {
	Path string
	File *scenario.File
}

// ReadDir reads every *.jsonl scenario file of dir, sorted by name. A file
// that is not a valid scenario stops it with the file and line.
func ReadDir(dir string) ([]Scenario, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no scenario files (*.jsonl) in %s", dir)
	}
	sort.Strings(paths)
	out := make([]Scenario, 0, len(paths))
	for _, p := range paths {
		f, err := scenario.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, Scenario{Path: p, File: f})
	}
	return out, nil
}

// Result is the outcome of one scenario.
type Result struct {
	Scenario Scenario
	Client   string
	// Rank is where the first right candidate came (1-based); 0 when no
	// candidate was right.
	Rank int
	// Candidates is how many candidates the answer had.
	Candidates int
	// Top are the first three candidates, for the report of misses.
	Top []rca.Ranked
	// Rejected counts records the normalizers refused (direct mode only).
	Rejected int
	Err      error
}

// Score ranks ans against the scenario's ground truth.
func Score(h scenario.Header, ans *rca.Answer) (rank int) {
	for i, c := range ans.Candidates {
		if h.Correct(c.RID, c.Signal) {
			return i + 1
		}
	}
	return 0
}

// Type is the fault type of a scenario for the report: its name without a
// trailing variant number ("oom-kill-loop-03" and "oom-kill-loop" are one
// type).
func Type(s Scenario) string {
	name := s.File.Header.Scenario
	if i := strings.LastIndexByte(name, '-'); i > 0 && strings.Trim(name[i+1:], "0123456789") == "" && i < len(name)-1 {
		return name[:i]
	}
	return name
}

// Accuracy is A@1, A@3, A@5 and the mean rank of a group of results.
type Accuracy struct {
	N             int
	At1, At3, At5 int
	MeanRank      float64
	Errors        int
	rankSum       int
}

func (a *Accuracy) add(r Result) {
	if r.Err != nil {
		a.Errors++
	}
	a.N++
	rank := r.Rank
	if rank == 0 {
		// A miss counts as one past the last candidate: no answer ranks it.
		rank = r.Candidates + 1
	}
	a.rankSum += rank
	a.MeanRank = float64(a.rankSum) / float64(a.N)
	switch {
	case r.Rank == 0:
	case r.Rank <= 1:
		a.At1++
		a.At3++
		a.At5++
	case r.Rank <= 3:
		a.At3++
		a.At5++
	case r.Rank <= 5:
		a.At5++
	}
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// A1, A3, A5 are the accuracies in percent.
func (a Accuracy) A1() float64 { return pct(a.At1, a.N) }
func (a Accuracy) A3() float64 { return pct(a.At3, a.N) }
func (a Accuracy) A5() float64 { return pct(a.At5, a.N) }

// Summary is a whole run.
type Summary struct {
	Overall Accuracy
	ByType  map[string]*Accuracy
	Types   []string // sorted
	Misses  []Result // not right at rank 1
}

// Summarize groups results by fault type.
func Summarize(results []Result) Summary {
	s := Summary{ByType: map[string]*Accuracy{}}
	for _, r := range results {
		t := Type(r.Scenario)
		if s.ByType[t] == nil {
			s.ByType[t] = &Accuracy{}
			s.Types = append(s.Types, t)
		}
		s.ByType[t].add(r)
		s.Overall.add(r)
		if r.Rank != 1 {
			s.Misses = append(s.Misses, r)
		}
	}
	slices.Sort(s.Types)
	return s
}

// WriteReport writes the per-type table, the misses with their top three,
// and last the one overall line.
func (s Summary) WriteReport(w io.Writer) {
	fmt.Fprintf(w, "%-34s %4s %6s %6s %6s %9s\n", "FAULT TYPE", "N", "A@1", "A@3", "A@5", "MEAN RANK")
	for _, t := range s.Types {
		a := s.ByType[t]
		fmt.Fprintf(w, "%-34s %4d %5.0f%% %5.0f%% %5.0f%% %9.1f\n", t, a.N, a.A1(), a.A3(), a.A5(), a.MeanRank)
	}
	if len(s.Misses) > 0 {
		fmt.Fprintf(w, "\nnot right at rank 1 (%d):\n", len(s.Misses))
	}
	for _, r := range s.Misses {
		h := r.Scenario.File.Header
		rank := "not found"
		if r.Rank > 0 {
			rank = fmt.Sprintf("rank %d", r.Rank)
		}
		fmt.Fprintf(w, "  %s (%s): %s; want %s %v, symptom %s\n", filepath.Base(r.Scenario.Path), r.Client, rank,
			h.RootCause.RID, h.RootCause.Signals, h.Symptom.RID)
		if r.Err != nil {
			fmt.Fprintf(w, "    error: %v\n", r.Err)
		}
		for i, c := range r.Top {
			fmt.Fprintf(w, "    %d. %-60s %-28s %.3f\n", i+1, c.RID, c.Signal, c.Score)
		}
	}
	o := s.Overall
	fmt.Fprintf(w, "overall: A@1 %.0f%% A@3 %.0f%% A@5 %.0f%% mean-rank %.1f scenarios %d\n", o.A1(), o.A3(), o.A5(), o.MeanRank, o.N)
}

// ask asks e about the scenario's symptom in client's graph and scores it.
func ask(ctx context.Context, e *rca.Engine, client string, s Scenario) Result {
	res := Result{Scenario: s, Client: client}
	ans, err := e.Ask(ctx, rca.Question{Client: client, Resource: s.File.Header.Symptom.RID, Top: 100})
	if err != nil {
		res.Err = err
		return res
	}
	res.Rank = Score(s.File.Header, ans)
	res.Candidates = len(ans.Candidates)
	res.Top = ans.Candidates[:min(3, len(ans.Candidates))]
	return res
}
