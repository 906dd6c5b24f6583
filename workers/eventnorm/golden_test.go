package eventnorm

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files from the current output")

// corpus returns the raw events of testdata/events, keyed by file base name.
func corpus(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("corpus has %d events, want at least 30", len(files))
	}
	m := make(map[string][]byte, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m[strings.TrimSuffix(filepath.Base(f), ".json")] = b
	}
	return m
}

// render is what a .golden file holds: the normalized event indented for
// review, or "error: <reason>" for a record that must be dead-lettered.
func render(t *testing.T, id string, out []byte, err error) []byte {
	t.Helper()
	if err != nil {
		return []byte("error: " + err.Error() + "\n")
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "  "); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	buf.WriteByte('\n')
	var ev Event
	if err := json.Unmarshal(out, &ev); err != nil {
		t.Fatalf("output does not decode into Event: %v", err)
	}
	if ev.EventID != id {
		t.Fatalf("returned id %q, output event_id %q", id, ev.EventID)
	}
	return buf.Bytes()
}

// TestGolden normalizes every corpus event (the Kafka key uid is the file
// name) and compares with its .golden file; go test -run TestGolden -update
// rewrites them. The golden files are the reviewed specification.
func TestGolden(t *testing.T) {
	for name, raw := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			id, out, err := Normalize(name, raw)
			if strings.HasPrefix(name, "bad-") {
				if err == nil {
					t.Fatalf("want an error for %s, got %s", name, out)
				}
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			got := render(t, id, out, err)
			path := filepath.Join("testdata", "events", name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s\n got: %s\nwant: %s", path, got, want)
			}
		})
	}
}
