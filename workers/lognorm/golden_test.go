package lognorm

import (
	"encoding/json"
	"flag"
	"path/filepath"
	"testing"

	"github.com/kgrca/kgplane/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the .golden files from the current output")

var corpusDir = filepath.Join("testdata", "logs")

// corpus returns the raw log records of testdata/logs, keyed by file base name.
func corpus(t testing.TB) map[string][]byte { return golden.Corpus(t, corpusDir, 30) }

// TestGolden: go test -run TestGolden -update rewrites the .golden files,
// which are the reviewed specification.
func TestGolden(t *testing.T) {
	golden.Check(t, corpusDir, 30, Normalize, func(out []byte) (string, error) {
		var l Log
		err := json.Unmarshal(out, &l)
		return l.LogID, err
	}, *update)
}
