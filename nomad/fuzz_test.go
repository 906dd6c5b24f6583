package nomad

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadTemplate feeds arbitrary template and var-file bytes to the loader
// and, when they load, renders and evaluates them (as the embedded backend
// does): nothing may panic, a refusal must be a *DiagnosticsError, a rendered
// job id must be non-empty and an evaluated job must have that id.
func FuzzLoadTemplate(f *testing.F) {
	paths, _ := filepath.Glob("../jobspecs/*" + TemplateExt)
	dev, _ := os.ReadFile("../jobspecs/vars/dev.vars.hcl")
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src, dev)
	}
	f.Add([]byte(tmpl("a")), []byte("memory = 1\n"))
	f.Add([]byte(tmpl("a", `"kg-a-${var.client_id}"`, `"${var.client_id == "x" ? "a" : "b"}"`)), []byte(""))
	f.Add([]byte("job \"x\" {\n  id = var.client_id\n}\n"), []byte("client_id = 1"))
	f.Add([]byte("variables {\n client_id = 1\n}\njob \"x\" { id = \"${var.client_id}\" }"), []byte("x = [1, {a = 2}]"))
	f.Add([]byte("\xff\xfe{"), []byte("\x00"))
	f.Add([]byte(tmpl("a")+"\nlocals {\n  a = local.b\n  b = local.a\n}\n"), []byte(""))
	f.Add([]byte(tmpl("a")+"\nlocals {\n  x = upper(var.client_id)\n}\n"), []byte(""))

	f.Fuzz(func(t *testing.T, src, vars []byte) {
		set, err := loadSources([]sourceFile{{path: "fuzz.nomad.hcl", src: src}}, "fuzz.vars.hcl", vars)
		if err != nil {
			var de *DiagnosticsError
			if !errors.As(err, &de) {
				t.Fatalf("refusal is %T, not a *DiagnosticsError: %v", err, err)
			}
			_ = err.Error()
			return
		}
		r, err := set.Render(set.Templates[0], ClientVars{ClientID: "af-9", Neo4jDatabase: "af-9", KafkaBrokers: "127.0.0.1:9092"})
		if err != nil {
			return
		}
		if r.JobID == "" {
			t.Fatal("rendered an empty job id")
		}
		if job, err := r.Job(); err == nil && job.ID != r.JobID {
			t.Fatalf("evaluated job id %q, rendered %q", job.ID, r.JobID)
		}
	})
}
