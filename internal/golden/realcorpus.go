package golden

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// RealCorpusEnv names the environment variable that overrides where the
// real-record corpus is (a folder with events/ and logs/).
const RealCorpusEnv = "KG_REAL_CORPUS"

// FindRealCorpus returns the real-record corpus folder: $KG_REAL_CORPUS when
// set (explicit is then true), else ../shared/real-corpus beside the root of
// the repository holding dir (the folder with go.mod at or above dir). It
// returns an error when the folder does not exist.
func FindRealCorpus(dir string) (corpus string, explicit bool, err error) {
	if env := os.Getenv(RealCorpusEnv); env != "" {
		corpus, explicit = env, true
	} else {
		root, err := repoRoot(dir)
		if err != nil {
			return "", false, err
		}
		corpus = filepath.Join(root, "..", "shared", "real-corpus")
	}
	if fi, err := os.Stat(corpus); err != nil || !fi.IsDir() {
		return corpus, explicit, fmt.Errorf("real-record corpus %s is not a folder (set %s to where it is)", corpus, RealCorpusEnv)
	}
	return corpus, explicit, nil
}

// repoRoot is the nearest folder at or above dir that holds go.mod.
func repoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod at or above %s", dir)
		}
		d = parent
	}
}

// RealCorpus returns the records of the real-record corpus's sub folder
// (events, logs) keyed by file base name. The corpus lives beside the
// repository, never in it; a test that needs it skips, saying where it
// looked, when it is absent, and fails when $KG_REAL_CORPUS names a folder
// that is not there or sub is empty.
func RealCorpus(t testing.TB, sub string) map[string][]byte {
	t.Helper()
	corpus, explicit, err := FindRealCorpus(".")
	if err != nil {
		if explicit {
			t.Fatal(err)
		}
		t.Skipf("skipped: %v", err)
	}
	return Corpus(t, filepath.Join(corpus, sub), 1)
}

// RunRealCorpus runs check on every record of the real corpus's sub folder
// (see RealCorpus), in name order, each in its own subtest, after failing
// for any name in expected (the records the test has expectations or
// refusals for) that the corpus lacks. check reports whether it accepted
// the record; the counts are logged.
func RunRealCorpus(t *testing.T, sub string, expected []string, check func(t *testing.T, name string, raw []byte) (accepted bool)) {
	t.Helper()
	records := RealCorpus(t, sub)
	for _, name := range expected {
		if _, ok := records[name]; !ok {
			t.Errorf("expectation for %s/%s, which the corpus does not have", sub, name)
		}
	}
	names := slices.Sorted(maps.Keys(records))
	var accepted, refused int
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if check(t, name, records[name]) {
				accepted++
			} else {
				refused++
			}
		})
	}
	t.Logf("real %s: %d accepted, %d refused (of %d)", sub, accepted, refused, len(records))
}

// Want reports (without stopping the test) a field that differs from what
// a real record must normalize to.
func Want[T comparable](t testing.TB, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
