package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/kgrca/kgplane/workers/rca"
)

// withRCA serves GET /v1/clients/{id}/rca (workers/rca: the root-cause
// answer of a client's graph, read from Neo4j with the graph builder's
// settings NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD, NEO4J_ISOLATION,
// NEO4J_SHARED_DATABASE) beside everything base serves. The driver connects
// on the first question, so the control plane starts without Neo4j; the
// endpoint answers 503 until Neo4j does. It returns the function that closes
// the driver.
func withRCA(base http.Handler, getenv func(string) string, log *slog.Logger) (http.Handler, func(context.Context) error, error) {
	cfg, err := rca.ConfigFrom(getenv)
	if err != nil {
		return nil, nil, err
	}
	engine, closeDriver, err := rca.Open(cfg, rca.DefaultSettings())
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/", base)
	mux.Handle("GET /v1/clients/{id}/rca", rca.Handler(engine, log))
	return mux, closeDriver, nil
}
