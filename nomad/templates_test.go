package nomad

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/kgrca/kgplane/clientid"
)

// tmpl builds a small valid template; the replacements let a case break one thing.
func tmpl(name string, edits ...string) string {
	s := `variable "client_id" {
  type = string
}
variable "neo4j_database" {
  type = string
}
variable "kafka_brokers" {
  type = string
}
variable "memory" {
  type    = number
  default = 128
}
job "kg-NAME" {
  id = "kg-NAME-${var.client_id}"
  group "worker" {
    task "t" {
      driver = "raw_exec"
    }
  }
}
`
	s = strings.ReplaceAll(s, "NAME", name)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			panic("tmpl: no " + edits[i])
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	return s
}

// writeDir writes files (name -> content) into a fresh directory.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Nomad accepts ids built with its functions; so must the control plane, and
// a refused id is reported once, not once per probe client.
func TestJobIDEvaluatedWithNomadFunctions(t *testing.T) {
	for _, id := range []string{`format("kg-a-%s", var.client_id)`, `lower("KG-A-${var.client_id}")`, `join("-", ["kg", "a", var.client_id])`} {
		dir := writeDir(t, map[string]string{"a.nomad.hcl": tmpl("a", `"kg-a-${var.client_id}"`, id)})
		set, err := LoadTemplates(dir, "")
		if err != nil {
			t.Fatalf("id = %s refused: %v", id, err)
		}
		r, err := set.Render(set.Templates[0], ClientVars{ClientID: "af-9", Neo4jDatabase: "af-9", KafkaBrokers: "k:9092"})
		if err != nil || r.JobID != "kg-a-af-9" {
			t.Fatalf("id = %s renders %q, %v; want kg-a-af-9", id, r.JobID, err)
		}
	}
	dir := writeDir(t, map[string]string{"a.nomad.hcl": tmpl("a", `"kg-a-${var.client_id}"`, `no_such_function(var.client_id)`)})
	_, err := LoadTemplates(dir, "")
	if err == nil {
		t.Fatal("an unknown function was accepted")
	}
	if n := strings.Count(err.Error(), "no_such_function"); n != 1 {
		t.Fatalf("the error names the problem %d times, want once:\n%v", n, err)
	}
}

// A conditional that passes both load-time probes still cannot give a real
// client a job id without its id: Render refuses it.
func TestRenderRefusesAnIDWithoutTheClient(t *testing.T) {
	dir := writeDir(t, map[string]string{"a.nomad.hcl": tmpl("a", `"kg-a-${var.client_id}"`,
		`startswith(var.client_id, "kgplane-probe") ? "kg-a-${var.client_id}" : "kg-a-shared"`)})
	if _, err := LoadTemplates(dir, ""); err == nil {
		t.Fatal("startswith is not a Nomad function; the template should be refused")
	}
	dir = writeDir(t, map[string]string{"a.nomad.hcl": tmpl("a", `"kg-a-${var.client_id}"`,
		`substr(var.client_id, 0, 13) == "kgplane-probe" ? "kg-a-${var.client_id}" : "kg-a-shared"`)})
	set, err := LoadTemplates(dir, "")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	_, err = set.Render(set.Templates[0], ClientVars{ClientID: "af-9", Neo4jDatabase: "af-9", KafkaBrokers: "k:9092"})
	if err == nil || !strings.Contains(err.Error(), "does not contain the client id") {
		t.Fatalf("Render = %v, want a refusal naming the missing client id", err)
	}
}

func TestLoadTemplates(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		vars  string // operator var-file content; "" = no var-file
		// wantErr are substrings of the error, "" = valid. Paths are relative to the dir.
		wantErr []string
	}{
		{
			name:  "valid set",
			files: map[string]string{"a.nomad.hcl": tmpl("a"), "b.nomad.hcl": tmpl("b")},
			vars:  "memory = 256\n",
		},
		{
			name:  "valid without var-file",
			files: map[string]string{"a.nomad.hcl": tmpl("a")},
		},
		{
			name:  "variables block form is accepted",
			files: map[string]string{"a.nomad.hcl": tmpl("a", `variable "memory" {`, "variables {\n  memory = 128\n}\nvariable \"unused\" {")},
			vars:  "memory = 64\n",
		},
		{
			name:    "syntax error reports file:line:col",
			files:   map[string]string{"a.nomad.hcl": tmpl("a", `  type = string`, `  type = = string`)},
			wantErr: []string{"a.nomad.hcl:2:10: "},
		},
		{
			name:    "unclosed block",
			files:   map[string]string{"a.nomad.hcl": tmpl("a") + "job \"x\" {\n"},
			wantErr: []string{"a.nomad.hcl:22:9: Unclosed configuration block"},
		},
		{
			name:    "client_id not declared",
			files:   map[string]string{"a.nomad.hcl": tmpl("a", `variable "client_id" {`, `variable "other" {`)},
			wantErr: []string{`a.nomad.hcl:14:1: variable "client_id" is not declared`},
		},
		{
			name:    "kafka_brokers not declared",
			files:   map[string]string{"a.nomad.hcl": tmpl("a", `variable "kafka_brokers" {`, `variable "brokers" {`)},
			wantErr: []string{`a.nomad.hcl:14:1: variable "kafka_brokers" is not declared`},
		},
		{
			name:    "job id does not reference var.client_id",
			files:   map[string]string{"a.nomad.hcl": tmpl("a", `"kg-a-${var.client_id}"`, `"kg-a-${var.neo4j_database}"`)},
			wantErr: []string{"a.nomad.hcl:15:8: job id does not reference var.client_id"},
		},
		{
			name:    "job id references var.client_id but is constant",
			files:   map[string]string{"a.nomad.hcl": tmpl("a", `"kg-a-${var.client_id}"`, `"kg-a${var.client_id == "" ? "" : ""}"`)},
			wantErr: []string{"a.nomad.hcl:15:8: job id does not contain the client id"},
		},
		{
			// Two probe ids told apart once made this pass: every real client got "kg-a-shared".
			name:    "conditional job id that singles out the probes",
			files:   map[string]string{"a.nomad.hcl": tmpl("a", `"kg-a-${var.client_id}"`, `var.client_id == "kgplane-probe-a" ? "kg-a-${var.client_id}" : "kg-a-shared"`)},
			wantErr: []string{"a.nomad.hcl:15:8: job id does not contain the client id"},
		},
		{
			name:    "job without id",
			files:   map[string]string{"a.nomad.hcl": tmpl("a", `  id = "kg-a-${var.client_id}"`, ``)},
			wantErr: []string{`a.nomad.hcl:14:1: job block has no "id" attribute`},
		},
		{
			name:    "no job block",
			files:   map[string]string{"a.nomad.hcl": tmpl("a", `job "kg-a" {`, `other "kg-a" {`)},
			wantErr: []string{"a.nomad.hcl:1:1: no job block"},
		},
		{
			name:    "two job blocks",
			files:   map[string]string{"a.nomad.hcl": tmpl("a") + "job \"x\" {\n  id = \"x-${var.client_id}\"\n}\n"},
			wantErr: []string{"a.nomad.hcl:22:1: more than one job block"},
		},
		{
			name:    "var-file assigns an undeclared variable",
			files:   map[string]string{"a.nomad.hcl": tmpl("a")},
			vars:    "memory = 64\nimage = \"x\"\n",
			wantErr: []string{`ops.vars.hcl:2:1: variable "image" is not declared in `},
		},
		{
			name:    "var-file variable declared in one template only",
			files:   map[string]string{"a.nomad.hcl": tmpl("a", `variable "memory" {`, "variable \"image\" {\n  default = \"x\"\n}\nvariable \"memory\" {"), "b.nomad.hcl": tmpl("b")},
			vars:    "image = \"y\"\n",
			wantErr: []string{`ops.vars.hcl:1:1: variable "image" is not declared in `, "b.nomad.hcl"},
		},
		{
			name:    "var-file sets a control-plane variable",
			files:   map[string]string{"a.nomad.hcl": tmpl("a")},
			vars:    "client_id = \"af-9\"\n",
			wantErr: []string{`ops.vars.hcl:1:1: variable "client_id" is set by the control plane`},
		},
		{
			name:    "var-file value of the wrong type",
			files:   map[string]string{"a.nomad.hcl": tmpl("a")},
			vars:    "memory = \"lots\"\n",
			wantErr: []string{`ops.vars.hcl:1:10: value of variable "memory" does not match its type`},
		},
		{
			name:    "var-file syntax error",
			files:   map[string]string{"a.nomad.hcl": tmpl("a")},
			vars:    "memory = \n",
			wantErr: []string{"ops.vars.hcl:1:"},
		},
		{
			name:    "var-file with a block",
			files:   map[string]string{"a.nomad.hcl": tmpl("a")},
			vars:    "memory {\n}\n",
			wantErr: []string{"ops.vars.hcl:1:"},
		},
		{
			name:    "variable without default or value",
			files:   map[string]string{"a.nomad.hcl": tmpl("a", "  default = 128\n", "")},
			wantErr: []string{`a.nomad.hcl:10:1: variable "memory" has no value`},
		},
		{
			name:    "variable block with an argument Nomad rejects",
			files:   map[string]string{"a.nomad.hcl": tmpl("a", "  default = 128\n", "  default = 128\n  sensitive = true\n")},
			wantErr: []string{`a.nomad.hcl:13:3: Unsupported argument`},
		},
		{
			name:    "default of the wrong type",
			files:   map[string]string{"a.nomad.hcl": tmpl("a", "default = 128", `default = "x"`)},
			wantErr: []string{`a.nomad.hcl:12:13: default of variable "memory" does not match its type`},
		},
		{
			name:    "two templates name the same job",
			files:   map[string]string{"a.nomad.hcl": tmpl("a"), "b.nomad.hcl": tmpl("b", `"kg-b-${var.client_id}"`, `"kg-a-${var.client_id}"`)},
			wantErr: []string{"b.nomad.hcl:15:8: job id used by two templates"},
		},
		{
			name:    "every problem is reported",
			files:   map[string]string{"a.nomad.hcl": tmpl("a", `job "kg-a" {`, `other "kg-a" {`), "b.nomad.hcl": tmpl("b", `variable "client_id" {`, `variable "other" {`)},
			wantErr: []string{"a.nomad.hcl:1:1: no job block", `b.nomad.hcl:14:1: variable "client_id" is not declared`},
		},
		{
			name:    "empty directory",
			files:   map[string]string{"README.md": "not a template"},
			wantErr: []string{"no *.nomad.hcl file"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeDir(t, tc.files)
			varsFile := ""
			if tc.vars != "" {
				varsFile = filepath.Join(dir, "ops.vars.hcl")
				if err := os.WriteFile(varsFile, []byte(tc.vars), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			set, err := LoadTemplates(dir, varsFile)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("LoadTemplates: %v", err)
				}
				var names []string
				for _, tp := range set.Templates {
					names = append(names, tp.Name)
					if len(tp.SHA) != 64 || len(tp.Source) == 0 {
						t.Errorf("template %s: SHA %q, %d source bytes", tp.Name, tp.SHA, len(tp.Source))
					}
				}
				if len(names) != len(tc.files) || !slices.IsSorted(names) {
					t.Errorf("templates %v, want %d sorted", names, len(tc.files))
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadTemplates succeeded, want an error containing %q", tc.wantErr)
			}
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			for _, want := range tc.wantErr {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q\ndoes not contain %q", msg, want)
				}
			}
			if len(tc.files) > 0 && tc.files["README.md"] == "" {
				var de *DiagnosticsError
				if !errors.As(err, &de) {
					t.Errorf("error %T is not a *DiagnosticsError", err)
				} else if ErrorKind(err) != KindParse {
					t.Errorf("ErrorKind = %q, want parse", ErrorKind(err))
				}
			}
		})
	}
}

func TestLoadTemplatesMissingVarFile(t *testing.T) {
	dir := writeDir(t, map[string]string{"a.nomad.hcl": tmpl("a")})
	if _, err := LoadTemplates(dir, filepath.Join(dir, "nope.hcl")); err == nil || !strings.Contains(err.Error(), "nope.hcl") {
		t.Fatalf("err = %v, want one naming the missing var-file", err)
	}
}

func TestTemplateSHAFollowsTemplateAndVarFile(t *testing.T) {
	dir := writeDir(t, map[string]string{"a.nomad.hcl": tmpl("a")})
	vars := filepath.Join(dir, "ops.vars.hcl")
	sha := func() string {
		t.Helper()
		set, err := LoadTemplates(dir, vars)
		if err != nil {
			t.Fatal(err)
		}
		return set.Templates[0].SHA
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ops.vars.hcl", "memory = 64\n")
	first := sha()
	if again := sha(); again != first {
		t.Fatalf("SHA not stable: %s then %s", first, again)
	}
	write("ops.vars.hcl", "memory = 65\n")
	second := sha()
	if second == first {
		t.Error("editing the var-file did not change the SHA")
	}
	write("a.nomad.hcl", tmpl("a")+"# a comment\n")
	if third := sha(); third == second {
		t.Error("editing the template did not change the SHA")
	}
}

// The shipped templates must validate with both shipped var-files.
func TestShippedJobspecsValidate(t *testing.T) {
	for _, vars := range []string{"../jobspecs/vars/dev.vars.hcl", "../jobspecs/vars/production.example.vars.hcl"} {
		t.Run(filepath.Base(vars), func(t *testing.T) {
			set, err := LoadTemplates("../jobspecs", vars)
			if err != nil {
				t.Fatalf("LoadTemplates: %v", err)
			}
			var names []string
			for _, tp := range set.Templates {
				names = append(names, tp.Name)
			}
			want := []string{"event-normalizer", "graph-builder", "log-normalizer"}
			if !slices.Equal(names, want) {
				t.Fatalf("templates %v, want %v", names, want)
			}
			for _, tp := range set.Templates {
				r, err := set.Render(tp, ClientVars{ClientID: "af-9", Neo4jDatabase: "af-9", KafkaBrokers: "127.0.0.1:9092"})
				if err != nil {
					t.Fatalf("Render %s: %v", tp.Name, err)
				}
				if want := "kg-" + tp.Name + "-af-9"; r.JobID != want {
					t.Errorf("JobID = %q, want %q", r.JobID, want)
				}
			}
		})
	}
}

// nomadFunctions are the Nomad HCL2 functions the shipped validation blocks use,
// under Nomad's names (they are go-cty's stdlib functions, as in Nomad).
func nomadFunctions() map[string]function.Function {
	return map[string]function.Function{
		"strlen":        stdlib.StrlenFunc,
		"regex_replace": stdlib.RegexReplaceFunc,
		"contains":      stdlib.ContainsFunc,
		"can":           tryfunc.CanFunc,
	}
}

// The client_id validation block of each shipped template must accept exactly
// what clientid.Validate accepts, since Nomad's HCL2 has no regex() and the
// rule is rebuilt from regex_replace and strlen.
func TestShippedClientIDValidationMatchesGo(t *testing.T) {
	ids := []string{
		"af-9", "test-client-001", "abc", "a1b", strings.Repeat("a", 63),
		"", "a", "ab", "a-", "ab-", "-ab", "9ab", "Af-9", "af_9", "af 9", "af.9", "af-9\n",
		strings.Repeat("a", 64), "af-9-", "a--b", "é-ab", "ab\x00c",
	}
	paths, err := filepath.Glob("../jobspecs/*" + TemplateExt)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no shipped templates: %v", err)
	}
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := hclparse.NewParser().ParseHCL(src, path)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		var cond hcl.Expression
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			if b.Type == "variable" && b.Labels[0] == VarClientID {
				for _, vb := range b.Body.Blocks {
					if vb.Type == "validation" {
						cond = vb.Body.Attributes["condition"].Expr
					}
				}
			}
		}
		if cond == nil {
			t.Fatalf("%s: variable client_id has no validation condition", path)
		}
		for _, id := range ids {
			ctx := &hcl.EvalContext{
				Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{VarClientID: cty.StringVal(id)})},
				Functions: nomadFunctions(),
			}
			v, diags := cond.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("%s: condition for %q: %v", path, id, diags)
			}
			if got, want := v.True(), clientid.Validate(id) == nil; got != want {
				t.Errorf("%s: validation of %q = %v, clientid.Validate says %v", path, id, got, want)
			}
		}
	}
}
