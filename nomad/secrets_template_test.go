package nomad

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// secretsTemplate returns the data of the task template block with env = true.
func secretsTemplate(t *testing.T, path string) string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var found string
	var walk func(b *hclsyntax.Body)
	walk = func(b *hclsyntax.Body) {
		for _, blk := range b.Blocks {
			if blk.Type == "template" {
				if a, ok := blk.Body.Attributes["data"]; ok {
					v, diags := a.Expr.Value(nil)
					if diags.HasErrors() {
						t.Fatalf("%s: template data: %v", path, diags)
					}
					found = v.AsString()
				}
			}
			walk(blk.Body)
		}
	}
	walk(f.Body.(*hclsyntax.Body))
	if found == "" {
		t.Fatalf("%s: no template block with data", path)
	}
	return found
}

// The secrets template of every shipped jobspec, executed with stand-ins for
// Nomad's template functions (nomadVarExists, nomadVar, env and
// consul-template's split), renders only the variables that exist, lets the
// job's own path override the shared one, and renders nothing — instead of
// blocking — when no variable exists.
func TestShippedSecretsTemplate(t *testing.T) {
	paths, err := filepath.Glob("../jobspecs/*" + TemplateExt)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no shipped templates: %v", err)
	}
	const jobID = "kg-x-af-9"
	cases := []struct {
		name string
		vars map[string]map[string]string // Nomad variables by path
		want string
	}{
		{"no variables (dev)", nil, ""},
		{
			"shared only",
			map[string]map[string]string{"nomad/jobs": {"NEO4J_USERNAME": "neo4j", "NEO4J_PASSWORD": "shared-pw", "UNRELATED": "x"}},
			"NEO4J_USERNAME=neo4j\nNEO4J_PASSWORD=shared-pw\n",
		},
		{
			"job path overrides",
			map[string]map[string]string{
				"nomad/jobs":          {"NEO4J_PASSWORD": "shared-pw", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"},
				"nomad/jobs/" + jobID: {"NEO4J_PASSWORD": "own-pw", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"},
			},
			"NEO4J_PASSWORD=shared-pw\nKAFKA_SASL_MECHANISM=SCRAM-SHA-512\nNEO4J_PASSWORD=own-pw\nKAFKA_SASL_USERNAME=u\nKAFKA_SASL_PASSWORD=p\n",
		},
		{"another job's variable is not read", map[string]map[string]string{"nomad/jobs/kg-other-af-9": {"NEO4J_PASSWORD": "x"}}, ""},
	}
	for _, path := range paths {
		data := secretsTemplate(t, path)
		for _, tc := range cases {
			t.Run(filepath.Base(path)+"/"+tc.name, func(t *testing.T) {
				funcs := template.FuncMap{
					"env": func(k string) string {
						if k == "NOMAD_JOB_ID" {
							return jobID
						}
						return ""
					},
					"split":          func(sep, s string) []string { return strings.Split(s, sep) },
					"nomadVarExists": func(p string) bool { _, ok := tc.vars[p]; return ok },
					"nomadVar": func(p string) map[string]string {
						v, ok := tc.vars[p]
						if !ok {
							t.Errorf("nomadVar(%q) on a missing path: Nomad would block the task here", p)
						}
						return v
					},
				}
				tmpl, err := template.New("secrets").Funcs(funcs).Parse(data)
				if err != nil {
					t.Fatalf("template does not parse: %v", err)
				}
				var out strings.Builder
				if err := tmpl.Execute(&out, nil); err != nil {
					t.Fatalf("template does not execute: %v", err)
				}
				// Blank lines are ignored in an env file.
				got := strings.TrimSpace(out.String())
				if got != strings.TrimSpace(tc.want) {
					t.Errorf("rendered env file\n%q\nwant\n%q", got, tc.want)
				}
			})
		}
	}
}
