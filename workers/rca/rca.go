// Package rca answers the question the fault propagation graph exists for:
// what caused this? Given a client, a symptom (a resource) or none, and a
// window, it reads the client's subgraph in two Cypher statements and ranks
// candidate root causes — (resource, signal) pairs — by the probability that
// the explanation of the symptom ends at them (rank.go), each with its score
// and the causal path to the symptom. Without a symptom it groups the
// window's warnings into incidents and ranks the roots of each.
//
// The same Engine serves `kgctl rca` and the control plane's
// GET /v1/clients/{id}/rca (Handler). docs/rca.md explains the method and
// its measured accuracy.
package rca

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/kgrca/kgplane/clientid"
	"github.com/kgrca/kgplane/internal/textclip"
)

// Errors a question can end with, for callers to map to exit codes and HTTP
// statuses. The message says what to do.
var (
	// ErrBadQuestion: the question itself is wrong (client id, resource id,
	// window, top).
	ErrBadQuestion = errors.New("bad question")
	// ErrNotFound: the client has no graph, or the resource is not in it.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: Neo4j did not answer.
	ErrUnavailable = errors.New("graph unavailable")
	// ErrInternal: Neo4j refused a statement of ours (a bug: please report it).
	ErrInternal = errors.New("internal error")
)

// Question is one root-cause question.
type Question struct {
	Client string
	// Resource is the symptom's rid ("Pod/shop/cart-7d9-abcde"); empty asks
	// for the window's incidents.
	Resource string
	// From and To bound the window; zero To is the client's newest event,
	// zero From is To minus the default window.
	From, To time.Time
	// Top is how many candidates to return (per incident); 0 = the default.
	Top int
}

// Settings of an Engine.
type Settings struct {
	// Database is the Neo4j database of a client: "" (the server default) in
	// shared isolation, or a function of the client in database isolation.
	Database func(client string) string
	// DefaultWindow (30 min) ends at the client's newest event, so a replayed
	// history is answered like a live one.
	DefaultWindow time.Duration
	// MaxWindow bounds the window asked for (24 h): a year of a busy client
	// is not a question about one incident.
	MaxWindow time.Duration
	// DefaultTop (5) and MaxTop (100) bound the candidates returned.
	DefaultTop, MaxTop int
	// MaxIncidents bounds the incidents of a question without a symptom (20).
	MaxIncidents int
	// Timeout bounds one question (30 s; a warm answer takes milliseconds, the
	// first of a process also plans the statements).
	Timeout time.Duration
	Params  Params
}

// DefaultSettings are the settings of `kgctl rca` and the control plane.
func DefaultSettings() Settings {
	return Settings{
		Database:      func(string) string { return "" },
		DefaultWindow: 30 * time.Minute, MaxWindow: 24 * time.Hour,
		DefaultTop: 5, MaxTop: 100, MaxIncidents: 20, Timeout: 30 * time.Second,
		Params: DefaultParams(),
	}
}

// Engine answers questions from a Neo4j graph.
type Engine struct {
	driver neo4j.DriverWithContext
	set    Settings
	lim    limits
}

// NewEngine returns an engine reading through driver.
func NewEngine(driver neo4j.DriverWithContext, s Settings) *Engine {
	if s.Database == nil {
		s.Database = func(string) string { return "" }
	}
	return &Engine{driver: driver, set: s, lim: defaultLimits()}
}

// Answer is the answer to a Question; its JSON is the contract's
// "Root-cause answer" (answer.go).
type Answer struct {
	Client  string
	From    time.Time
	To      time.Time
	Symptom string // "" for an incidents answer
	// Candidates answer a symptom question; Incidents a question without one.
	Candidates []Ranked
	Graph      []Ranked // Candidates and what their paths pass through
	Edges      []Edge   // among Graph
	Incidents  []Incident
	// Note says why an answer is empty (no warnings in the window...).
	Note string
}

// Ask answers q.
func (e *Engine) Ask(ctx context.Context, q Question) (*Answer, error) {
	if err := clientid.Validate(q.Client); err != nil {
		return nil, fmt.Errorf("%w: client id: %v", ErrBadQuestion, err)
	}
	name, err := checkRID(q.Resource)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadQuestion, err)
	}
	top := q.Top
	switch {
	case top == 0:
		top = e.set.DefaultTop
	case top < 0 || top > e.set.MaxTop:
		return nil, fmt.Errorf("%w: top %d: want 1..%d", ErrBadQuestion, top, e.set.MaxTop)
	}
	if !q.From.IsZero() && !q.To.IsZero() {
		if err := e.checkWindow(q.From, q.To); err != nil {
			return nil, err
		}
	}
	if e.set.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.set.Timeout)
		defer cancel()
	}
	session := e.driver.NewSession(ctx, neo4j.SessionConfig{AccessMode: neo4j.AccessModeRead, DatabaseName: e.set.Database(q.Client)})
	defer session.Close(ctx)
	ans, err := neo4j.ExecuteRead(ctx, session, func(tx neo4j.ManagedTransaction) (*Answer, error) {
		return e.ask(ctx, reader{tx: tx, client: q.Client, lim: e.lim}, q, name, top)
	})
	if err != nil {
		var ne *neo4j.Neo4jError
		switch {
		case errors.Is(err, ErrBadQuestion), errors.Is(err, ErrNotFound):
			return nil, err
		case errors.As(err, &ne) && ne.Code == "Neo.ClientError.Database.DatabaseNotFound":
			return nil, fmt.Errorf("%w: client %s has no graph database (%s)", ErrNotFound, q.Client, e.set.Database(q.Client))
		case errors.As(err, &ne) && strings.HasPrefix(ne.Code, "Neo.ClientError.Statement."):
			return nil, fmt.Errorf("%w: Neo4j refused a statement of the root-cause query: %v", ErrInternal, err)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%w: the question took longer than %s: %v", ErrUnavailable, e.set.Timeout, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return ans, nil
}

func (e *Engine) checkWindow(from, to time.Time) error {
	switch {
	case !from.Before(to):
		return fmt.Errorf("%w: window from %s to %s is empty: --from must be before --to", ErrBadQuestion,
			from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	case to.Sub(from) > e.set.MaxWindow:
		return fmt.Errorf("%w: window of %s is longer than %s: ask about the incident's hours, e.g. --from %s",
			ErrBadQuestion, to.Sub(from).Round(time.Second), e.set.MaxWindow, to.Add(-e.set.DefaultWindow).UTC().Format(time.RFC3339))
	}
	return nil
}

func (e *Engine) ask(ctx context.Context, r reader, q Question, name string, top int) (*Answer, error) {
	newest, ok, err := r.newest(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: client %s has no events in the graph (is it registered and its graph builder running? "+
			"see kgctl clients)", ErrNotFound, q.Client)
	}
	from, to := q.From, q.To
	if to.IsZero() {
		to = time.UnixMilli(newest).UTC()
		if !from.IsZero() && !from.Before(to) {
			to = from.Add(e.set.DefaultWindow)
		}
	}
	if from.IsZero() {
		from = to.Add(-e.set.DefaultWindow)
	}
	if err := e.checkWindow(from, to); err != nil {
		return nil, err
	}
	ans := &Answer{Client: q.Client, From: from.UTC(), To: to.UTC(), Symptom: q.Resource}
	window := fmt.Sprintf("between %s and %s", ans.From.Format(time.RFC3339), ans.To.Format(time.RFC3339))
	if q.Resource == "" {
		evs, err := r.windowEvents(ctx, from.UnixMilli(), to.UnixMilli())
		if err != nil {
			return nil, err
		}
		ans.Incidents = RankIncidents(&Subgraph{Events: evs}, e.set.Params, top, e.set.MaxIncidents)
		if len(ans.Incidents) == 0 {
			ans.Note = "no warnings " + window + newestHint(newest, to)
		}
		return ans, nil
	}
	found, similar, err := r.resource(ctx, q.Resource, name)
	if err != nil {
		return nil, err
	}
	if !found {
		hint := "check the kind, namespace and name (rid = <Kind>/<namespace>/<name>, namespace empty for nodes)"
		if len(similar) > 0 {
			hint = "did you mean " + strings.Join(similar, ", ") + "?"
		}
		return nil, fmt.Errorf("%w: no resource %s in client %s's graph: %s", ErrNotFound, q.Resource, q.Client, hint)
	}
	scope, rids, links, err := r.neighbourhood(ctx, q.Resource)
	if err != nil {
		return nil, err
	}
	rels := Relations(links)
	evs, err := r.events(ctx, rids, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, err
	}
	if callers := unnamedCallers(evs, links); len(callers) > 0 {
		more, nsRels, err := r.namespaceSuspects(ctx, callers, rids, from.UnixMilli(), to.UnixMilli())
		if err != nil {
			return nil, err
		}
		if len(more) > 0 {
			extra, err := r.events(ctx, more, from.UnixMilli(), to.UnixMilli())
			if err != nil {
				return nil, err
			}
			evs, rels = append(evs, extra...), append(rels, nsRels...)
		}
	}
	inc := RankSymptom(&Subgraph{Events: evs, Relations: rels, Scope: scope}, e.set.Params, top)
	ans.Candidates, ans.Graph, ans.Edges = inc.Candidates, inc.Graph, inc.Edges
	if len(ans.Candidates) == 0 {
		ans.Note = "no warnings about " + q.Resource + " or what it owns " + window + newestHint(newest, to)
	}
	return ans, nil
}

func newestHint(newest int64, to time.Time) string {
	if n := time.UnixMilli(newest).UTC(); n.After(to) || n.Before(to.Add(-time.Minute)) {
		return fmt.Sprintf(" (the client's newest event is at %s)", n.Format(time.RFC3339))
	}
	return ""
}

// checkRID checks a resource id and returns its name; "" is allowed (no
// symptom).
func checkRID(rid string) (string, error) {
	if rid == "" {
		return "", nil
	}
	parts := strings.Split(rid, "/")
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" || len(rid) > 600 ||
		strings.ContainsFunc(rid, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", fmt.Errorf("resource %q: want <Kind>/<namespace>/<name>, e.g. Pod/shop/cart-7d9-abcde or Node//node-1", clip(rid))
	}
	return parts[2], nil
}

func clip(s string) string {
	out, _ := textclip.Truncate(s, 80)
	return out
}
