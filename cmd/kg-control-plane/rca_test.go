package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The hook routes the root-cause endpoint to workers/rca and everything else
// to the control plane's own handler; a Neo4j that does not answer is a 503
// with a reason, a bad client id a 400, and neither is a crash.
func TestWithRCARoutes(t *testing.T) {
	base := http.NewServeMux()
	base.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	env := map[string]string{"NEO4J_URI": "bolt://127.0.0.1:1"} // nothing listens there
	h, closeDriver, err := withRCA(base, func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDriver(context.Background())
	for _, c := range []struct {
		path   string
		status int
		body   string
	}{
		{"/healthz", 200, "ok"},
		{"/v1/clients/BAD_ID/rca", 400, "client id"},
		{"/v1/clients/af-9/rca?from=yesterday", 400, "RFC 3339"},
		{"/v1/clients/af-9/rca?resource=Pod/shop/cart-1", 503, "graph unavailable"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("%s: %d %q, want %d containing %q", c.path, rec.Code, rec.Body.String(), c.status, c.body)
		}
	}
	if _, _, err := withRCA(base, func(k string) string { return map[string]string{"NEO4J_ISOLATION": "galaxy"}[k] }, nil); err == nil {
		t.Error("a bad NEO4J_ISOLATION is accepted")
	}
}
