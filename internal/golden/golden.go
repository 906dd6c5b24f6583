// Package golden runs the normalizers' golden-file tests: every record of a
// corpus folder is normalized and compared with its reviewed .golden file.
package golden

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Corpus returns the records dir/*.json keyed by file base name, failing the
// test when there are fewer than min.
func Corpus(t testing.TB, dir string, min int) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < min {
		t.Fatalf("corpus %s has %d records, want at least %d", dir, len(files), min)
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

// Normalize is a normalizer under test: eventnorm.Normalize, lognorm.Normalize.
type Normalize func(keyID string, raw []byte) (id string, out []byte, err error)

// DecodeID decodes an output into the normalizer's own type and returns the id
// it carries, so the test proves outputs decode and agree with the returned id.
type DecodeID func(out []byte) (string, error)

// Check normalizes every record of dir (the Kafka key uid is the file name) and
// compares the output, indented for review, or "error: <reason>" for a record
// that must be dead-lettered (files named bad-*), with dir/<name>.golden.
// update rewrites the .golden files instead.
func Check(t *testing.T, dir string, min int, normalize Normalize, decode DecodeID, update bool) {
	for name, raw := range Corpus(t, dir, min) {
		t.Run(name, func(t *testing.T) {
			id, out, err := normalize(name, raw)
			if strings.HasPrefix(name, "bad-") {
				if err == nil {
					t.Fatalf("want an error for %s, got %s", name, out)
				}
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			got := render(t, id, out, err, decode)
			path := filepath.Join(dir, name+".golden")
			if update {
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

func render(t *testing.T, id string, out []byte, err error, decode DecodeID) []byte {
	t.Helper()
	if err != nil {
		return []byte("error: " + err.Error() + "\n")
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "  "); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	buf.WriteByte('\n')
	got, err := decode(out)
	if err != nil {
		t.Fatalf("output does not decode: %v", err)
	}
	if got != id {
		t.Fatalf("returned id %q, the output carries %q", id, got)
	}
	return buf.Bytes()
}
