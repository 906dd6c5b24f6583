package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindRealCorpus(t *testing.T) {
	// Default: ../shared/real-corpus beside the repository root found by go.mod.
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	pkg := filepath.Join(repo, "workers", "x")
	want := filepath.Join(base, "shared", "real-corpus")
	for _, d := range []string{pkg, want} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(RealCorpusEnv, "")
	got, explicit, err := FindRealCorpus(pkg)
	if err != nil || explicit || filepath.Clean(got) != want {
		t.Fatalf("FindRealCorpus = %q, %v, %v; want %q", got, explicit, err, want)
	}

	// Absent: an error that says where it looked and how to point elsewhere.
	if err := os.Remove(want); err != nil {
		t.Fatal(err)
	}
	if _, _, err := FindRealCorpus(pkg); err == nil || !strings.Contains(err.Error(), RealCorpusEnv) {
		t.Fatalf("absent corpus: err %v", err)
	}

	// The environment variable overrides, and is reported as explicit.
	other := t.TempDir()
	t.Setenv(RealCorpusEnv, other)
	if got, explicit, err := FindRealCorpus(pkg); err != nil || !explicit || got != other {
		t.Fatalf("with %s: %q, %v, %v", RealCorpusEnv, got, explicit, err)
	}
	t.Setenv(RealCorpusEnv, filepath.Join(other, "missing"))
	if _, explicit, err := FindRealCorpus(pkg); err == nil || !explicit {
		t.Fatalf("missing explicit corpus: %v, %v", explicit, err)
	}
}
