package embedded

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/joho/godotenv"

	"github.com/kgrca/kgplane/nomad"
)

// envKey is a name an environment variable may have.
var envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// Variables stands in for Nomad Variables, which the embedded backend cannot
// read: it returns the items stored at a path, and whether the path exists.
type Variables func(path string) (map[string]string, bool)

// templateFuncs is the part of consul-template's function set that task
// templates may use here. Nomad's template runner has many more (service,
// key, secret, ...): a template that calls one fails to parse, and the task
// fails with that message in its log, rather than run with a different file.
func templateFuncs(env map[string]string, vars Variables) template.FuncMap {
	return template.FuncMap{
		"env":            func(k string) string { return env[k] },
		"split":          func(sep, s string) []string { return strings.Split(s, sep) },
		"join":           func(sep string, l []string) string { return strings.Join(l, sep) },
		"toUpper":        strings.ToUpper,
		"toLower":        strings.ToLower,
		"trimSpace":      strings.TrimSpace,
		"replaceAll":     func(from, to, s string) string { return strings.ReplaceAll(s, from, to) },
		"contains":       func(sub, s string) bool { return strings.Contains(s, sub) },
		"nomadVarExists": func(path string) bool { _, ok := vars(path); return ok },
		"nomadVar": func(path string) (map[string]string, error) {
			items, ok := vars(path)
			if !ok {
				// Nomad would block the task until the variable exists.
				return nil, fmt.Errorf("nomadVar %q: no such variable (Nomad would wait for it; guard the lookup with nomadVarExists)", path)
			}
			return items, nil
		},
	}
}

// renderTemplates renders a task's template blocks into its task dir and
// returns the environment of those with env = true.
func renderTemplates(tmpls []nomad.TaskTemplate, taskDir string, env map[string]string, vars Variables) (map[string]string, error) {
	out := map[string]string{}
	for i, tt := range tmpls {
		data := tt.Data
		if tt.Source != "" {
			src := interpolate(tt.Source, env)
			if !filepath.IsAbs(src) {
				src = filepath.Join(taskDir, src)
			}
			b, err := os.ReadFile(src)
			if err != nil {
				return nil, fmt.Errorf("template %d: reading its source: %w", i+1, err)
			}
			data = string(b)
		}
		tmpl, err := template.New(tt.Destination).Delims(tt.LeftDelim, tt.RightDelim).Funcs(templateFuncs(env, vars)).Parse(data)
		if err != nil {
			return nil, fmt.Errorf("template %d (%s): %w", i+1, tt.Destination, err)
		}
		var b strings.Builder
		if err := tmpl.Execute(&b, nil); err != nil {
			return nil, fmt.Errorf("template %d (%s): %w", i+1, tt.Destination, err)
		}
		dest := interpolate(tt.Destination, env)
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(taskDir, dest)
		}
		if !strings.HasPrefix(filepath.Clean(dest), filepath.Clean(taskDir)+string(filepath.Separator)) {
			return nil, fmt.Errorf("template %d: destination %s is outside the task directory", i+1, tt.Destination)
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
			return nil, fmt.Errorf("template %d: %w", i+1, err)
		}
		if err := os.WriteFile(dest, []byte(b.String()), 0o600); err != nil {
			return nil, fmt.Errorf("template %d: writing %s: %w", i+1, dest, err)
		}
		if tt.Env {
			kv, err := godotenv.Unmarshal(b.String())
			if err != nil {
				return nil, fmt.Errorf("template %d (%s) has env = true but is not an env file: %w", i+1, tt.Destination, err)
			}
			for k, v := range kv {
				// godotenv reads "junk" as the value of an empty key; Nomad's
				// parser refuses a line without KEY=.
				if !envKey.MatchString(k) {
					return nil, fmt.Errorf("template %d (%s) has env = true but is not an env file: %q is not KEY=VALUE", i+1, tt.Destination, strings.TrimSpace(k+" "+v))
				}
				out[k] = v
			}
		}
	}
	return out, nil
}
