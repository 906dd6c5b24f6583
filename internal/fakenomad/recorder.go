package fakenomad

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"time"
)

// Recorder is a reverse proxy in front of a real Nomad agent that records
// every call the way Server does, so a test can count, against the real
// thing, the calls that touched a job.
type Recorder struct {
	*httptest.Server
	CallLog
}

// NewRecorder starts a recording proxy to the agent at target
// (http://127.0.0.1:4646). Close it with Close.
func NewRecorder(target string) (*Recorder, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	r := &Recorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ErrorHandler = func(w http.ResponseWriter, req *http.Request, err error) {
		if req.Context().Err() != nil {
			return // the caller went away (a plane the test killed)
		}
		http.Error(w, "fakenomad recorder: "+err.Error(), http.StatusBadGateway)
	}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		r.add(Call{Method: req.Method, Path: req.URL.Path, Query: req.URL.RawQuery, Body: body, At: time.Now()})
		proxy.ServeHTTP(w, req)
	}))
	return r, nil
}
