package embedded

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kgrca/kgplane/nomad"
)

// The test binary doubles as the task the backend runs (KG_EMBEDDED_HELPER
// says how it behaves) and as a stand-in control plane for the orphan test.
func TestMain(m *testing.M) {
	switch mode := os.Getenv("KG_EMBEDDED_HELPER"); mode {
	case "":
		os.Exit(m.Run())
	case "plane":
		os.Exit(helperPlane())
	default:
		os.Exit(helperTask(mode))
	}
}

// helperTask records its environment and working directory in
// $HELPER_OUT/<pid>.env, and what happens to it in $HELPER_OUT/<pid>.events;
// "serve" stops on SIGTERM/SIGINT, "stubborn" ignores them, "fail" exits 3.
func helperTask(mode string) int {
	// Signals are caught before the task says it runs, so a stop that comes
	// right after cannot find Go's default action (exit) instead.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	dir := os.Getenv("HELPER_OUT")
	pid := os.Getpid()
	event := func(s string) {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%d.events", pid)), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintf(f, "%d %s\n", time.Now().UnixNano(), s)
			f.Close()
		}
	}
	wd, _ := os.Getwd()
	env := append(os.Environ(), "HELPER_CWD="+wd)
	tmp := filepath.Join(dir, fmt.Sprintf("%d.env.tmp", pid))
	os.WriteFile(tmp, []byte(strings.Join(env, "\n")+"\n"), 0o644)
	os.Rename(tmp, filepath.Join(dir, fmt.Sprintf("%d.env", pid)))
	event("started")
	fmt.Println("helper task output on stdout")
	fmt.Fprintln(os.Stderr, "helper task output on stderr")
	switch mode {
	case "fail":
		event("failing")
		return 3
	case "stubborn":
		for s := range sigs {
			event("ignored " + s.String())
		}
	}
	s := <-sigs
	event("stopping on " + s.String())
	return 0
}

// helperPlane is a control plane in miniature: it runs the template in
// $HELPER_TEMPLATES for client "orphan-test" on an embedded backend and waits
// to be killed.
func helperPlane() int {
	set, err := nomad.LoadTemplates(os.Getenv("HELPER_TEMPLATES"), os.Getenv("HELPER_VARS"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	b, err := New(Config{StateDir: os.Getenv("HELPER_STATE"), HostEnv: os.Environ()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r, err := set.Render(set.Templates[0], nomad.ClientVars{ClientID: "orphan-test", Neo4jDatabase: "x", KafkaBrokers: "k:1"})
	if err == nil {
		_, err = b.Submit(context.Background(), r, nil)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("submitted")
	select {}
}

// testTemplate is a job whose task is this test binary. Operator variables:
// helper (the binary), mode, out, mark, kill_timeout, attempts, restart_mode.
const testTemplate = `
variable "client_id" { type = string }
variable "neo4j_database" { type = string }
variable "kafka_brokers" { type = string }
variable "helper" { type = string }
variable "out" { type = string }
variable "mode" {
  type    = string
  default = "serve"
}
variable "mark" {
  type    = string
  default = ""
}
variable "kill_timeout" {
  type    = string
  default = "5s"
}
variable "attempts" {
  type    = number
  default = 3
}
variable "restart_mode" {
  type    = string
  default = "fail"
}
variable "driver" {
  type    = string
  default = "raw_exec"
}

job "helper" {
  id = "helper-${var.client_id}"
  group "g" {
    network {
      port "metrics" {}
    }
    restart {
      attempts = var.attempts
      interval = "10m"
      delay    = "200ms"
      mode     = var.restart_mode
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }
    task "main" {
      driver = var.driver
      dynamic "config" {
        for_each = var.driver == "raw_exec" ? [1] : []
        content {
          command = var.helper
          args    = ["-test.run=^$", "${NOMAD_ALLOC_ID}"]
        }
      }
      dynamic "config" {
        for_each = var.driver == "docker" ? [1] : []
        content { image = "kg-worker:dev" }
      }
      env {
        KG_EMBEDDED_HELPER = var.mode
        HELPER_OUT         = var.out
        CLIENT_ID          = var.client_id
        METRICS_ADDR       = ":${NOMAD_PORT_metrics}"
        NODE               = "${node.unique.name}"
        MARK               = var.mark
      }
      template {
        destination = "secrets/kg.env"
        env         = true
        data        = <<-EOT
          {{- if nomadVarExists "nomad/jobs" }}{{ with nomadVar "nomad/jobs" }}
          {{- with .NEO4J_PASSWORD }}NEO4J_PASSWORD={{ . }}{{ "\n" }}{{ end }}
          {{- end }}{{ end }}
          JOB_FROM_TEMPLATE={{ env "NOMAD_JOB_ID" }}
        EOT
      }
      kill_signal  = "SIGTERM"
      kill_timeout = var.kill_timeout
    }
  }
}
`

// fixture is a template folder, its var-file and a backend.
type fixture struct {
	dir, vars, out string
	b              *Backend
}

func newFixture(t *testing.T, cfg Config, vars string) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), out: t.TempDir()}
	if err := os.WriteFile(filepath.Join(f.dir, "helper.nomad.hcl"), []byte(testTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	f.writeVars(t, vars)
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	var err error
	if f.b, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := f.b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

// writeVars writes the var-file: the helper binary and output folder, then
// extra (more operator variables).
func (f *fixture) writeVars(t *testing.T, extra string) {
	t.Helper()
	f.vars = filepath.Join(f.dir, "vars.hcl")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("helper = %q\nout = %q\n%s\n", self, f.out, extra)
	if err := os.WriteFile(f.vars, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) render(t *testing.T, client string) nomad.Rendered {
	t.Helper()
	set, err := nomad.LoadTemplates(f.dir, f.vars)
	if err != nil {
		t.Fatal(err)
	}
	r, err := set.Render(set.Templates[0], nomad.ClientVars{ClientID: client, Neo4jDatabase: client, KafkaBrokers: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) submit(t *testing.T, client string, meta map[string]string) nomad.SubmitResult {
	t.Helper()
	res, err := f.b.Submit(context.Background(), f.render(t, client), meta)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// envOf reads the environment the helper with pid recorded.
func (f *fixture) envOf(pid int) map[string]string {
	raw, err := os.ReadFile(filepath.Join(f.out, fmt.Sprintf("%d.env", pid)))
	if err != nil {
		return nil
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	return env
}

func (f *fixture) events(pid int) string {
	raw, _ := os.ReadFile(filepath.Join(f.out, fmt.Sprintf("%d.events", pid)))
	return string(raw)
}

// runningPID is the pid of the job's task once it runs and has recorded its
// environment (0 until then).
func (f *fixture) runningPID(jobID string) int {
	for _, ts := range f.b.Tasks(jobID) {
		if ts.State == stateRunning && ts.PID > 0 && f.envOf(ts.PID) != nil {
			return ts.PID
		}
	}
	return 0
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie is dead, only not yet reaped by its parent.
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
