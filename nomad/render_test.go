package nomad

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"

	"github.com/kgrca/kgplane/clientid"
)

func loadShipped(t testing.TB) *TemplateSet {
	t.Helper()
	set, err := LoadTemplates("../jobspecs", "../jobspecs/vars/dev.vars.hcl")
	if err != nil {
		t.Fatalf("LoadTemplates: %v", err)
	}
	return set
}

func lookup(t testing.TB, set *TemplateSet, name string) Template {
	t.Helper()
	tp, ok := set.Lookup(name)
	if !ok {
		t.Fatalf("no template %s", name)
	}
	return tp
}

// parseVarFile parses var-file text the way Nomad reads one: attributes only.
func parseVarFile(t *testing.T, text string) map[string]cty.Value {
	t.Helper()
	f, diags := hclparse.NewParser().ParseHCL([]byte(text), "vars.hcl")
	if diags.HasErrors() {
		t.Fatalf("rendered Variables do not parse: %v\n%s", diags, text)
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		t.Fatalf("rendered Variables: %v\n%s", diags, text)
	}
	out := map[string]cty.Value{}
	for name, a := range attrs {
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			t.Fatalf("variable %s: %v", name, diags)
		}
		out[name] = v
	}
	return out
}

func TestRender(t *testing.T) {
	set := loadShipped(t)
	tp := lookup(t, set, "event-normalizer")
	r, err := set.Render(tp, ClientVars{ClientID: "af-9", Neo4jDatabase: "af-9-db", KafkaBrokers: "k1:9092,k2:9092"})
	if err != nil {
		t.Fatal(err)
	}
	if r.JobID != "kg-event-normalizer-af-9" {
		t.Errorf("JobID = %q", r.JobID)
	}
	if r.ClientID != "af-9" || r.HCL != string(tp.Source) || r.Template.SHA != tp.SHA {
		t.Errorf("Rendered carries ClientID %q, %d HCL bytes, SHA %s", r.ClientID, len(r.HCL), r.Template.SHA)
	}
	if !strings.HasPrefix(r.Variables, string(set.VarsSource)) || r.OperatorVariables != string(set.VarsSource) {
		t.Error("Variables does not start with the operator var-file, or OperatorVariables is not it")
	}
	vars := parseVarFile(t, r.Variables)
	want := map[string]string{
		VarClientID:      "af-9",
		VarNeo4jDatabase: "af-9-db",
		VarKafkaBrokers:  "k1:9092,k2:9092",
		"driver":         "raw_exec", // from dev.vars.hcl
	}
	for name, w := range want {
		if v, ok := vars[name]; !ok || v.AsString() != w {
			t.Errorf("Variables: %s = %#v, want %q", name, v, w)
		}
	}
	if wantMap := map[string]string{VarClientID: "af-9", VarNeo4jDatabase: "af-9-db", VarKafkaBrokers: "k1:9092,k2:9092"}; !maps.Equal(r.VariableMap, wantMap) {
		t.Errorf("VariableMap = %v, want %v", r.VariableMap, wantMap)
	}
	meta := r.Meta()
	if meta[MetaManagedBy] != "kgplane" || meta[MetaClient] != "af-9" || meta[MetaTemplate] != "event-normalizer" || meta[MetaTemplateSHA] != r.SHA() || len(r.SHA()) != 64 {
		t.Errorf("Meta = %v", meta)
	}
}

func TestRenderWithoutVarFile(t *testing.T) {
	dir := writeDir(t, map[string]string{"a.nomad.hcl": tmpl("a")})
	set, err := LoadTemplates(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := set.Render(set.Templates[0], ClientVars{ClientID: "af-9", Neo4jDatabase: "af-9", KafkaBrokers: "b:9092"})
	if err != nil {
		t.Fatal(err)
	}
	if vars := parseVarFile(t, r.Variables); len(vars) != 3 || vars[VarClientID].AsString() != "af-9" {
		t.Errorf("Variables = %q", r.Variables)
	}
	if r.OperatorVariables != "" {
		t.Errorf("OperatorVariables = %q, want empty", r.OperatorVariables)
	}
}

// A var-file without a final newline must not glue its last line to ours.
func TestRenderVarFileWithoutTrailingNewline(t *testing.T) {
	dir := writeDir(t, map[string]string{"a.nomad.hcl": tmpl("a"), "ops.hcl": "memory = 99"})
	set, err := LoadTemplates(dir, dir+"/ops.hcl")
	if err != nil {
		t.Fatal(err)
	}
	r, err := set.Render(set.Templates[0], ClientVars{ClientID: "af-9", Neo4jDatabase: "af-9", KafkaBrokers: "b:9092"})
	if err != nil {
		t.Fatal(err)
	}
	vars := parseVarFile(t, r.Variables)
	if n, _ := vars["memory"].AsBigFloat().Int64(); n != 99 || vars[VarClientID].AsString() != "af-9" {
		t.Errorf("Variables = %q", r.Variables)
	}
}

// Values are written with hclwrite, so quotes, backslashes and "${" survive
// as data and cannot inject HCL.
func TestRenderEscapesValues(t *testing.T) {
	set := loadShipped(t)
	tricky := "db\"\n${var.driver}%{if true}x%{endif}\\"
	r, err := set.Render(lookup(t, set, "graph-builder"), ClientVars{ClientID: "af-9", Neo4jDatabase: tricky, KafkaBrokers: "b:9092\ninjected = 1"})
	if err != nil {
		t.Fatal(err)
	}
	vars := parseVarFile(t, r.Variables)
	if got := vars[VarNeo4jDatabase].AsString(); got != tricky {
		t.Errorf("neo4j_database round-tripped as %q, want %q", got, tricky)
	}
	if _, injected := vars["injected"]; injected {
		t.Error("a newline in kafka_brokers injected a variable")
	}
}

func TestRenderRefusesInvalidInput(t *testing.T) {
	set := loadShipped(t)
	tp := lookup(t, set, "log-normalizer")
	cases := []struct {
		name string
		vars ClientVars
	}{
		{"uppercase", ClientVars{ClientID: "AF-9", Neo4jDatabase: "x", KafkaBrokers: "b"}},
		{"empty", ClientVars{ClientID: "", Neo4jDatabase: "x", KafkaBrokers: "b"}},
		{"too short", ClientVars{ClientID: "a", Neo4jDatabase: "x", KafkaBrokers: "b"}},
		{"trailing hyphen", ClientVars{ClientID: "af-", Neo4jDatabase: "x", KafkaBrokers: "b"}},
		{"hcl injection", ClientVars{ClientID: "af-9\"\ndriver = \"docker", Neo4jDatabase: "x", KafkaBrokers: "b"}},
		{"interpolation", ClientVars{ClientID: "${var.image}", Neo4jDatabase: "x", KafkaBrokers: "b"}},
		{"no database", ClientVars{ClientID: "af-9", KafkaBrokers: "b"}},
		{"no brokers", ClientVars{ClientID: "af-9", Neo4jDatabase: "x"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := set.Render(tp, tc.vars)
			if err == nil {
				t.Fatalf("Render succeeded with job %q", r.JobID)
			}
			if r.JobID != "" || r.Variables != "" {
				t.Errorf("a refused render returned %+v", r)
			}
		})
	}
	_, err := set.Render(tp, ClientVars{ClientID: "AF-9", Neo4jDatabase: "x", KafkaBrokers: "b"})
	var inv *clientid.InvalidError
	if !errors.As(err, &inv) {
		t.Errorf("error %v does not wrap clientid.InvalidError", err)
	}
}

func TestRenderRefusesForeignTemplate(t *testing.T) {
	set := loadShipped(t)
	if _, err := set.Render(Template{Name: "hand-made", Source: []byte(tmpl("x"))}, ClientVars{ClientID: "af-9", Neo4jDatabase: "x", KafkaBrokers: "b"}); err == nil {
		t.Fatal("Render accepted a template LoadTemplates did not produce")
	}
}

// A job id built from other variables too is evaluated with the operator's values.
func TestRenderJobIDUsesOperatorVariables(t *testing.T) {
	src := tmpl("a", `"kg-a-${var.client_id}"`, `"${var.prefix}-${var.client_id}"`, `variable "memory" {`, "variable \"prefix\" {\n  default = \"dflt\"\n}\nvariable \"memory\" {")
	dir := writeDir(t, map[string]string{"a.nomad.hcl": src, "ops.hcl": "prefix = \"prod\"\n"})
	for _, tc := range []struct{ vars, want string }{{"", "dflt-af-9"}, {dir + "/ops.hcl", "prod-af-9"}} {
		set, err := LoadTemplates(dir, tc.vars)
		if err != nil {
			t.Fatal(err)
		}
		r, err := set.Render(set.Templates[0], ClientVars{ClientID: "af-9", Neo4jDatabase: "x", KafkaBrokers: "b"})
		if err != nil {
			t.Fatal(err)
		}
		if r.JobID != tc.want {
			t.Errorf("vars %q: JobID = %q, want %q", tc.vars, r.JobID, tc.want)
		}
	}
}

// The control plane renders from several goroutines with one TemplateSet.
func TestRenderConcurrently(t *testing.T) {
	set := loadShipped(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8*len(set.Templates))
	for i := range 8 {
		for _, tp := range set.Templates {
			wg.Go(func() {
				id := fmt.Sprintf("client-%d", i)
				r, err := set.Render(tp, ClientVars{ClientID: id, Neo4jDatabase: id, KafkaBrokers: "b:9092"})
				if err == nil && r.JobID != "kg-"+tp.Name+"-"+id {
					err = fmt.Errorf("JobID %q for %s", r.JobID, id)
				}
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
