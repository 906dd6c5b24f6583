package nomad

// Real-agent tests: they start `nomad agent -dev` on loopback and free ports and
// run Submit, ListManaged and Purge against it. They skip when no nomad binary
// is on PATH. Run them with:
//
//	PATH=/path/to/nomad-dir:$PATH go test ./nomad -run E2E -v

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/kgrca/kgplane/internal/nomadagent"
	"github.com/kgrca/kgplane/internal/testutil"
)

type devAgent struct {
	addr   string
	api    *api.Client
	client *Client
}

// startDevAgent starts a Nomad dev agent (internal/nomadagent: loopback, free
// ports, cloud fingerprinters denied, raw_exec enabled) and returns once it has
// a ready raw_exec node. It and its tasks are stopped when the test ends.
func startDevAgent(t testing.TB) *devAgent {
	t.Helper()
	a := nomadagent.Start(t)
	c, err := NewClient(Config{Plane: testPlane, Address: a.Addr})
	if err != nil {
		t.Fatal(err)
	}
	return &devAgent{addr: a.Addr, api: a.API, client: c}
}

func uniqueClient(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000)
}

// runningAlloc returns a running allocation of the job, if any.
func (a *devAgent) runningAlloc(jobID string) (*api.AllocationListStub, bool) {
	allocs, _, err := a.api.Jobs().Allocations(jobID, false, nil)
	if err != nil {
		return nil, false
	}
	for _, al := range allocs {
		if al.ClientStatus == "running" {
			return al, true
		}
	}
	return nil, false
}

func TestE2ESubmitListPurge(t *testing.T) {
	a := startDevAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	set, err := LoadTemplates("testdata/e2e", "")
	if err != nil {
		t.Fatal(err)
	}
	client := uniqueClient("e2e")
	r, err := set.Render(set.Templates[0], ClientVars{ClientID: client, Neo4jDatabase: client, KafkaBrokers: "127.0.0.1:9092"})
	if err != nil {
		t.Fatal(err)
	}
	if r.JobID != "kg-e2e-sleeper-"+client {
		t.Fatalf("JobID = %q", r.JobID)
	}

	res, err := a.client.Submit(ctx, r, nil)
	if err != nil {
		t.Fatalf("first Submit: %v", err)
	}
	if !res.Changed || res.EvalID == "" || res.JobID != r.JobID {
		t.Fatalf("first Submit = %+v, want a register with an evaluation", res)
	}
	t.Logf("registered %s (eval %s)", res.JobID, res.EvalID)

	testutil.Eventually(t, 2*time.Minute, "the job and an allocation running", func() bool {
		job, _, err := a.api.Jobs().Info(r.JobID, nil)
		if err != nil || job.Status == nil || *job.Status != "running" {
			return false
		}
		_, ok := a.runningAlloc(r.JobID)
		return ok
	})

	// The job carries the kg_* meta and the submission shows its definition.
	job, _, err := a.api.Jobs().Info(r.JobID, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.Meta() {
		if job.Meta[k] != v {
			t.Errorf("job meta %s = %q, want %q", k, job.Meta[k], v)
		}
	}
	sub, _, err := a.api.Jobs().Submission(r.JobID, int(*job.Version), nil)
	if err != nil {
		t.Fatalf("reading the job submission: %v", err)
	}
	if sub.Source != r.HCL || sub.Format != "hcl2" || sub.VariableFlags[VarClientID] != client {
		t.Errorf("submission: format %q, flags %v, source equal %v", sub.Format, sub.VariableFlags, sub.Source == r.HCL)
	}

	// Unchanged: Nomad's plan shows no diff and the register is skipped.
	res2, err := a.client.Submit(ctx, r, nil)
	if err != nil {
		t.Fatalf("second Submit: %v", err)
	}
	if res2.Changed || res2.EvalID != "" {
		t.Errorf("second Submit = %+v, want Changed=false", res2)
	}
	t.Logf("unchanged resubmit: Changed=%v, job version still %d", res2.Changed, *job.Version)
	job2, _, err := a.api.Jobs().Info(r.JobID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *job2.Version != *job.Version {
		t.Errorf("the unchanged Submit made job version %d (was %d)", *job2.Version, *job.Version)
	}

	// A changed meta (e.g. a new template SHA) is a change.
	res3, err := a.client.Submit(ctx, r, map[string]string{MetaTemplateSHA: "changed"})
	if err != nil || !res3.Changed {
		t.Fatalf("Submit with new meta = %+v, %v; want Changed", res3, err)
	}

	// A foreign job without kgplane's meta must not be listed.
	foreign := r
	foreignID := "foreign-" + client
	foreign.JobID = foreignID
	foreign.HCL = strings.Replace(r.HCL, `id          = "kg-e2e-sleeper-${var.client_id}"`, `id          = "foreign-${var.client_id}"`, 1)
	var fj api.Job
	if _, err := a.api.Raw().Write("/v1/jobs/parse", &api.JobsParseRequest{JobHCL: foreign.HCL, Variables: foreign.Variables}, &fj, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.api.Jobs().Register(&fj, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _, _ = a.api.Jobs().Deregister(foreignID, true, nil) })

	// Nomad applies the filter server side (the foreign job has no kg_* meta).
	filtered, _, err := a.api.Jobs().List(&api.QueryOptions{Filter: managedFilter(testPlane, false)})
	if err != nil {
		t.Fatalf("listing with filter %s: %v", managedFilter(testPlane, false), err)
	}
	if len(filtered) != 1 || filtered[0].ID != r.JobID {
		t.Errorf("Nomad's filtered list has %d jobs, want only %s", len(filtered), r.JobID)
	}

	managed, err := a.client.ListManaged(ctx)
	if err != nil {
		t.Fatalf("ListManaged: %v", err)
	}
	var found bool
	for _, m := range managed {
		if m.ID == foreignID {
			t.Errorf("ListManaged lists the foreign job %s", m.ID)
		}
		if m.ID == r.JobID {
			found = true
			if m.Client != client || m.Template != "sleeper" || m.TemplateSHA != "changed" || m.Status == "" {
				t.Errorf("ListManaged: %+v", m)
			}
		}
	}
	if !found {
		t.Fatalf("ListManaged %+v does not list %s", managed, r.JobID)
	}

	// Purge: the job disappears (GET 404); a second purge is still a success.
	if err := a.client.Purge(ctx, r.JobID); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	testutil.Eventually(t, 30*time.Second, "the purged job to be gone", func() bool {
		_, _, err := a.api.Jobs().Info(r.JobID, nil)
		return statusCode(err) == http.StatusNotFound
	})
	_, _, err = a.api.Jobs().Deregister(r.JobID, true, nil)
	t.Logf("Nomad's answer to purging a purged job: %v (status %d)", err, statusCode(err))
	if err := a.client.Purge(ctx, r.JobID); err != nil {
		t.Errorf("Purge of a purged job: %v", err)
	}
	managed, err = a.client.ListManaged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range managed {
		if m.ID == r.JobID {
			t.Errorf("ListManaged still lists %s after the purge", m.ID)
		}
	}
}

// The shipped templates, with the dev var-file, run for real: a stand-in
// worker binary records its arguments and environment and sleeps. A secret in
// the Nomad variable nomad/jobs/<job id> reaches the task; without one the task
// starts anyway (the nomadVarExists guard). Nomad also rejects an invalid
// client id through the template's validation block.
func TestE2EShippedTemplates(t *testing.T) {
	a := startDevAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	dir := t.TempDir()
	worker := filepath.Join(dir, "fake-kg-worker")
	script := "#!/bin/sh\nenv > \"" + dir + "/env-$CLIENT_ID-$1.txt.tmp\"\nmv \"" + dir + "/env-$CLIENT_ID-$1.txt.tmp\" \"" + dir + "/env-$CLIENT_ID-$1.txt\"\nexec sleep 300\n"
	if err := os.WriteFile(worker, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	devVars, err := os.ReadFile("../jobspecs/vars/dev.vars.hcl")
	if err != nil {
		t.Fatal(err)
	}
	vars := filepath.Join(dir, "run.vars.hcl")
	generated := strings.Replace(string(devVars), `worker_binary   = "/usr/local/bin/kg-worker"`, fmt.Sprintf("worker_binary   = %q", worker), 1)
	if generated == string(devVars) {
		t.Fatal("dev.vars.hcl has no worker_binary placeholder line to replace")
	}
	if err := os.WriteFile(vars, []byte(generated), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := LoadTemplates("../jobspecs", vars)
	if err != nil {
		t.Fatal(err)
	}

	client := uniqueClient("e2e-shipped")
	cv := ClientVars{ClientID: client, Neo4jDatabase: client, KafkaBrokers: "127.0.0.1:9092"}
	secretJob := "kg-event-normalizer-" + client
	if _, _, err := a.api.Variables().Create(&api.Variable{Path: "nomad/jobs/" + secretJob, Items: api.VariableItems{"NEO4J_PASSWORD": "s3cret"}}, nil); err != nil {
		t.Fatalf("writing the Nomad variable: %v", err)
	}

	for _, tp := range set.Templates {
		r, err := set.Render(tp, cv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.client.Submit(ctx, r, nil); err != nil {
			t.Fatalf("Submit %s: %v", tp.Name, err)
		}
		t.Cleanup(func() { _ = a.client.Purge(context.Background(), r.JobID) })
	}
	for _, tp := range set.Templates {
		envFile := filepath.Join(dir, "env-"+client+"-"+tp.Name+".txt")
		testutil.Eventually(t, 2*time.Minute, tp.Name+" running its worker", func() bool {
			_, err := os.Stat(envFile)
			return err == nil
		})
		env, err := os.ReadFile(envFile)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			"CLIENT_ID=" + client, "NEO4J_DATABASE=" + client, "KAFKA_BROKERS=127.0.0.1:9092",
			"NEO4J_URI=bolt://127.0.0.1:7687", "NEO4J_ISOLATION=shared", "METRICS_ADDR=:",
		}
		if tp.Name == "event-normalizer" {
			want = append(want, "NEO4J_PASSWORD=s3cret")
		}
		t.Logf("%s: worker started with the expected environment", tp.Name)
		for _, w := range want {
			if !strings.Contains(string(env), "\n"+w) && !strings.HasPrefix(string(env), w) {
				t.Errorf("%s: environment lacks %q:\n%s", tp.Name, w, env)
			}
		}
		if tp.Name != "event-normalizer" && strings.Contains(string(env), "NEO4J_PASSWORD=") {
			t.Errorf("%s: got a password it has no variable for", tp.Name)
		}
	}

	// Nomad evaluates the client_id validation block: a bad id never becomes a job.
	r, err := set.Render(set.Templates[0], cv)
	if err != nil {
		t.Fatal(err)
	}
	bad := r
	bad.Variables = strings.Replace(r.Variables, `"`+client+`"`, `"Bad_Client"`, 1)
	_, err = a.client.Submit(ctx, bad, nil)
	if err == nil || ErrorKind(err) != KindParse {
		t.Fatalf("Submit with client_id Bad_Client = %v (kind %q), want a parse error", err, ErrorKind(err))
	}
	t.Logf("Nomad refused client_id Bad_Client: %v", err)
	if !strings.Contains(err.Error(), "client_id") {
		t.Errorf("the parse error does not mention client_id: %v", err)
	}
	var ue api.UnexpectedResponseError
	if !errors.As(err, &ue) {
		t.Errorf("error %T does not carry Nomad's response", err)
	}
}

// BenchmarkE2ESubmit measures Submit against a real dev agent (skipped without
// nomad on PATH): "unchanged" is parse + plan with the register skipped,
// "changed" registers a new job version every time (a new kg_template_sha).
func BenchmarkE2ESubmit(b *testing.B) {
	a := startDevAgent(b)
	set, err := LoadTemplates("testdata/e2e", "")
	if err != nil {
		b.Fatal(err)
	}
	client := uniqueClient("bench")
	r, err := set.Render(set.Templates[0], ClientVars{ClientID: client, Neo4jDatabase: client, KafkaBrokers: "127.0.0.1:9092"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.client.Submit(ctx, r, nil); err != nil {
		b.Fatal(err)
	}
	b.Run("unchanged", func(b *testing.B) {
		for b.Loop() {
			res, err := a.client.Submit(ctx, r, nil)
			if err != nil || res.Changed {
				b.Fatalf("Submit = %+v, %v", res, err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submits/s")
	})
	b.Run("changed", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			res, err := a.client.Submit(ctx, r, map[string]string{MetaTemplateSHA: fmt.Sprint(i)})
			if err != nil || !res.Changed {
				b.Fatalf("Submit = %+v, %v", res, err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submits/s")
	})
}

// Nomad's own parser turns each shipped template into the intended job for both
// drivers: exactly one driver config, and the restart/reschedule/update policy.
func TestE2EShippedTemplatesParse(t *testing.T) {
	a := startDevAgent(t)
	for _, tc := range []struct {
		vars, driver string
		config       func(role string) map[string]any
	}{
		{"../jobspecs/vars/production.example.vars.hcl", "docker", func(role string) map[string]any {
			return map[string]any{"image": "ghcr.io/kgrca/kg-worker:1.0.0", "args": []any{role}, "ports": []any{"metrics"}}
		}},
		{"../jobspecs/vars/dev.vars.hcl", "raw_exec", func(role string) map[string]any {
			return map[string]any{"command": "/usr/local/bin/kg-worker", "args": []any{role}}
		}},
	} {
		set, err := LoadTemplates("../jobspecs", tc.vars)
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range set.Templates {
			t.Run(tc.driver+"/"+tp.Name, func(t *testing.T) {
				r, err := set.Render(tp, ClientVars{ClientID: "af-9", Neo4jDatabase: "af-9", KafkaBrokers: "k:9092"})
				if err != nil {
					t.Fatal(err)
				}
				var job api.Job
				if _, err := a.api.Raw().Write("/v1/jobs/parse", &api.JobsParseRequest{JobHCL: r.HCL, Variables: r.Variables, Canonicalize: true}, &job, nil); err != nil {
					t.Fatalf("Nomad cannot parse %s: %v", tp.Name, err)
				}
				if *job.ID != r.JobID || *job.Type != "service" || len(job.TaskGroups) != 1 || len(job.TaskGroups[0].Tasks) != 1 {
					t.Fatalf("job %s type %s with %d groups", *job.ID, *job.Type, len(job.TaskGroups))
				}
				g := job.TaskGroups[0]
				task := g.Tasks[0]
				if task.Driver != tc.driver {
					t.Errorf("driver %q, want %q", task.Driver, tc.driver)
				}
				if got, want := fmt.Sprint(task.Config), fmt.Sprint(tc.config(tp.Name)); got != want {
					t.Errorf("config %s, want %s", got, want)
				}
				if *g.Count != 1 || *g.RestartPolicy.Mode != "delay" || !*g.ReschedulePolicy.Unlimited ||
					*g.ReschedulePolicy.DelayFunction != "exponential" || *g.Update.MaxParallel != 1 ||
					*g.Update.Canary != 0 || !*g.Update.AutoRevert || *g.Update.HealthCheck != "task_states" {
					t.Errorf("group policy: count %d restart %+v reschedule %+v update %+v", *g.Count, *g.RestartPolicy, *g.ReschedulePolicy, *g.Update)
				}
				if task.KillSignal != "SIGTERM" || *task.KillTimeout != 30*time.Second {
					t.Errorf("kill_signal %q kill_timeout %s", task.KillSignal, *task.KillTimeout)
				}
				if len(task.Templates) != 1 || !*task.Templates[0].Envvars {
					t.Errorf("want one env template for the secrets, got %d", len(task.Templates))
				}
			})
		}
	}
}
