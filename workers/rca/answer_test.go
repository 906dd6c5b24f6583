package rca

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sampleAnswer() *Answer {
	f := &fixture{}
	const caller, callee = "Pod/web/front-1", "Pod/shop/cart-1"
	oom := f.ev(callee, "OOMKilled", 0)
	ref := f.ev(caller, "log:CONNECTION_REFUSED", 5, cause{oom, "callee-down-caller-errors", 0.75})
	f.ev(caller, "Unhealthy", 10, cause{ref, "dependency-down-readiness", 0.6})
	f.g.Scope = []string{caller}
	inc := RankSymptom(&f.g, DefaultParams(), 2)
	return &Answer{Client: "af-9", From: time.Unix(0, 0), To: time.Unix(1800, 0), Symptom: caller,
		Candidates: inc.Candidates, Graph: inc.Graph, Edges: inc.Edges}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := sampleAnswer().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"root causes of Pod/web/front-1", "RANK  SCORE", "1     0.", "Pod/shop/cart-1",
		"OOMKilled", "path 1: Pod/shop/cart-1 OOMKilled -[callee-down-caller-errors]-> Pod/web/front-1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, b.String())
		}
	}
}

func TestWriteDot(t *testing.T) {
	var b bytes.Buffer
	if err := sampleAnswer().WriteDot(&b); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	// Two ranked candidates plus what their paths pass through, and the
	// edges between them; every node line is quoted, the graph closed.
	if !strings.HasPrefix(s, "digraph rca {") || !strings.HasSuffix(strings.TrimSpace(s), "}") ||
		!strings.Contains(s, `c0 [label="#1 Pod/shop/cart-1\nOOMKilled ×1`) || !strings.Contains(s, "c0 -> c") ||
		!strings.Contains(s, "callee-down-caller-errors") {
		t.Fatalf("dot:\n%s", s)
	}
	if got := dotQuote(`a "b" \ c\nd`); got != `"a \"b\" \\ c\nd"` {
		t.Errorf("dotQuote = %s", got)
	}
}

func TestIncidentsJSONShape(t *testing.T) {
	a := sampleAnswer()
	a.Symptom = ""
	a.Incidents = []Incident{{Candidates: a.Candidates}}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["symptom"]; ok || doc["client"] != "af-9" || doc["from"] != "1970-01-01T00:00:00Z" {
		t.Fatalf("incidents answer %s", b)
	}
	inc := doc["incidents"].([]any)[0].(map[string]any)["candidates"].([]any)
	if len(inc) != 2 || inc[0].(map[string]any)["rank"].(float64) != 1 {
		t.Fatalf("incident candidates %v", inc)
	}
}
