package nomad

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// clientVarsHCL declares the three variables every template must declare.
const clientVarsHCL = `
variable "client_id" { type = string }
variable "neo4j_database" { type = string }
variable "kafka_brokers" { type = string }
`

// evalJob loads one template (with the client variables declared) and an
// optional var-file, renders it for client and evaluates it.
func evalJob(t *testing.T, body, vars, client string) (*Job, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"+TemplateExt), []byte(clientVarsHCL+body), 0o644); err != nil {
		t.Fatal(err)
	}
	varsFile := ""
	if vars != "" {
		varsFile = filepath.Join(dir, "ops.vars.hcl")
		if err := os.WriteFile(varsFile, []byte(vars), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := LoadTemplates(dir, varsFile)
	if err != nil {
		t.Fatalf("LoadTemplates: %v", err)
	}
	r, err := set.Render(set.Templates[0], ClientVars{ClientID: client, Neo4jDatabase: client + "-db", KafkaBrokers: "k1:9092"})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return r.Job()
}

func onlyTask(t *testing.T, j *Job) Task {
	t.Helper()
	if len(j.Groups) != 1 || len(j.Groups[0].Tasks) != 1 {
		t.Fatalf("want one group with one task, got %+v", j.Groups)
	}
	return j.Groups[0].Tasks[0]
}

// Every shipped template, with each shipped var-file, evaluates to the job the
// docs describe: the driver's config from the dynamic blocks, the client's
// environment, the runtime port reference left for the runner, the restart
// and kill settings, the secrets template.
func TestJobShippedTemplates(t *testing.T) {
	for _, vf := range []struct{ file, driver, image, network string }{
		{"dev.vars.hcl", "raw_exec", "", ""},
		{"production.example.vars.hcl", "docker", "ghcr.io/kgrca/kg-worker:1.0.0", ""},
		{"dev-docker.vars.hcl", "docker", "kg-worker:dev", "host"},
	} {
		set, err := LoadTemplates("../jobspecs", "../jobspecs/vars/"+vf.file)
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range set.Templates {
			t.Run(vf.file+"/"+tp.Name, func(t *testing.T) {
				r, err := set.Render(tp, ClientVars{ClientID: "af-9", Neo4jDatabase: "af-9", KafkaBrokers: "k1:9092,k2:9092"})
				if err != nil {
					t.Fatal(err)
				}
				j, err := r.Job()
				if err != nil {
					t.Fatal(err)
				}
				if j.ID != "kg-"+tp.Name+"-af-9" || j.Type != "service" || len(j.Unsupported) > 0 {
					t.Errorf("job %s type %s unsupported %v", j.ID, j.Type, j.Unsupported)
				}
				task := onlyTask(t, j)
				if task.Driver != vf.driver {
					t.Errorf("driver %q, want %q", task.Driver, vf.driver)
				}
				args, err := task.ConfigStrings("args")
				if err != nil || !slices.Equal(args, []string{tp.Name}) {
					t.Errorf("args %v (%v), want [%s]", args, err, tp.Name)
				}
				switch vf.driver {
				case "raw_exec":
					if task.ConfigString("command") != "/usr/local/bin/kg-worker" || task.Config["image"] != nil {
						t.Errorf("raw_exec config %v", task.Config)
					}
				case "docker":
					_, hasNetwork := task.Config["network_mode"]
					if task.ConfigString("image") != vf.image || task.Config["command"] != nil ||
						task.ConfigString("network_mode") != vf.network || hasNetwork != (vf.network != "") {
						t.Errorf("docker config %v", task.Config)
					}
				}
				want := map[string]string{"CLIENT_ID": "af-9", "NEO4J_DATABASE": "af-9", "KAFKA_BROKERS": "k1:9092,k2:9092",
					"METRICS_ADDR": ":${NOMAD_PORT_metrics}"}
				for k, v := range want {
					if task.Env[k] != v {
						t.Errorf("env %s = %q, want %q", k, task.Env[k], v)
					}
				}
				g := j.Groups[0]
				if g.Count != 1 || len(g.Ports) != 1 || g.Ports[0].Label != "metrics" || g.Ports[0].Static != 0 {
					t.Errorf("group count %d ports %+v", g.Count, g.Ports)
				}
				if want := (RestartPolicy{Attempts: 3, Interval: 5 * time.Minute, Delay: 15 * time.Second, Mode: "delay"}); task.Restart != want {
					t.Errorf("restart %+v, want %+v", task.Restart, want)
				}
				if !g.Reschedule.Unlimited || g.Reschedule.MaxDelay != 10*time.Minute {
					t.Errorf("reschedule %+v", g.Reschedule)
				}
				if task.KillSignal != "SIGTERM" || task.KillTimeout != 30*time.Second {
					t.Errorf("kill %s after %s", task.KillSignal, task.KillTimeout)
				}
				if len(task.Templates) != 1 || !task.Templates[0].Env || task.Templates[0].Destination != "secrets/kg.env" ||
					!strings.Contains(task.Templates[0].Data, "nomadVarExists") {
					t.Errorf("templates %+v", task.Templates)
				}
			})
		}
	}
}

func TestJobEvaluation(t *testing.T) {
	cases := []struct {
		name, body, vars string
		client           string
		check            func(t *testing.T, j *Job)
		wantErr          string
	}{
		{
			name: "defaults Nomad applies when blocks are left out",
			body: `job "x" {
  id = "x-${var.client_id}"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
    }
  }
}`,
			check: func(t *testing.T, j *Job) {
				task := onlyTask(t, j)
				if j.Type != "service" || j.Groups[0].Count != 1 || task.KillTimeout != 5*time.Second || task.KillSignal != "" {
					t.Errorf("type %s count %d kill %q/%s", j.Type, j.Groups[0].Count, task.KillSignal, task.KillTimeout)
				}
				if task.Restart != defaultRestart("service") || task.Logs != (LogsPolicy{MaxFiles: 10, MaxFileSizeMB: 10}) {
					t.Errorf("restart %+v logs %+v", task.Restart, task.Logs)
				}
			},
		},
		{
			name: "dynamic blocks, locals, functions and the var-file",
			vars: `flags = ["a", "b"]` + "\n" + `mode = "x"`,
			body: `variable "flags" { type = list(string) }
variable "mode" {
  type = string
  default = "y"
}
locals {
  upper_id = upper(local.id)
  id       = var.client_id
}
job "x" {
  id   = "x-${var.client_id}"
  type = "batch"
  meta { owner = local.upper_id }
  group "g" {
    count = length(var.flags)
    task "t" {
      driver = "raw_exec"
      dynamic "config" {
        for_each = var.mode == "x" ? [1] : []
        content {
          command = "/bin/echo"
          args    = concat(["-n"], [for f in var.flags : format("--%s", f)])
        }
      }
      dynamic "config" {
        for_each = var.mode == "y" ? [1] : []
        content { command = "/bin/false" }
      }
      dynamic "template" {
        for_each = var.flags
        content {
          data        = "flag ${template.value}"
          destination = "local/${template.value}.txt"
        }
      }
      env {
        JOINED = join(",", var.flags)
        CAN    = can(regex_replace(var.client_id, "[a-", "")) ? "yes" : "no"
      }
    }
  }
}`,
			client: "af-9",
			check: func(t *testing.T, j *Job) {
				task := onlyTask(t, j)
				args, _ := task.ConfigStrings("args")
				if task.ConfigString("command") != "/bin/echo" || !slices.Equal(args, []string{"-n", "--a", "--b"}) {
					t.Errorf("config %v", task.Config)
				}
				if j.Type != "batch" || j.Groups[0].Count != 2 || j.Meta["owner"] != "AF-9" {
					t.Errorf("type %s count %d meta %v", j.Type, j.Groups[0].Count, j.Meta)
				}
				if task.Restart != defaultRestart("batch") {
					t.Errorf("batch restart %+v", task.Restart)
				}
				if len(task.Templates) != 2 || task.Templates[1].Destination != "local/b.txt" || task.Templates[1].Data != "flag b" {
					t.Errorf("templates %+v", task.Templates)
				}
				if task.Env["JOINED"] != "a,b" || task.Env["CAN"] != "no" {
					t.Errorf("env %v", task.Env)
				}
			},
		},
		{
			name: "runtime interpolations are left for the client, as Nomad leaves them",
			body: `job "x" {
  id = "x-${var.client_id}"
  group "g" {
    network {
      port "http" {}
      port "admin" { static = 9000 }
    }
    restart {
      attempts = 1
      mode     = "fail"
    }
    task "t" {
      driver       = "raw_exec"
      kill_signal  = "SIGINT"
      kill_timeout = "2s"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ${NOMAD_ALLOC_ID}"]
      }
      restart { delay = "1s" }
      env {
        ADDR = "${NOMAD_IP_http}:${NOMAD_PORT_http}"
        NODE = "${node.unique.name}/${node.datacenter}/${attr.kernel.name}"
        BARE = NOMAD_TASK_NAME
      }
      logs {
        max_files     = 2
        max_file_size = 1
      }
    }
  }
}`,
			check: func(t *testing.T, j *Job) {
				task := onlyTask(t, j)
				args, _ := task.ConfigStrings("args")
				if !slices.Equal(args, []string{"-c", "echo ${NOMAD_ALLOC_ID}"}) {
					t.Errorf("args %q", args)
				}
				want := map[string]string{"ADDR": "${NOMAD_IP_http}:${NOMAD_PORT_http}",
					"NODE": "${node.unique.name}/${node.datacenter}/${attr.kernel.name}", "BARE": "${NOMAD_TASK_NAME}"}
				for k, v := range want {
					if task.Env[k] != v {
						t.Errorf("env %s = %q, want %q", k, task.Env[k], v)
					}
				}
				if want := (RestartPolicy{Attempts: 1, Interval: 30 * time.Minute, Delay: time.Second, Mode: "fail"}); task.Restart != want {
					t.Errorf("task restart %+v, want %+v (group block, then the task's own)", task.Restart, want)
				}
				if task.KillSignal != "SIGINT" || task.KillTimeout != 2*time.Second || task.Logs != (LogsPolicy{MaxFiles: 2, MaxFileSizeMB: 1}) {
					t.Errorf("kill %s %s logs %+v", task.KillSignal, task.KillTimeout, task.Logs)
				}
				if p := j.Groups[0].Ports; len(p) != 2 || p[0] != (Port{Label: "http"}) || p[1] != (Port{Label: "admin", Static: 9000}) {
					t.Errorf("ports %+v", p)
				}
			},
		},
		{
			name: "what a single machine cannot run is reported",
			body: `job "x" {
  id = "x-${var.client_id}"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      lifecycle { hook = "prestart" }
    }
  }
}`,
			check: func(t *testing.T, j *Job) {
				if len(j.Unsupported) != 1 || !strings.Contains(j.Unsupported[0], "lifecycle") || !strings.Contains(j.Unsupported[0], ":11:") {
					t.Errorf("unsupported %q", j.Unsupported)
				}
			},
		},
		{
			name: "a validation block refuses a value, with its message",
			body: `variable "size" {
  type    = number
  default = 5
  validation {
    condition     = var.size < 3
    error_message = "The size must be below 3."
  }
}
job "x" {
  id = "x-${var.client_id}"
}`,
			wantErr: "The size must be below 3.",
		},
		{
			name: "an unknown function is an error with its position",
			body: `job "x" {
  id = "x-${var.client_id}"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = regex("a", "b") }
    }
  }
}`,
			wantErr: "x.nomad.hcl:10:",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := tc.client
			if client == "" {
				client = "af-9"
			}
			j, err := evalJob(t, tc.body, tc.vars, client)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, j)
		})
	}
}

// The shipped client_id validation block runs in Job too: a rendered job for
// an id that slipped past Go's check (Render validates first, so this builds
// the Rendered by hand) is refused with the template's own message.
func TestJobRunsShippedValidation(t *testing.T) {
	set := loadShipped(t)
	r, err := set.Render(lookup(t, set, "graph-builder"), ClientVars{ClientID: "af-9", Neo4jDatabase: "af-9", KafkaBrokers: "k:9092"})
	if err != nil {
		t.Fatal(err)
	}
	r.VariableMap = map[string]string{VarClientID: "Bad_Id", VarNeo4jDatabase: "x", VarKafkaBrokers: "k:9092"}
	if _, err := r.Job(); err == nil || !strings.Contains(err.Error(), "The client_id must be 3-63 lowercase letters") {
		t.Fatalf("err = %v", err)
	}
}
