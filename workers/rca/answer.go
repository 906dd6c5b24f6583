package rca

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// The contract's JSON (SPEC.md, "Root-cause answer"):
//
//	{"client", "from", "to", "symptom": RID|null, "candidates": [{"rank", "rid",
//	 "signal", "score", "first_ts", "events", "path": [{"rid", "signal", "eid"}, ...]}]}
//
// and without a symptom {"client", "from", "to", "incidents": [{"candidates": [...]}]}.
// Fields beyond the contract's (last_ts, message, a step's via, note) are
// additions a reader may ignore.

// CandidateJSON is one candidate as the contract writes it.
type CandidateJSON struct {
	Rank    int     `json:"rank"`
	RID     string  `json:"rid"`
	Signal  string  `json:"signal"`
	Score   float64 `json:"score"`
	FirstTS string  `json:"first_ts"`
	LastTS  string  `json:"last_ts"`
	Events  int     `json:"events"`
	Message string  `json:"message,omitempty"`
	Path    []Step  `json:"path"`
}

// SymptomJSON is the answer to a question about a resource.
type SymptomJSON struct {
	Client     string          `json:"client"`
	From       string          `json:"from"`
	To         string          `json:"to"`
	Symptom    *string         `json:"symptom"`
	Candidates []CandidateJSON `json:"candidates"`
	Note       string          `json:"note,omitempty"`
}

// IncidentsJSON is the answer to a question without a symptom.
type IncidentsJSON struct {
	Client    string         `json:"client"`
	From      string         `json:"from"`
	To        string         `json:"to"`
	Incidents []IncidentJSON `json:"incidents"`
	Note      string         `json:"note,omitempty"`
}

// IncidentJSON is one incident's ranked candidates.
type IncidentJSON struct {
	Candidates []CandidateJSON `json:"candidates"`
}

func tsString(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func candidatesJSON(rs []Ranked) []CandidateJSON {
	out := make([]CandidateJSON, 0, len(rs))
	for i, r := range rs {
		path := r.Path
		if path == nil {
			path = []Step{}
		}
		out = append(out, CandidateJSON{Rank: i + 1, RID: r.RID, Signal: r.Signal, Score: math.Round(r.Score*1e4) / 1e4,
			FirstTS: tsString(r.FirstMs), LastTS: tsString(r.LastMs), Events: r.Events, Message: r.Message, Path: path})
	}
	return out
}

// MarshalJSON writes the contract's shape: a symptom answer or an incidents
// answer.
func (a *Answer) MarshalJSON() ([]byte, error) {
	from, to := a.From.UTC().Format(time.RFC3339Nano), a.To.UTC().Format(time.RFC3339Nano)
	if a.Symptom == "" {
		inc := make([]IncidentJSON, 0, len(a.Incidents))
		for _, i := range a.Incidents {
			inc = append(inc, IncidentJSON{Candidates: candidatesJSON(i.Candidates)})
		}
		return json.Marshal(IncidentsJSON{Client: a.Client, From: from, To: to, Incidents: inc, Note: a.Note})
	}
	sym := a.Symptom
	return json.Marshal(SymptomJSON{Client: a.Client, From: from, To: to, Symptom: &sym,
		Candidates: candidatesJSON(a.Candidates), Note: a.Note})
}

// WriteText writes the answer as ranked tables with each candidate's path.
func (a *Answer) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "client %s, %s .. %s\n", a.Client, a.From.UTC().Format(time.RFC3339), a.To.UTC().Format(time.RFC3339))
	if a.Symptom != "" {
		fmt.Fprintf(w, "root causes of %s:\n", a.Symptom)
		writeTable(w, a.Candidates)
	} else {
		for i, inc := range a.Incidents {
			fmt.Fprintf(w, "\nincident %d:\n", i+1)
			writeTable(w, inc.Candidates)
		}
	}
	if a.Note != "" {
		fmt.Fprintln(w, a.Note)
	}
	return nil
}

func writeTable(w io.Writer, rs []Ranked) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tSCORE\tRESOURCE\tSIGNAL\tFIRST\tEVENTS\tMESSAGE")
	for i, r := range rs {
		msg := strings.Join(strings.Fields(r.Message), " ")
		msg = clipTo(msg, 70)
		fmt.Fprintf(tw, "%d\t%.3f\t%s\t%s\t%s\t%d\t%s\n", i+1, r.Score, r.RID, r.Signal,
			time.UnixMilli(r.FirstMs).UTC().Format("15:04:05"), r.Events, msg)
	}
	tw.Flush()
	for i, r := range rs {
		if len(r.Path) < 2 {
			continue
		}
		var hops []string
		for _, s := range r.Path {
			hop := s.RID + " " + s.Signal
			if s.Via != "" {
				hop += " -[" + s.Via + "]->"
			}
			hops = append(hops, hop)
		}
		fmt.Fprintf(w, "  path %d: %s\n", i+1, strings.Join(hops, " "))
	}
}

func clipTo(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// WriteDot writes the incident subgraph for Graphviz: the ranked candidates
// (numbered; the redder, the likelier the root), what their paths to the
// symptom pass through, and the cause → effect edges between them (solid: a
// rule; dashed: a relation only).
func (a *Answer) WriteDot(w io.Writer) error {
	fmt.Fprintln(w, "digraph rca {")
	fmt.Fprintln(w, "  rankdir=LR; node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];")
	write := func(prefix string, ranked int, rs []Ranked, es []Edge) {
		for i, r := range rs {
			fill := fmt.Sprintf("0.0 %.2f 1.0", 0.05+0.65*math.Min(1, r.Score*2))
			label := fmt.Sprintf("%s\\n%s ×%d\\nscore %.3f", r.RID, r.Signal, r.Events, r.Score)
			if i < ranked {
				label = fmt.Sprintf("#%d ", i+1) + label
			}
			fmt.Fprintf(w, "  %s%d [label=%s, fillcolor=%q];\n", prefix, i, dotQuote(label), fill)
		}
		for _, e := range es {
			style, label := "solid", e.Rule
			if e.Inferred {
				style, label = "dashed", "related"
			}
			fmt.Fprintf(w, "  %s%d -> %s%d [label=%s, style=%s, penwidth=%.1f];\n", prefix, e.From, prefix, e.To,
				dotQuote(fmt.Sprintf("%s %.2f", label, e.Strength)), style, 0.5+2*e.Strength)
		}
	}
	if a.Symptom != "" {
		write("c", len(a.Candidates), a.Graph, a.Edges)
	} else {
		for i, inc := range a.Incidents {
			fmt.Fprintf(w, "  subgraph cluster_%d { label=%q;\n", i, fmt.Sprintf("incident %d", i+1))
			write(fmt.Sprintf("i%dc", i), len(inc.Candidates), inc.Graph, inc.Edges)
			fmt.Fprintln(w, "  }")
		}
	}
	_, err := fmt.Fprintln(w, "}")
	return err
}

// dotQuote quotes a label for DOT: backslash-n line breaks are kept, other
// backslashes and quotes escaped.
func dotQuote(s string) string {
	s = strings.ReplaceAll(s, `\n`, "\x00")
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return `"` + strings.ReplaceAll(s, "\x00", `\n`) + `"`
}
