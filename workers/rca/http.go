package rca

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// Handler serves GET /v1/clients/{id}/rca?resource=RID&from=T&to=T&top=K:
// the contract's JSON answer, or {"error": "..."} with 400 (a bad question),
// 404 (unknown client or resource), 503 (Neo4j unavailable or too slow) or
// 500 (Neo4j refused our statement: a bug). Mount it on a
// mux that routes that pattern here (it reads the {id} path value).
func Handler(e *Engine, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, err := questionFromQuery(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		began := time.Now()
		ans, err := e.Ask(r.Context(), q)
		if err != nil {
			status := http.StatusServiceUnavailable
			switch {
			case errors.Is(err, ErrBadQuestion):
				status = http.StatusBadRequest
			case errors.Is(err, ErrNotFound):
				status = http.StatusNotFound
			case errors.Is(err, ErrInternal):
				status = http.StatusInternalServerError
				log.Error("rca question failed", "client", q.Client, "resource", q.Resource, "error", err)
			default:
				log.Warn("rca question failed", "client", q.Client, "resource", q.Resource, "error", err)
			}
			writeError(w, status, err)
			return
		}
		log.Debug("rca answered", "client", q.Client, "resource", q.Resource, "took", time.Since(began))
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(ans)
	})
}

func questionFromQuery(r *http.Request) (Question, error) {
	v := r.URL.Query()
	q := Question{Client: r.PathValue("id"), Resource: v.Get("resource")}
	var err error
	if q.From, err = ParseTime("from", v.Get("from")); err != nil {
		return q, err
	}
	if q.To, err = ParseTime("to", v.Get("to")); err != nil {
		return q, err
	}
	if s := v.Get("top"); s != "" {
		if q.Top, err = strconv.Atoi(s); err != nil || q.Top < 1 {
			return q, fmt.Errorf("top=%q: want a positive whole number", s)
		}
	}
	return q, nil
}

// ParseTime reads a window bound: RFC 3339 (2026-11-27T08:00:00Z, offsets
// and fractions allowed); empty is the zero time (the default).
func ParseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s=%q: want an RFC 3339 time such as 2026-11-27T08:00:00Z", name, clip(s))
	}
	return t, nil
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
