package nomad

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// call is one HTTP request the fake Nomad received.
type call struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
	Body         []byte
}

func (c call) String() string { return c.Method + " " + c.Path + "?" + c.Query.Encode() }

// fakeNomad plays the Nomad HTTP API for contract tests: it records every call
// and answers the endpoints Client uses.
type fakeNomad struct {
	t   testing.TB
	srv *httptest.Server

	mu             sync.Mutex
	calls          []call
	planDiff       string             // JobDiff.Type the plan answers
	parseNamespace string             // namespace the parsed job names, "" = none
	status         map[string]int     // "METHOD /path" -> forced status code
	stubs          []*api.JobListStub // what GET /v1/jobs answers
	registerError  string             // when set, PUT /v1/jobs answers 400 with it
}

func newFakeNomad(t testing.TB) *fakeNomad {
	f := &fakeNomad{t: t, planDiff: "Added", status: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNomad) client(t testing.TB) *Client {
	t.Helper()
	c, err := NewClient(Config{Plane: testPlane, Address: f.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeNomad) setStatus(methodPath string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[methodPath] = code
}

func (f *fakeNomad) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeNomad) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls = append(f.calls, call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
	code, forced := f.status[r.Method+" "+r.URL.Path]
	planDiff, stubs, parseNS, regErr := f.planDiff, f.stubs, f.parseNamespace, f.registerError
	f.mu.Unlock()
	if forced {
		http.Error(w, http.StatusText(code), code)
		return
	}
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.Method == http.MethodPut && r.URL.Path == "/v1/jobs/parse":
		var req api.JobsParseRequest
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		// Nomad would evaluate the HCL; the fake derives the id from the
		// client_id line so a wrong id shows up in the test.
		id := "kg-event-normalizer-" + varFromText(req.Variables, VarClientID)
		job := &api.Job{ID: &id, Name: ptr("kg-event-normalizer"), Type: ptr("service"), Meta: map[string]string{"from_template": "yes"}}
		if parseNS != "" {
			job.Namespace = &parseNS
		}
		reply(job)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v1/job/") && strings.HasSuffix(r.URL.Path, "/plan"):
		reply(&api.JobPlanResponse{JobModifyIndex: 41, Diff: &api.JobDiff{Type: planDiff}})
	case r.Method == http.MethodPut && r.URL.Path == "/v1/jobs" && regErr != "":
		http.Error(w, regErr, http.StatusBadRequest)
	case r.Method == http.MethodPut && r.URL.Path == "/v1/jobs":
		reply(&api.JobRegisterResponse{EvalID: "eval-1", JobModifyIndex: 42})
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v1/job/"):
		reply(&api.JobDeregisterResponse{EvalID: "eval-2"})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/jobs":
		reply(stubs)
	default:
		http.NotFound(w, r)
	}
}

func ptr[T any](v T) *T { return &v }

// varFromText finds `name = "value"` in var-file text (enough for the fake).
func varFromText(text, name string) string {
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == name {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

func renderShipped(t testing.TB, client string) Rendered {
	t.Helper()
	set := loadShipped(t)
	r, err := set.Render(lookup(t, set, "event-normalizer"), ClientVars{ClientID: client, Neo4jDatabase: client, KafkaBrokers: "127.0.0.1:9092"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func decode[T any](t *testing.T, c call) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(c.Body, &v); err != nil {
		t.Fatalf("%s: body %q: %v", c, c.Body, err)
	}
	return v
}

func TestSubmitRegistersNewJob(t *testing.T) {
	f := newFakeNomad(t)
	r := renderShipped(t, "af-9")
	res, err := f.client(t).Submit(context.Background(), r, map[string]string{MetaTemplateSHA: "caller-sha", "extra": "x", MetaManagedBy: "someone-else"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (SubmitResult{JobID: "kg-event-normalizer-af-9", Changed: true, EvalID: "eval-1", JobModifyIndex: 42}); res != want {
		t.Errorf("result %+v, want %+v", res, want)
	}
	calls := f.recorded()
	if len(calls) != 3 {
		t.Fatalf("calls %v, want parse, plan, register", calls)
	}

	// 1. PUT /v1/jobs/parse with the HCL and the var-file text.
	if c := calls[0]; c.Method != http.MethodPut || c.Path != "/v1/jobs/parse" {
		t.Errorf("call 1 = %s, want PUT /v1/jobs/parse", c)
	}
	parse := decode[api.JobsParseRequest](t, calls[0])
	if parse.JobHCL != r.HCL || parse.Variables != r.Variables || parse.Canonicalize {
		t.Errorf("parse request: HCL equal %v, Variables %q, Canonicalize %v", parse.JobHCL == r.HCL, parse.Variables, parse.Canonicalize)
	}
	if !strings.Contains(parse.Variables, `client_id      = "af-9"`) || !strings.Contains(parse.Variables, `driver          = "raw_exec"`) {
		t.Errorf("parse Variables lack the client or operator variables:\n%s", parse.Variables)
	}

	// 2. PUT /v1/job/<id>/plan with Diff=true and the meta merged in.
	if c := calls[1]; c.Method != http.MethodPut || c.Path != "/v1/job/kg-event-normalizer-af-9/plan" {
		t.Errorf("call 2 = %s, want PUT /v1/job/kg-event-normalizer-af-9/plan", c)
	}
	plan := decode[api.JobPlanRequest](t, calls[1])
	if !plan.Diff || plan.Job == nil || *plan.Job.ID != "kg-event-normalizer-af-9" {
		t.Errorf("plan request: Diff %v, job %+v", plan.Diff, plan.Job)
	}

	// 3. PUT /v1/jobs with the job, its kg_* meta and the submission.
	if c := calls[2]; c.Method != http.MethodPut || c.Path != "/v1/jobs" {
		t.Errorf("call 3 = %s, want PUT /v1/jobs", c)
	}
	reg := decode[api.JobRegisterRequest](t, calls[2])
	wantMeta := map[string]string{
		"from_template": "yes", // the template's own meta is kept
		MetaManagedBy:   "kgplane",
		MetaClient:      "af-9",
		MetaTemplate:    "event-normalizer",
		MetaTemplateSHA: "caller-sha", // the caller's meta wins over Rendered.Meta()
		"extra":         "x",
		MetaPlane:       testPlane, // always the client's plane
	}
	if reg.Job == nil || !maps.Equal(reg.Job.Meta, wantMeta) {
		t.Errorf("registered meta %v, want %v", reg.Job.Meta, wantMeta)
	}
	if !maps.Equal(plan.Job.Meta, wantMeta) {
		t.Errorf("planned meta %v, want %v", plan.Job.Meta, wantMeta)
	}
	sub := reg.Submission
	if sub == nil {
		t.Fatal("register without a JobSubmission")
	}
	if sub.Source != r.HCL || sub.Format != "hcl2" || sub.Variables != r.OperatorVariables || !maps.Equal(sub.VariableFlags, r.VariableMap) {
		t.Errorf("submission Format %q, Variables %q, VariableFlags %v, source equal %v", sub.Format, sub.Variables, sub.VariableFlags, sub.Source == r.HCL)
	}
}

func TestSubmitSkipsRegisterWhenPlanShowsNoChange(t *testing.T) {
	f := newFakeNomad(t)
	f.planDiff = "None"
	res, err := f.client(t).Submit(context.Background(), renderShipped(t, "af-9"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (SubmitResult{JobID: "kg-event-normalizer-af-9", Changed: false, JobModifyIndex: 41}); res != want {
		t.Errorf("result %+v, want %+v", res, want)
	}
	for _, c := range f.recorded() {
		if c.Path == "/v1/jobs" {
			t.Errorf("register called although the plan showed no change: %v", f.recorded())
		}
	}
	if n := len(f.recorded()); n != 2 {
		t.Errorf("%d calls, want parse and plan", n)
	}
}

func TestSubmitEditedJobRegisters(t *testing.T) {
	f := newFakeNomad(t)
	f.planDiff = "Edited"
	res, err := f.client(t).Submit(context.Background(), renderShipped(t, "af-9"), nil)
	if err != nil || !res.Changed {
		t.Fatalf("Submit = %+v, %v; want a register", res, err)
	}
}

// Nomad's parse naming another job than the local evaluation is refused
// before anything is planned or registered.
func TestSubmitRefusesJobIDMismatch(t *testing.T) {
	f := newFakeNomad(t)
	r := renderShipped(t, "af-9")
	r.JobID = "kg-event-normalizer-other"
	_, err := f.client(t).Submit(context.Background(), r, nil)
	if err == nil || !strings.Contains(err.Error(), `Nomad parsed job id "kg-event-normalizer-af-9"`) {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.recorded()); n != 1 {
		t.Errorf("%d calls after the mismatch, want only the parse", n)
	}
}

func TestSubmitErrorsNameTheStep(t *testing.T) {
	for _, tc := range []struct {
		failing, wantMsg, wantKind string
		code                       int
	}{
		{"PUT /v1/jobs/parse", "parsing job kg-event-normalizer-af-9 (template event-normalizer) in Nomad", KindParse, 400},
		{"PUT /v1/jobs/parse", "parsing job kg-event-normalizer-af-9", KindClientError, 403},
		{"PUT /v1/jobs/parse", "parsing job kg-event-normalizer-af-9", KindServerError, 500},
		{"PUT /v1/job/kg-event-normalizer-af-9/plan", "planning job kg-event-normalizer-af-9", KindServerError, 500},
		{"PUT /v1/job/kg-event-normalizer-af-9/plan", "planning job kg-event-normalizer-af-9", KindClientError, 400},
		{"PUT /v1/jobs", "registering job kg-event-normalizer-af-9", KindServerError, 503},
		{"PUT /v1/jobs", "registering job kg-event-normalizer-af-9", KindClientError, 403},
	} {
		t.Run(tc.failing, func(t *testing.T) {
			f := newFakeNomad(t)
			f.setStatus(tc.failing, tc.code)
			_, err := f.client(t).Submit(context.Background(), renderShipped(t, "af-9"), nil)
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %v, want prefix %q", err, tc.wantMsg)
			}
			if got := ErrorKind(err); got != tc.wantKind {
				t.Errorf("ErrorKind(%v) = %q, want %q", err, got, tc.wantKind)
			}
		})
	}
}

func TestPurge(t *testing.T) {
	f := newFakeNomad(t)
	if err := f.client(t).Purge(context.Background(), "kg-event-normalizer-af-9"); err != nil {
		t.Fatal(err)
	}
	calls := f.recorded()
	if len(calls) != 1 {
		t.Fatalf("calls %v", calls)
	}
	c := calls[0]
	if c.Method != http.MethodDelete || c.Path != "/v1/job/kg-event-normalizer-af-9" || c.Query.Encode() != "purge=true" {
		t.Errorf("call = %s, want DELETE /v1/job/kg-event-normalizer-af-9?purge=true", c)
	}
}

func TestPurgeOfMissingJobSucceeds(t *testing.T) {
	f := newFakeNomad(t)
	f.setStatus("DELETE /v1/job/kg-gone-af-9", http.StatusNotFound)
	if err := f.client(t).Purge(context.Background(), "kg-gone-af-9"); err != nil {
		t.Fatalf("Purge of a missing job = %v, want nil", err)
	}
	f.setStatus("DELETE /v1/job/kg-gone-af-9", http.StatusInternalServerError)
	err := f.client(t).Purge(context.Background(), "kg-gone-af-9")
	if err == nil || !strings.HasPrefix(err.Error(), "purging job kg-gone-af-9: ") || ErrorKind(err) != KindServerError {
		t.Fatalf("Purge on a 500 = %v (kind %q)", err, ErrorKind(err))
	}
	if err := f.client(t).Purge(context.Background(), ""); err == nil {
		t.Fatal("Purge of an empty id succeeded")
	}
}

func TestListManaged(t *testing.T) {
	f := newFakeNomad(t)
	// The fake ignores the filter, as an old agent might: the client must still
	// drop jobs that are not kgplane's.
	f.stubs = []*api.JobListStub{
		{ID: "kg-event-normalizer-af-9", Status: "running", Meta: map[string]string{MetaManagedBy: "kgplane", MetaPlane: testPlane, MetaTerm: "7", MetaClient: "af-9", MetaTemplate: "event-normalizer", MetaTemplateSHA: "abc"}},
		{ID: "kg-graph-builder-af-9", Status: "dead", Stop: true, Meta: map[string]string{MetaManagedBy: "kgplane", MetaPlane: testPlane, MetaClient: "af-9", MetaTemplate: "graph-builder", MetaTemplateSHA: "def"}},
		{ID: "kg-event-normalizer-other", Status: "running", Meta: map[string]string{MetaManagedBy: "kgplane", MetaPlane: "other-plane", MetaClient: "other", MetaTemplate: "event-normalizer"}},
		{ID: "kg-event-normalizer-old", Status: "running", Meta: map[string]string{MetaManagedBy: "kgplane", MetaClient: "old", MetaTemplate: "event-normalizer"}},
		{ID: "someone-elses", Status: "running", Meta: map[string]string{"owner": "ops"}},
		{ID: "no-meta", Status: "running"},
		{ID: "impostor", Status: "running", Meta: map[string]string{MetaManagedBy: "kgplane-not"}},
	}
	jobs, err := f.client(t).ListManaged(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []ManagedJob{
		{ID: "kg-event-normalizer-af-9", Client: "af-9", Template: "event-normalizer", TemplateSHA: "abc", Plane: testPlane, Term: 7, Status: "running"},
		{ID: "kg-graph-builder-af-9", Client: "af-9", Template: "graph-builder", TemplateSHA: "def", Plane: testPlane, Status: "dead", Stopped: true},
	}
	if len(jobs) != len(want) {
		t.Fatalf("jobs %+v, want %+v", jobs, want)
	}
	for i := range want {
		if jobs[i] != want[i] {
			t.Errorf("job %d = %+v, want %+v", i, jobs[i], want[i])
		}
	}
	c := f.recorded()[0]
	if want := `Meta.kg_managed_by == "kgplane" and Meta.kg_plane == "test-plane"`; c.Method != http.MethodGet || c.Path != "/v1/jobs" || c.Query.Get("meta") != "true" || c.Query.Get("filter") != want {
		t.Errorf("call = %s, want GET /v1/jobs?meta=true&filter=%s", c, want)
	}

	// The plane of the contract's registry also adopts jobs from before planes had names.
	legacy, err := NewClient(Config{Plane: testPlane, Address: f.srv.URL, AdoptUnlabeled: true})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err = legacy.ListManaged(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 || jobs[1].ID != "kg-event-normalizer-old" {
		t.Errorf("with AdoptUnlabeled: %+v, want the plane's two jobs and the unlabeled one", jobs)
	}

	f.setStatus("GET /v1/jobs", http.StatusForbidden)
	if _, err := f.client(t).ListManaged(context.Background()); err == nil || ErrorKind(err) != KindClientError || !strings.Contains(err.Error(), "listing kgplane's Nomad jobs") {
		t.Errorf("ListManaged on a 403 = %v (kind %q)", err, ErrorKind(err))
	}
}

// Token, namespace and region from Config reach every request.
func TestConfigReachesRequests(t *testing.T) {
	f := newFakeNomad(t)
	c, err := NewClient(Config{Plane: testPlane, Address: f.srv.URL, Token: "s3cr3t", Namespace: "kgplane", Region: "eu"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Address() != f.srv.URL {
		t.Errorf("Address() = %q", c.Address())
	}
	if _, err := c.Submit(context.Background(), renderShipped(t, "af-9"), nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Purge(context.Background(), "kg-x-af-9"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListManaged(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, call := range f.recorded() {
		if call.Path == "/v1/jobs" && call.Method == http.MethodPut {
			reg := decode[api.JobRegisterRequest](t, call)
			if reg.Job.Namespace == nil || *reg.Job.Namespace != "kgplane" || reg.Job.Region == nil || *reg.Job.Region != "eu" {
				t.Errorf("registered job namespace %v, region %v; want kgplane, eu", reg.Job.Namespace, reg.Job.Region)
			}
		}
		if call.Header.Get("X-Nomad-Token") != "s3cr3t" || call.Query.Get("namespace") != "kgplane" || call.Query.Get("region") != "eu" {
			t.Errorf("%s: token %q, namespace %q, region %q", call, call.Header.Get("X-Nomad-Token"), call.Query.Get("namespace"), call.Query.Get("region"))
		}
	}
}

// Empty Config fields fall back to the NOMAD_* environment, as nomad/api does.
func TestConfigFromEnvironment(t *testing.T) {
	f := newFakeNomad(t)
	t.Setenv("NOMAD_ADDR", f.srv.URL)
	t.Setenv("NOMAD_TOKEN", "env-token")
	t.Setenv("NOMAD_NAMESPACE", "env-ns")
	c, err := NewClient(Config{Plane: testPlane})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListManaged(context.Background()); err != nil {
		t.Fatal(err)
	}
	call := f.recorded()[0]
	if call.Header.Get("X-Nomad-Token") != "env-token" || call.Query.Get("namespace") != "env-ns" {
		t.Errorf("%s: token %q", call, call.Header.Get("X-Nomad-Token"))
	}
}

func TestErrorKind(t *testing.T) {
	// A port nothing listens on: take a free one and close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := "http://" + l.Addr().String()
	l.Close()
	refused, err := NewClient(Config{Plane: testPlane, Address: deadAddr})
	if err != nil {
		t.Fatal(err)
	}

	// A Nomad that answers only when the request's context ends.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)
	hanging, err := NewClient(Config{Plane: testPlane, Address: hang.URL})
	if err != nil {
		t.Fatal(err)
	}

	// A Nomad that drops the connection.
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(drop.Close)
	dropping, err := NewClient(Config{Plane: testPlane, Address: drop.URL})
	if err != nil {
		t.Fatal(err)
	}

	f := newFakeNomad(t)
	f.setStatus("GET /v1/jobs", http.StatusInternalServerError)
	f.setStatus("DELETE /v1/job/forbidden", http.StatusForbidden)

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()

	listErr := func(c *Client, ctx context.Context) error { _, err := c.ListManaged(ctx); return err }
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"500", listErr(f.client(t), context.Background()), KindServerError},
		{"403", f.client(t).Purge(context.Background(), "forbidden"), KindClientError},
		{"connection refused", listErr(refused, context.Background()), KindUnreachable},
		{"connection dropped", listErr(dropping, context.Background()), KindUnreachable},
		{"context canceled", listErr(f.client(t), canceled), KindCanceled},
		{"deadline exceeded", listErr(hanging, short), KindTimeout},
		{"template diagnostics", &DiagnosticsError{}, KindParse},
		{"something else", errors.New("boom"), KindOther},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want != "" && tc.err == nil {
				t.Fatal("the operation did not fail")
			}
			if got := ErrorKind(tc.err); got != tc.want {
				t.Errorf("ErrorKind(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

// A template that names another namespace than the client's is refused: its job
// would be invisible to ListManaged.
func TestSubmitRefusesForeignNamespace(t *testing.T) {
	f := newFakeNomad(t)
	f.parseNamespace = "other"
	c, err := NewClient(Config{Plane: testPlane, Address: f.srv.URL, Namespace: "kgplane"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Submit(context.Background(), renderShipped(t, "af-9"), nil)
	if err == nil || !strings.Contains(err.Error(), `sets namespace "other"`) {
		t.Fatalf("err = %v", err)
	}
	if n := len(f.recorded()); n != 1 {
		t.Errorf("%d calls, want only the parse", n)
	}
}

const testPlane = "test-plane"

// One rate-limit token per HTTP call: a submit of a new job is three calls
// (parse, plan, register) and takes three tokens, not one.
func TestRateLimitTakesATokenPerHTTPCall(t *testing.T) {
	f := newFakeNomad(t)
	c, err := NewClient(Config{Plane: testPlane, Address: f.srv.URL, RateLimit: 0.001, RateBurst: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(context.Background(), renderShipped(t, "af-9"), nil); err != nil {
		t.Fatal(err)
	}
	if n := len(f.recorded()); n != 3 {
		t.Fatalf("%d calls, want parse, plan and register", n)
	}
	if tok := c.limiter.Tokens(); tok >= 1 {
		t.Fatalf("%.2f tokens left after three calls from a bucket of three", tok)
	}
	// The bucket is empty: the next call waits (here: until the context ends).
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Purge(ctx, "kg-event-normalizer-af-9"); err == nil || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("Purge with an empty bucket = %v, want a rate-limit wait error", err)
	}
}

// The register is a check-and-set on the modify index the plan saw: a job
// that changed in between is not overwritten.
func TestRegisterIsACheckAndSetOnThePlansIndex(t *testing.T) {
	f := newFakeNomad(t)
	if _, err := f.client(t).Submit(context.Background(), renderShipped(t, "af-9"), nil); err != nil {
		t.Fatal(err)
	}
	reg := decode[api.JobRegisterRequest](t, f.recorded()[2])
	if !reg.EnforceIndex || reg.JobModifyIndex != 41 {
		t.Fatalf("register EnforceIndex=%v JobModifyIndex=%d, want true and the plan's 41", reg.EnforceIndex, reg.JobModifyIndex)
	}
	f.mu.Lock()
	f.registerError = api.RegisterEnforceIndexErrPrefix + ": job exists with conflicting job modify index: 43"
	f.mu.Unlock()
	_, err := f.client(t).Submit(context.Background(), renderShipped(t, "af-9"), nil)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Submit after a concurrent change = %v, want ErrConflict", err)
	}
}

// BeforeWrite runs before every write and can stop it: the leader's fence.
func TestBeforeWriteFencesWrites(t *testing.T) {
	f := newFakeNomad(t)
	fenced := errors.New("not the leader")
	c, err := NewClient(Config{Plane: testPlane, Address: f.srv.URL, BeforeWrite: func(context.Context) error { return fenced }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(context.Background(), renderShipped(t, "af-9"), nil); !errors.Is(err, fenced) {
		t.Fatalf("Submit = %v, want the fence's error", err)
	}
	if err := c.Purge(context.Background(), "kg-event-normalizer-af-9"); !errors.Is(err, fenced) {
		t.Fatalf("Purge = %v, want the fence's error", err)
	}
	for _, call := range f.recorded() {
		if call.Method == http.MethodDelete || call.Path == "/v1/jobs" {
			t.Fatalf("a fenced client wrote: %s", call)
		}
	}
	if _, err := NewClient(Config{Address: f.srv.URL}); err == nil {
		t.Fatal("a client without a plane identity was created")
	}
}
