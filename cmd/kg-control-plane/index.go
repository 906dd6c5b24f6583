package main

import "net/http"

// index is what GET / answers: the endpoints, so someone who opens the
// control plane's address in a browser or with curl learns where to go.
const index = `kg-control-plane

  /healthz                                 200 while the process runs
  /readyz                                  200 once caught up; says who leads
  /metrics                                 Prometheus metrics
  /v1/clients                              every client: phase, last heartbeat, jobs and their status (kgctl clients)
  /v1/clients/{id}/rca[?resource=<rid>]    the client's incidents and ranked root causes (kgctl rca; docs/rca.md)
`

// withIndex answers GET / (only the root: other unknown paths stay 404) with
// the endpoint list and passes everything else to next.
func withIndex(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(index))
	})
	mux.Handle("/", next)
	return mux
}
