package scheduler

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the control plane's HTTP endpoints:
//
//	/healthz     200 while the process runs
//	/readyz      200 once the registry is caught up (and, leading, Nomad's jobs adopted); says who leads
//	/metrics     Prometheus
//	/v1/clients  every client: phase, last heartbeat, jobs and their Nomad status
func (c *Controller) Handler(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !c.Ready() {
			http.Error(w, "not ready: waiting for "+c.Waiting(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(c.readyLine() + "\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/clients", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			Ready      bool           `json:"ready"`
			WaitingFor string         `json:"waiting_for,omitempty"`
			Plane      string         `json:"plane"`
			Leadership LeaderStatus   `json:"leadership"`
			Disruption string         `json:"disruption,omitempty"`
			Clients    []ClientStatus `json:"clients"`
		}{c.Ready(), c.Waiting(), c.cfg.Plane, c.Leadership(), c.Disruption(), c.Clients()})
	})
	return mux
}
