package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Usage errors exit 2 with what to do, before anything connects.
func TestRunUsage(t *testing.T) {
	empty := t.TempDir()
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "x.jsonl"), []byte("{\"scenario\": \"x\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return map[string]string{"NEO4J_URI": "bolt://127.0.0.1:1"}[k] }
	for _, c := range []struct {
		args []string
		says string
	}{
		{nil, "--dir is required"},
		{[]string{"--dir", empty}, "no scenario files"},
		{[]string{"--dir", bad}, "x.jsonl: line 1"},
		{[]string{"--dir", empty, "extra"}, "--dir is required"},
		{[]string{"--nope"}, "flag provided but not defined"},
	} {
		var out, errb bytes.Buffer
		code, err := run(context.Background(), c.args, &out, &errb, getenv)
		if code != 2 || err == nil || !strings.Contains(err.Error()+errb.String(), c.says) {
			t.Errorf("%q: code %d, err %v, stderr %q; want 2 saying %q", c.args, code, err, errb.String(), c.says)
		}
	}
}
