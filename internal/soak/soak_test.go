package soak

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kgrca/kgplane/internal/testinfra"
)

// TestSoakShort is the short soak `make test` runs: four clients publishing
// through two control planes, their workers and a private Kafka and Neo4j,
// while workers and the leading plane are SIGKILLed, a client goes silent
// past the stale threshold and comes back, and poison records of every kind
// arrive in every input topic. It fails on any loss or leak the checks find
// (the table is logged). `make soak` runs the full version.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("the short soak starts a private Kafka and Neo4j and runs the whole system for about 3 minutes")
	}
	testinfra.KafkaBrokers(t) // the services (and so their jars) are expected: skip or fail like every integration test
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "../../cmd/kg-control-plane", "../../cmd/kg-worker")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the binaries: %v\n%s", err, out)
	}
	cfg := Short()
	cfg.Root, cfg.BinDir = root, bin
	cfg.RunDir = t.TempDir()
	cfg.CacheDir = os.Getenv("KG_CACHE_DIR")
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(root, ".cache")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var progress strings.Builder
	rep, err := Run(ctx, cfg, &logWriter{t: t, buf: &progress})
	if rep != nil && len(rep.Rows) > 0 {
		var table strings.Builder
		rep.Write(&table)
		t.Log(table.String())
	}
	if err != nil {
		t.Fatalf("the soak could not run: %v (its logs: %s)", err, cfg.RunDir)
	}
	if !rep.OK() {
		t.Fatalf("the soak found %d problems:\n%s", len(rep.Failures()), strings.Join(rep.Failures(), "\n"))
	}
}

// logWriter passes the soak's progress lines to the test log.
type logWriter struct {
	t   *testing.T
	buf *strings.Builder
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	fmt.Fprint(w.buf, string(p))
	return len(p), nil
}
