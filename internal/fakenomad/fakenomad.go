// Package fakenomad is an in-memory stand-in for the part of Nomad's HTTP API the
// control plane uses (parse, plan, register, purge, list), served by
// net/http/httptest. It records every call so tests can assert on them, and can
// be told to fail, so tests cover Nomad errors too. It is for tests and
// benchmarks only; the real-agent tests run against `nomad agent -dev`.
package fakenomad

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Call is one request the fake received.
type Call struct {
	Method, Path, Query string
	Body                []byte
	At                  time.Time
}

// Op names the fake's operations, for Calls and failure injection.
func (c Call) Op() string {
	switch {
	case c.Method == http.MethodPut && c.Path == "/v1/jobs/parse":
		return "parse"
	case c.Method == http.MethodPut && strings.HasSuffix(c.Path, "/plan"):
		return "plan"
	case (c.Method == http.MethodPut || c.Method == http.MethodPost) && c.Path == "/v1/jobs":
		return "register"
	case c.Method == http.MethodDelete && strings.HasPrefix(c.Path, "/v1/job/"):
		return "deregister"
	case c.Method == http.MethodGet && c.Path == "/v1/jobs":
		return "list"
	case c.Method == http.MethodGet && strings.HasPrefix(c.Path, "/v1/job/"):
		return "get"
	}
	return "other"
}

// Job is what the fake stores per job.
type Job struct {
	ID         string
	Name       string
	Meta       map[string]string
	Raw        json.RawMessage // the job as registered
	Submission json.RawMessage
	Version    uint64
	Registered time.Time
}

// CallLog records calls; Server and Recorder keep one.
type CallLog struct {
	mu    sync.Mutex
	calls []Call
}

func (l *CallLog) add(c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

// Calls returns a copy of the calls so far.
func (l *CallLog) Calls() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Call(nil), l.calls...)
}

// CallsOf returns the calls of one operation ("parse", "plan", "register", "deregister", "list").
func (l *CallLog) CallsOf(op string) []Call {
	var out []Call
	for _, c := range l.Calls() {
		if c.Op() == op {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the recorded calls.
func (l *CallLog) ResetCalls() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = nil
}

// Server is the fake Nomad.
type Server struct {
	*httptest.Server
	CallLog

	mu       sync.Mutex
	jobs     map[string]*Job
	index    uint64
	failures map[string][]int // op -> HTTP statuses to answer with, in order
	delay    time.Duration
	record   bool
	observer func(op, jobID string, at time.Time)
}

// New starts a fake Nomad. Close it with Close.
func New() *Server {
	s := &Server{jobs: make(map[string]*Job), failures: make(map[string][]int), record: true, index: 10}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetRecording turns call recording on or off (benchmarks turn it off).
func (s *Server) SetRecording(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record = on
}

// SetObserver registers fn to be called after every register and deregister the
// fake applies, with the job id; benchmarks use it to time the control plane.
func (s *Server) SetObserver(fn func(op, jobID string, at time.Time)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observer = fn
}

func (s *Server) notify(op, id string) {
	s.mu.Lock()
	fn := s.observer
	s.mu.Unlock()
	if fn != nil {
		fn(op, id, time.Now())
	}
}

// SetDelay makes every request take at least d, like a remote server.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// FailNext makes the next len(statuses) calls of op answer with those statuses.
func (s *Server) FailNext(op string, statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[op] = append(s.failures[op], statuses...)
}

// JobIDs returns the ids of the jobs Nomad has, sorted.
func (s *Server) JobIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.jobs))
	for id := range s.jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Job returns a copy of one job.
func (s *Server) Job(id string) (Job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return Job{}, false
	}
	return *j, true
}

// Put stores a job directly, as if someone had registered it earlier.
func (s *Server) Put(id string, meta map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index++
	raw, _ := json.Marshal(map[string]any{"ID": id, "Name": id, "Meta": meta})
	s.jobs[id] = &Job{ID: id, Name: id, Meta: meta, Raw: raw, Version: 0, Registered: time.Now()}
}

// Remove deletes a job directly, as if an operator had purged it by hand.
func (s *Server) Remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.jobs, id)
}

var (
	jobLabel = regexp.MustCompile(`(?m)^\s*job\s+"([^"]+)"`)
	clientVr = regexp.MustCompile(`(?m)^\s*client_id\s*=\s*"([^"]+)"`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	call := Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: body, At: time.Now()}
	s.mu.Lock()
	if s.record {
		s.add(call)
	}
	delay := s.delay
	var status int
	if f := s.failures[call.Op()]; len(f) > 0 {
		status, s.failures[call.Op()] = f[0], f[1:]
	}
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay) // simulated network latency, not a test wait
	}
	if status != 0 {
		http.Error(w, fmt.Sprintf("injected failure %d", status), status)
		return
	}
	switch call.Op() {
	case "parse":
		s.parse(w, body)
	case "plan":
		s.plan(w, body)
	case "register":
		s.register(w, body)
	case "deregister":
		s.deregister(w, strings.TrimPrefix(r.URL.Path, "/v1/job/"))
	case "list":
		s.list(w)
	case "get":
		s.get(w, strings.TrimPrefix(r.URL.Path, "/v1/job/"))
	default:
		http.Error(w, "fakenomad: unsupported "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Nomad-Index", "1")
	json.NewEncoder(w).Encode(v)
}

// parse derives the job id the way our templates name jobs: the job block's label
// and the client_id variable ("kg-event-normalizer" + "-" + "af-9"). Real HCL
// evaluation is Nomad's business, tested against a real agent.
func (s *Server) parse(w http.ResponseWriter, body []byte) {
	var req struct {
		JobHCL    string
		Variables string
	}
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad parse request: "+err.Error(), http.StatusBadRequest)
		return
	}
	m := jobLabel.FindStringSubmatch(req.JobHCL)
	v := clientVr.FindStringSubmatch(req.Variables)
	if m == nil || v == nil {
		http.Error(w, "fakenomad: cannot find the job label or client_id variable", http.StatusBadRequest)
		return
	}
	id := m[1] + "-" + v[1]
	writeJSON(w, map[string]any{
		"ID": id, "Name": m[1], "Type": "service", "Datacenters": []string{"*"},
		"TaskGroups": []any{map[string]any{"Name": "worker", "Count": 1, "Tasks": []any{map[string]any{
			"Name": "worker", "Driver": "raw_exec", "Config": map[string]any{"command": "kg-worker"},
			"Env": map[string]string{"CLIENT_ID": v[1]}, "VarsDigest": digest(req.Variables + req.JobHCL),
		}}}},
	})
}

func digest(s string) string {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return fmt.Sprintf("%x", h)
}

type jobEnvelope struct {
	Job        json.RawMessage
	Submission json.RawMessage
}

type jobHead struct {
	ID   string
	Name string
	Meta map[string]string
}

func canonical(raw json.RawMessage) []byte {
	var v any
	json.Unmarshal(raw, &v)
	if m, ok := v.(map[string]any); ok {
		for _, k := range []string{"CreateIndex", "ModifyIndex", "JobModifyIndex", "Version", "SubmitTime", "Status", "Stop"} {
			delete(m, k)
		}
	}
	b, _ := json.Marshal(v)
	return b
}

func (s *Server) plan(w http.ResponseWriter, body []byte) {
	var req jobEnvelope
	var head jobHead
	if json.Unmarshal(body, &req) != nil || json.Unmarshal(req.Job, &head) != nil || head.ID == "" {
		http.Error(w, "bad plan request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	j, ok := s.jobs[head.ID]
	typ := "Added"
	var idx uint64
	if ok {
		idx = j.Version
		typ = "Edited"
		if bytes.Equal(canonical(j.Raw), canonical(req.Job)) {
			typ = "None"
		}
	}
	s.mu.Unlock()
	writeJSON(w, map[string]any{"Diff": map[string]any{"Type": typ, "ID": head.ID}, "JobModifyIndex": idx})
}

func (s *Server) register(w http.ResponseWriter, body []byte) {
	var req jobEnvelope
	var head jobHead
	if json.Unmarshal(body, &req) != nil || json.Unmarshal(req.Job, &head) != nil || head.ID == "" {
		http.Error(w, "bad register request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.index++
	s.jobs[head.ID] = &Job{ID: head.ID, Name: head.Name, Meta: head.Meta, Raw: req.Job, Submission: req.Submission, Version: s.index, Registered: time.Now()}
	idx := s.index
	s.mu.Unlock()
	s.notify("register", head.ID)
	writeJSON(w, map[string]any{"EvalID": fmt.Sprintf("eval-%d", idx), "JobModifyIndex": idx})
}

func (s *Server) deregister(w http.ResponseWriter, id string) {
	s.mu.Lock()
	_, ok := s.jobs[id]
	delete(s.jobs, id)
	s.index++
	idx := s.index
	s.mu.Unlock()
	if !ok {
		http.Error(w, "job not found", http.StatusNotFound)
		return
	}
	s.notify("deregister", id)
	writeJSON(w, map[string]any{"EvalID": fmt.Sprintf("eval-%d", idx), "JobModifyIndex": idx})
}

func (s *Server) list(w http.ResponseWriter) {
	s.mu.Lock()
	out := make([]map[string]any, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, map[string]any{"ID": j.ID, "Name": j.Name, "Type": "service", "Status": "running", "Meta": j.Meta, "JobModifyIndex": j.Version})
	}
	s.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a]["ID"].(string) < out[b]["ID"].(string) })
	writeJSON(w, out)
}

func (s *Server) get(w http.ResponseWriter, id string) {
	s.mu.Lock()
	j, ok := s.jobs[id]
	s.mu.Unlock()
	if !ok {
		http.Error(w, "job not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(j.Raw)
}
