package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kgrca/kgplane/workers/rca"
)

const rcaSummary = `rank the root causes of a symptom (or of the window's incidents) in a client's graph

  kgctl rca --client af-9 --resource Pod/shop/cart-7d9-abcde
  kgctl rca --client af-9                                  # incidents of the window
  kgctl rca --client af-9 --resource Node//node-3 --from 2026-11-27T08:00:00Z --to 2026-11-27T09:00:00Z
  kgctl rca --client af-9 --resource Deployment/shop/cart --format dot | dot -Tsvg > cart.svg   # dot: Graphviz (Debian package graphviz)

A resource is <Kind>/<namespace>/<name> (namespace empty for cluster-scoped
kinds: Node//node-3). The default window is the 30 minutes ending at the
client's newest event, so a replayed history is answered like a live one.
Each candidate is a (resource, signal) pair with its score (the probability
that the explanation of the symptom ends there) and the causal path to the
symptom. docs/rca.md explains the ranking; the control plane answers the
same as JSON at GET /v1/clients/<id>/rca?resource=...

Neo4j settings come from the environment, as for the graph builder:
NEO4J_URI (bolt://127.0.0.1:7687), NEO4J_USERNAME, NEO4J_PASSWORD,
NEO4J_ISOLATION (shared|database), NEO4J_SHARED_DATABASE`

func cmdRCA(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rca", rcaSummary, stderr)
	client := fs.String("client", "", "the client id (required)")
	resource := fs.String("resource", "", "the symptom's resource id; empty: the window's incidents")
	from := fs.String("from", "", "window start, RFC 3339 (default: --to minus 30 minutes)")
	to := fs.String("to", "", "window end, RFC 3339 (default: the client's newest event)")
	top := fs.Int("top", 5, "candidates to show (per incident), 1..100")
	format := fs.String("format", "text", "text (a ranked table with paths), json (the contract's answer) or dot (the incident subgraph for Graphviz: pipe it to dot -Tsvg; Debian package graphviz)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see kgctl rca --help)", fs.Arg(0))
	}
	if *client == "" {
		return errors.New("--client is required (kgctl clients lists them)")
	}
	if *format != "text" && *format != "json" && *format != "dot" {
		return fmt.Errorf("--format %q: want text, json or dot", *format)
	}
	q := rca.Question{Client: *client, Resource: *resource, Top: *top}
	var err error
	if q.From, err = rca.ParseTime("--from", *from); err != nil {
		return err
	}
	if q.To, err = rca.ParseTime("--to", *to); err != nil {
		return err
	}
	cfg, err := rca.ConfigFrom(os.Getenv)
	if err != nil {
		return err
	}
	engine, closeDriver, err := rca.Open(cfg, rca.DefaultSettings())
	if err != nil {
		return err
	}
	defer closeDriver(context.WithoutCancel(ctx))
	ans, err := engine.Ask(ctx, q)
	if errors.Is(err, rca.ErrUnavailable) {
		return fmt.Errorf("%w (is Neo4j running at %s? set NEO4J_URI)", err, cfg.Neo4jURI)
	}
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ans)
	case "dot":
		return ans.WriteDot(stdout)
	}
	return ans.WriteText(stdout)
}
