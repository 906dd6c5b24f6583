package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/testinfra"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/nomad"
	"github.com/kgrca/kgplane/nomad/embedded"
	"github.com/kgrca/kgplane/scheduler"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

func TestResolveBackend(t *testing.T) {
	down := func() error { return errors.New("connection refused") }
	up := func() error { return nil }
	onPath := func() (string, error) { return "/opt/nomad/bin/nomad", nil }
	notOnPath := func() (string, error) { return "", exec.ErrNotFound }
	cases := []struct {
		name, kind, addrEnv string
		answers             func() error
		path                func() (string, error)
		want, whyHas        string
	}{
		{"explicit embedded wins over a live agent", "embedded", "http://n:4646", up, onPath, "embedded", "KG_BACKEND=embedded"},
		{"explicit nomad", "nomad", "", down, notOnPath, "nomad", "KG_BACKEND=nomad"},
		{"auto: an agent answers", "auto", "", up, notOnPath, "nomad", "answers"},
		{"auto: nomad on PATH, agent not up yet", "auto", "", down, onPath, "nomad", "/opt/nomad/bin/nomad is on PATH"},
		{"auto: NOMAD_ADDR set, agent down: wait for it, do not run locally", "auto", "http://n:4646", down, notOnPath, "nomad", "NOMAD_ADDR is set"},
		{"auto: nothing", "auto", "", down, notOnPath, "embedded", "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, why := resolveBackend(tc.kind, tc.addrEnv, tc.answers, tc.path)
			if got != tc.want || !strings.Contains(why, tc.whyHas) {
				t.Fatalf("resolveBackend = %s (%s), want %s (with %q)", got, why, tc.want, tc.whyHas)
			}
		})
	}
}

// The startup log names the Nomad address only when Nomad is the backend:
// an embedded plane never reads NOMAD_ADDR.
func TestBackendAttrs(t *testing.T) {
	nc, err := nomad.NewClient(nomad.Config{Address: "http://nomad.example:4646", Plane: "p"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := embedded.New(embedded.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	for _, tc := range []struct {
		name    string
		backend scheduler.Nomad
		want    string
	}{
		{"nomad", nc, "[backend nomad nomad http://nomad.example:4646]"},
		{"embedded", fencedBackend{Backend: b}, "[backend embedded]"},
	} {
		if got := fmt.Sprint(backendAttrs(tc.backend)); got != tc.want {
			t.Errorf("%s: startup log attributes %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestPlaneSecrets(t *testing.T) {
	v := planeSecrets([]string{"NEO4J_PASSWORD=pw", "NEO4J_URI=bolt://x", "KAFKA_SASL_USERNAME=u", "KAFKA_BROKERS=k", "HOME=/root", "NEO4J_USERNAME="})
	items, ok := v("nomad/jobs")
	if !ok || len(items) != 3 || items["NEO4J_PASSWORD"] != "pw" || items["KAFKA_SASL_USERNAME"] != "u" {
		t.Errorf("nomad/jobs = %v, %v", items, ok)
	}
	if _, ok := v("nomad/jobs/kg-graph-builder-af-9"); ok {
		t.Error("a job's own path exists")
	}
	if _, ok := planeSecrets([]string{"HOME=/root"})("nomad/jobs"); ok {
		t.Error("nomad/jobs exists without any secret in the environment")
	}
}

// The start-up check refuses a template set the embedded backend cannot run,
// saying what to change, and passes the dev set once its binary exists.
func TestCheckEmbeddable(t *testing.T) {
	prod, err := nomad.LoadTemplates("../../jobspecs", "../../jobspecs/vars/production.example.vars.hcl")
	if err != nil {
		t.Fatal(err)
	}
	err = checkEmbeddable(prod, "127.0.0.1:9092")
	if err == nil || !strings.Contains(err.Error(), "uses the docker driver") || !strings.Contains(err.Error(), "graph-builder.nomad.hcl") {
		t.Fatalf("production templates: %v", err)
	}
	dev, err := nomad.LoadTemplates("../../jobspecs", "../../jobspecs/vars/dev.vars.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if _, statErr := os.Stat("/usr/local/bin/kg-worker"); statErr != nil {
		if err := checkEmbeddable(dev, "127.0.0.1:9092"); err == nil || !strings.Contains(err.Error(), "set worker_binary") {
			t.Fatalf("dev templates with a missing binary: %v", err)
		}
	}
	vars := filepath.Join(t.TempDir(), "v.hcl")
	os.WriteFile(vars, []byte(`driver = "raw_exec"`+"\n"+`worker_binary = "/bin/true"`+"\n"), 0o644)
	ok, err := nomad.LoadTemplates("../../jobspecs", vars)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkEmbeddable(ok, "127.0.0.1:9092"); err != nil {
		t.Fatalf("runnable templates refused: %v", err)
	}
}

// buildWorker builds kg-worker for the embedded backend to run.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kg-worker")
	if out, err := exec.Command("go", "build", "-o", bin, "../kg-worker").CombinedOutput(); err != nil {
		t.Fatalf("building kg-worker: %v\n%s", err, out)
	}
	return bin
}

// workersOf lists the kg-worker processes running for a client, by role.
func workersOf(id string) map[string]testutil.Process {
	out := map[string]testutil.Process{}
	for _, p := range testutil.ProcessesWithEnv("CLIENT_ID=" + id) {
		if len(p.Args) > 1 && strings.HasSuffix(p.Args[0], "kg-worker") {
			out[p.Args[1]] = p
		}
	}
	return out
}

func jobStatuses(t *testing.T, addr, id string) map[string]string {
	resp, err := http.Get("http://" + addr + "/v1/clients")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out struct {
		Clients []struct {
			ID   string
			Jobs []struct{ ID, Status string }
		}
	}
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return nil
	}
	m := map[string]string{}
	for _, c := range out.Clients {
		if c.ID == id {
			for _, j := range c.Jobs {
				m[j.ID] = j.Status
			}
		}
	}
	return m
}

// The control plane with KG_BACKEND=embedded runs the shipped templates as
// kg-worker child processes: a registration starts the three workers (their
// runtime port filled in, their output in the task log), a worker killed with
// SIGKILL is restarted per the templates' restart block, and killing the
// control plane with SIGKILL leaves no worker behind. A new control plane
// starts them again and, stopped with SIGTERM, stops them gracefully.
func TestControlPlaneEmbeddedBackend(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: builds the binaries and uses the real Kafka and Neo4j")
	}
	e := newKafkaEnv(t)
	neo4j := testinfra.Neo4jURI(t)
	sc := sarama.NewConfig()
	sc.Version = kafkaio.KafkaVersion()
	admin, err := sarama.NewClusterAdmin(e.brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kafkaio.EnsureTopics(admin, kafkaio.Topics(4)); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	worker := buildWorker(t)
	vars := filepath.Join(t.TempDir(), "dev.vars.hcl")
	os.WriteFile(vars, []byte(fmt.Sprintf("driver = \"raw_exec\"\nworker_binary = %q\nneo4j_uri = %q\n", worker, neo4j)), 0o644)
	state := t.TempDir()
	bin := buildBinary(t)
	env := []string{"KG_BACKEND=embedded", "JOBSPEC_VARS_FILE=" + vars, "KG_STATE_DIR=" + state, "NOMAD_ADDR="}
	p := startPlane(t, bin, e, "", "0.2", env...)
	if !strings.Contains(p.logs.String(), "backend: embedded") {
		t.Errorf("the plane does not say which backend it uses:\n%s", p.logs.String())
	}

	id := fmt.Sprintf("emb-%d", time.Now().UnixNano()%1_000_000)
	hb := startHeartbeats(t, e, 500*time.Millisecond)
	e.register(t, id)
	hb.set(id, true)
	roles := []string{"event-normalizer", "log-normalizer", "graph-builder"}
	testutil.Eventually(t, 2*time.Minute, "three workers running", func() bool { return len(workersOf(id)) == 3 })
	testutil.Eventually(t, time.Minute, "/v1/clients to show three running jobs", func() bool {
		st := jobStatuses(t, p.addr, id)
		for _, r := range roles {
			if st["kg-"+r+"-"+id] != "running" {
				return false
			}
		}
		return true
	})
	ws := workersOf(id)
	gb := ws["graph-builder"]
	if gb.Env("NOMAD_JOB_ID") != "kg-graph-builder-"+id || gb.Env("METRICS_ADDR") != ":"+gb.Env("NOMAD_PORT_metrics") || gb.Env("NEO4J_URI") != neo4j {
		t.Errorf("graph builder env: NOMAD_JOB_ID=%s METRICS_ADDR=%s NOMAD_PORT_metrics=%s NEO4J_URI=%s",
			gb.Env("NOMAD_JOB_ID"), gb.Env("METRICS_ADDR"), gb.Env("NOMAD_PORT_metrics"), gb.Env("NEO4J_URI"))
	}
	testutil.Eventually(t, time.Minute, "the graph builder's metrics on its Nomad port", func() bool {
		resp, err := http.Get("http://127.0.0.1:" + gb.Env("NOMAD_PORT_metrics") + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	logPath := filepath.Join(state, "logs", "kg-graph-builder-"+id, "graph-builder.log")
	testutil.Eventually(t, time.Minute, "the worker's output in its task log", func() bool {
		raw, _ := os.ReadFile(logPath)
		return strings.Contains(string(raw), "metrics listening")
	})

	// SIGKILL a worker: restarted after the template's restart delay (15 s).
	killed := gb.PID
	syscall.Kill(killed, syscall.SIGKILL)
	testutil.Eventually(t, 2*time.Minute, "the killed graph builder to be restarted", func() bool {
		w, ok := workersOf(id)["graph-builder"]
		return ok && w.PID != killed
	})

	// SIGKILL the control plane: no worker survives it.
	p.kill(t)
	testutil.Eventually(t, time.Minute, "no worker left after the control plane was killed", func() bool { return len(workersOf(id)) == 0 })

	// A new control plane runs them again; SIGTERM stops them gracefully.
	p = startPlane(t, bin, e, "", "0.2", env...)
	testutil.Eventually(t, 2*time.Minute, "three workers running again", func() bool { return len(workersOf(id)) == 3 })
	before := workersOf(id)
	hb.set(id, false)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("control plane exit after SIGTERM: %v\n%s", err, p.logs.String())
	}
	for role, w := range before {
		if testutil.Alive(w.PID) {
			t.Errorf("%s (%d) outlived its control plane", role, w.PID)
		}
	}
	raw, _ := os.ReadFile(logPath)
	if !strings.Contains(string(raw), "worker stopped") || !strings.Contains(string(raw), "stopped: exit status 0") {
		t.Errorf("the graph builder was not stopped gracefully; its log:\n%s", raw)
	}
}
