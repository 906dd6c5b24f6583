package rca

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
)

func ask(t *testing.T, e *Engine, q Question) *Answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := e.Ask(ctx, q)
	if err != nil {
		t.Fatalf("Ask(%+v): %v", q, err)
	}
	return a
}

func TestAskSymptomAndIncidents(t *testing.T) {
	client, _, e := loadFixture(t, "rca-ask", fixtureScenario())

	a := ask(t, e, Question{Client: client, Resource: "Pod/web/checkout-1"})
	if len(a.Candidates) == 0 || a.Candidates[0].RID != "Pod/pay/payments-1" || a.Candidates[0].Signal != "OOMKilled" {
		t.Fatalf("candidates %+v", a.Candidates)
	}
	// The default window: 30 minutes ending at the newest event (second 90).
	if want := fixtureT0.Add(90 * time.Second); !a.To.Equal(want) || !a.From.Equal(want.Add(-30*time.Minute)) {
		t.Errorf("window %s .. %s", a.From, a.To)
	}
	c := a.Candidates[0]
	if len(c.Path) < 2 || c.Path[len(c.Path)-1].RID != "Pod/web/checkout-1" || c.Path[0].EID != c.EIDs[0] {
		t.Errorf("path %+v", c.Path)
	}
	for _, c := range a.Candidates {
		if strings.Contains(c.RID, "report-1") || strings.Contains(c.RID, "front-1") {
			t.Errorf("an unrelated candidate: %+v", c)
		}
	}

	// The contract's JSON.
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"client", "from", "to", "symptom", "candidates"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("answer JSON lacks %q: %s", k, b)
		}
	}
	cand := doc["candidates"].([]any)[0].(map[string]any)
	for _, k := range []string{"rank", "rid", "signal", "score", "first_ts", "events", "path"} {
		if _, ok := cand[k]; !ok {
			t.Errorf("candidate JSON lacks %q", k)
		}
	}
	step := cand["path"].([]any)[0].(map[string]any)
	for _, k := range []string{"rid", "signal", "eid"} {
		if _, ok := step[k]; !ok {
			t.Errorf("path step JSON lacks %q", k)
		}
	}
	if cand["rank"].(float64) != 1 || cand["first_ts"] != "2026-03-14T09:01:00.000Z" {
		t.Errorf("candidate %v", cand)
	}

	// Without a resource: the two faults are two incidents, each with its root.
	a = ask(t, e, Question{Client: client})
	roots := map[string]bool{}
	for _, inc := range a.Incidents {
		if len(inc.Candidates) > 0 {
			roots[inc.Candidates[0].RID+" "+inc.Candidates[0].Signal] = true
		}
	}
	if !roots["Pod/pay/payments-1 OOMKilled"] || !roots["Pod/batch/report-1 ErrImagePull"] {
		t.Errorf("incident roots %v", roots)
	}
	b, _ = json.Marshal(a)
	if !strings.Contains(string(b), `"incidents":[{"candidates":[`) || strings.Contains(string(b), `"symptom"`) {
		t.Errorf("incidents JSON %s", b)
	}
}

// Bad questions get a clear error of the right kind, never a panic.
func TestAskBadInput(t *testing.T) {
	client, _, e := loadFixture(t, "rca-bad", fixtureScenario())
	for _, c := range []struct {
		name string
		q    Question
		want error
		says string
	}{
		{"invalid client id", Question{Client: "Bad_Client"}, ErrBadQuestion, "client id"},
		{"unknown client", Question{Client: uniqueClient("rca-nobody")}, ErrNotFound, "has no events"},
		{"unknown resource", Question{Client: client, Resource: "Pod/web/checkout-9"}, ErrNotFound, "no resource Pod/web/checkout-9"},
		{"a near miss", Question{Client: client, Resource: "Pod/shop/checkout-1"}, ErrNotFound, "did you mean Pod/web/checkout-1"},
		{"malformed resource", Question{Client: client, Resource: "checkout-1"}, ErrBadQuestion, "<Kind>/<namespace>/<name>"},
		{"window backwards", Question{Client: client, From: fixtureT0, To: fixtureT0.Add(-time.Hour)}, ErrBadQuestion, "--from must be before --to"},
		{"a year", Question{Client: client, From: fixtureT0.AddDate(-1, 0, 0), To: fixtureT0}, ErrBadQuestion, "longer than 24h"},
		{"top", Question{Client: client, Top: 1000}, ErrBadQuestion, "top 1000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.Ask(context.Background(), c.q)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("err %v, want %v saying %q", err, c.want, c.says)
			}
		})
	}
	// A quiet window is an answer, with a note, not an error.
	a := ask(t, e, Question{Client: client, Resource: "Pod/web/checkout-1", From: fixtureT0.Add(-2 * time.Hour), To: fixtureT0.Add(-time.Hour)})
	if len(a.Candidates) != 0 || !strings.Contains(a.Note, "no warnings about Pod/web/checkout-1") || !strings.Contains(a.Note, "newest event") {
		t.Errorf("quiet window: %+v", a)
	}
	b, _ := json.Marshal(a)
	if !strings.Contains(string(b), `"candidates":[]`) {
		t.Errorf("quiet window JSON %s", b)
	}
}

// Shared isolation: another client with the same names, the same event ids
// and a different fault never shows up in this client's answer, and no
// statement scans nodes beyond an index seek on the client.
func TestAskStaysInItsClient(t *testing.T) {
	client, d, e := loadFixture(t, "rca-iso-a", fixtureScenario())
	other := uniqueClient("rca-iso-b")
	t.Cleanup(func() { deleteClient(d, other) })
	f := fixtureScenario()
	r := &recs{f: f, n: 1000}
	r.event(61, "Warning", "NodeNotReady", "Node node-a status is now: NodeNotReady", "Node", "", "node-a", "node-a")
	loadInto(t, d, other, f)

	a := ask(t, e, Question{Client: client, Resource: "Pod/web/checkout-1"})
	for _, c := range a.Candidates {
		if c.Signal == "NodeNotReady" {
			t.Fatalf("another client's event in the answer: %+v", c)
		}
	}
	if b := ask(t, e, Question{Client: other, Resource: "Pod/web/checkout-1"}); !slices.ContainsFunc(b.Candidates, func(c Ranked) bool { return c.Signal == "NodeNotReady" }) {
		t.Errorf("the other client's own answer lacks its NodeNotReady: %+v", b.Candidates)
	}

	for name, q := range map[string]string{"newest": cypherNewest, "resource": cypherResource,
		"neighbourhood": cypherNeighbourhood(), "events": cypherEvents, "window events": cypherWindowEvents,
		"namespace suspects": cypherNamespaceSuspects} {
		res, err := neo4j.ExecuteQuery(context.Background(), d, "EXPLAIN "+q, map[string]any{
			"client": client, "rid": "Pod/web/checkout-1", "name": "checkout-1", "rids": []string{"Pod/web/checkout-1"}, "prefixes": []string{"Pod/web/"},
			"from": int64(0), "to": int64(1), "fanout": 10, "maxResources": 10, "perResource": 10, "limit": 10, "messageChars": 10},
			neo4j.EagerResultTransformer)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Neo4j's own rendering of the whole plan, not a walk of
		// Children(): the driver (v5.28.4) builds every child of a
		// two-child operator (Apply, Union) from its loop variable, so a
		// walk never sees the first child, where the seeks and scans are.
		plan, _ := res.Summary.Plan().Arguments()["string-representation"].(string)
		if !strings.Contains(plan, "IndexSeek") {
			t.Errorf("%s: no index seek in the plan (is it the whole plan?):\n%s", name, plan)
		}
		for _, scan := range []string{"AllNodesScan", "NodeByLabelScan", "RelationshipTypeScan", "NodeIndexScan"} {
			if strings.Contains(plan, scan) {
				t.Errorf("%s scans beyond the client (%s):\n%s", name, scan, plan)
			}
		}
	}
}

func TestHandler(t *testing.T) {
	client, _, e := loadFixture(t, "rca-http", fixtureScenario())
	mux := http.NewServeMux()
	mux.Handle("GET /v1/clients/{id}/rca", Handler(e, quiet()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (int, map[string]any) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatalf("%s: not JSON: %v", path, err)
		}
		return resp.StatusCode, doc
	}
	code, doc := get("/v1/clients/" + client + "/rca?resource=Pod/web/checkout-1&top=2")
	if code != 200 || doc["symptom"] != "Pod/web/checkout-1" || len(doc["candidates"].([]any)) != 2 {
		t.Errorf("200: %d %v", code, doc)
	}
	if code, doc := get("/v1/clients/" + client + "/rca"); code != 200 || doc["incidents"] == nil {
		t.Errorf("incidents: %d %v", code, doc)
	}
	for path, want := range map[string]int{
		"/v1/clients/" + uniqueClient("rca-nobody") + "/rca":                               404,
		"/v1/clients/" + client + "/rca?resource=Pod/x/y":                                  404,
		"/v1/clients/" + client + "/rca?from=yesterday":                                    400,
		"/v1/clients/" + client + "/rca?top=-1":                                            400,
		"/v1/clients/NOPE/rca":                                                             400,
		"/v1/clients/" + client + "/rca?from=2020-01-01T00:00:00Z&to=2021-01-01T00:00:00Z": 400,
	} {
		if code, doc := get(path); code != want || doc["error"] == "" {
			t.Errorf("%s: %d %v, want %d with an error", path, code, doc, want)
		}
	}
}
