package embedded

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kgrca/kgplane/nomad"
)

func TestRenderTemplates(t *testing.T) {
	vars := func(p string) (map[string]string, bool) {
		if p == "nomad/jobs" {
			return map[string]string{"NEO4J_PASSWORD": "pw", "KAFKA_SASL_USERNAME": "u"}, true
		}
		return nil, false
	}
	env := map[string]string{"NOMAD_JOB_ID": "kg-x-af-9"}
	tt := func(data, dest string, isEnv bool) nomad.TaskTemplate {
		return nomad.TaskTemplate{Data: data, Destination: dest, Env: isEnv, LeftDelim: "{{", RightDelim: "}}"}
	}
	cases := []struct {
		name    string
		tmpls   []nomad.TaskTemplate
		wantEnv map[string]string
		file    string // destination to read back
		want    string
		wantErr string
	}{
		{
			name:    "env file from the stand-in variables",
			tmpls:   []nomad.TaskTemplate{tt(`{{ with nomadVar "nomad/jobs" }}NEO4J_PASSWORD={{ .NEO4J_PASSWORD }}{{ end }}`+"\n# comment\nJOB={{ env \"NOMAD_JOB_ID\" }}\n", "secrets/kg.env", true)},
			wantEnv: map[string]string{"NEO4J_PASSWORD": "pw", "JOB": "kg-x-af-9"},
			file:    "secrets/kg.env", want: "NEO4J_PASSWORD=pw\n# comment\nJOB=kg-x-af-9\n",
		},
		{
			name:  "a plain file is written, not put in the environment",
			tmpls: []nomad.TaskTemplate{tt(`{{ "a,b" | split "," | join ";" | toUpper }}`, "local/conf.txt", false)},
			file:  "local/conf.txt", want: "A;B", wantEnv: map[string]string{},
		},
		{
			name:    "a function Nomad has and this backend does not is an error",
			tmpls:   []nomad.TaskTemplate{tt(`{{ range service "db" }}{{ end }}`, "local/x", false)},
			wantErr: `function "service" not defined`,
		},
		{
			name:    "a missing variable is an error, not a silent empty file",
			tmpls:   []nomad.TaskTemplate{tt(`{{ with nomadVar "nomad/jobs/other" }}{{ end }}`, "local/x", false)},
			wantErr: `nomadVar "nomad/jobs/other": no such variable`,
		},
		{
			name:    "a destination outside the task directory is refused",
			tmpls:   []nomad.TaskTemplate{tt(`x`, "../../etc/x", false)},
			wantErr: "outside the task directory",
		},
		{
			name:    "env = true on something that is not an env file",
			tmpls:   []nomad.TaskTemplate{tt(`not an env line`, "secrets/x.env", true)},
			wantErr: "is not an env file",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			got, err := renderTemplates(tc.tmpls, dir, env, vars)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.wantEnv) {
				t.Errorf("env %v, want %v", got, tc.wantEnv)
			}
			for k, v := range tc.wantEnv {
				if got[k] != v {
					t.Errorf("env %s = %q, want %q", k, got[k], v)
				}
			}
			raw, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil || string(raw) != tc.want {
				t.Errorf("%s = %q (%v), want %q", tc.file, raw, err, tc.want)
			}
		})
	}
}
