package scheduler

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/nomad"
)

type recordingTarget struct {
	mu     sync.Mutex
	sets   []*nomad.TemplateSet
	errors []error
}

func (r *recordingTarget) SetTemplates(ts *nomad.TemplateSet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sets = append(r.sets, ts)
}
func (r *recordingTarget) TemplateLoadFailed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, err)
}
func (r *recordingTarget) TemplateLoaded() {}
func (r *recordingTarget) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sets), len(r.errors)
}

// settled waits until neither count has changed for quiet (a watcher
// that has handled every event it was sent) and returns them.
func (r *recordingTarget) settled(t *testing.T, quiet time.Duration) (int, int) {
	t.Helper()
	n, e := r.counts()
	since := time.Now()
	testutil.Eventually(t, 10*time.Second, "the template watcher to settle", func() bool {
		if n2, e2 := r.counts(); n2 != n || e2 != e {
			n, e, since = n2, e2, time.Now()
		}
		return time.Since(since) >= quiet
	})
	return n, e
}

// writeAtomic replaces path by rename, as editors do, so that the watcher
// never reads a half-written file: os.WriteFile truncates, then writes, and
// a reload between the two would see an empty template.
func writeAtomic(t *testing.T, path, s string) {
	t.Helper()
	tmp := path + ".tmp"
	writeFile(t, tmp, s)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func copyJobspecs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files, _ := filepath.Glob("../jobspecs/*.nomad.hcl")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, filepath.Base(f)), string(b))
	}
	return dir
}

func TestWatchTemplatesReloadsValidEditsAndKeepsLastGoodSet(t *testing.T) {
	dir := copyJobspecs(t)
	target := &recordingTarget{}
	hup := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		WatchTemplates(ctx, WatchConfig{Dir: dir, Debounce: 20 * time.Millisecond, Reload: hup,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, target)
	}()
	defer func() { cancel(); <-done }()

	path := filepath.Join(dir, "event-normalizer.nomad.hcl")
	src, _ := os.ReadFile(path)
	// A valid edit is handed over. The watcher may not be listening yet at the
	// first write, so keep touching the file until the reload shows up.
	edited := strings.Replace(string(src), "memory = var.memory", "memory = var.memory + 64", 1)
	lastWrite := time.Time{}
	testutil.Eventually(t, 5*time.Second, "a valid edit reloaded", func() bool {
		if time.Since(lastWrite) > 500*time.Millisecond { // well past the debounce
			writeAtomic(t, path, edited)
			lastWrite = time.Now()
		}
		n, _ := target.counts()
		return n >= 1
	})
	target.mu.Lock()
	got := target.sets[len(target.sets)-1]
	target.mu.Unlock()
	tpl, _ := got.Lookup("event-normalizer")
	if !strings.Contains(string(tpl.Source), "var.memory + 64") {
		t.Fatal("the reloaded set does not carry the edit")
	}

	// A broken edit is refused with file:line:col and nothing is handed over.
	// Counts are taken once the watcher is quiet: a touch of the loop above
	// may still be on its way to a reload of the valid file.
	sets, errs := target.settled(t, 100*time.Millisecond)
	writeAtomic(t, path, edited+"\njob \"broken\" {\n")
	testutil.Eventually(t, 5*time.Second, "a broken edit rejected", func() bool { _, e := target.counts(); return e > errs })
	if n, _ := target.counts(); n != sets {
		t.Fatal("a broken template set was handed over")
	}
	target.mu.Lock()
	msg := target.errors[errs].Error()
	target.mu.Unlock()
	if !strings.Contains(msg, "event-normalizer.nomad.hcl:") {
		t.Fatalf("error does not name file:line:col: %s", msg)
	}

	// SIGHUP reloads at once (the file is fixed first).
	writeAtomic(t, path, string(src))
	testutil.Eventually(t, 5*time.Second, "fixed file reloaded", func() bool { n, _ := target.counts(); return n > sets })
	before, _ := target.counts()
	hup <- os.Interrupt
	testutil.Eventually(t, 5*time.Second, "SIGHUP reload", func() bool { n, _ := target.counts(); return n > before })
}
