// Package embedded runs kgplane's jobs on the control plane's own machine,
// without Nomad: the single-machine backend of `make run`, dev hosts and CI.
//
// It has the Nomad client's three operations (Submit, Purge, ListManaged,
// with the same kg_* meta), so the scheduler drives either without knowing
// which. Submit evaluates the rendered template exactly as Nomad would
// (nomad.Rendered.Job: the same HCL, variables, var-file, dynamic blocks and
// functions) and supervises each raw_exec task as a child process: command,
// args and env from the job, Nomad's runtime variables (NOMAD_PORT_<label>,
// NOMAD_JOB_ID, NOMAD_ALLOC_ID, ...) filled in, restarts per the restart
// block, reschedules per the reschedule block, kill_signal then SIGKILL after
// kill_timeout on purge. Output goes to a log file per task under the state
// directory. Children never outlive the control plane: each is in its own
// process group and gets SIGKILL from the kernel when the control plane dies.
//
// Docker tasks are refused with a message (run Nomad for them); template
// blocks are rendered with a subset of consul-template's functions and with
// Nomad Variables read from Config.Variables. docs/control-plane.md
// ("Backends") has the operator's view.
package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	uuid "github.com/hashicorp/go-uuid"

	"github.com/kgrca/kgplane/nomad"
)

// MetaPlane is the job meta naming the control plane that owns a job, the
// same key the Nomad client labels and filters on.
const MetaPlane = "kg_plane"

// Config configures a Backend.
type Config struct {
	// StateDir holds the task logs (logs/<job id>/<task>.log) and the
	// allocation directories (allocs/<alloc id>/). Required.
	StateDir string
	// Plane is this control plane's identity ("" = none). As with the Nomad
	// client, Submit labels every job kg_plane=Plane and ListManaged returns
	// only jobs with that label.
	Plane string
	// HostEnv is the environment tasks inherit, like a Nomad client passes its
	// own to raw_exec tasks (minus Nomad's default denylist of tokens).
	HostEnv []string
	// Variables stands in for Nomad Variables in task templates (nil = none).
	Variables Variables
	Logger    *slog.Logger
}

// Backend runs jobs as supervised child processes. It is safe for concurrent
// use; Close stops everything it started.
type Backend struct {
	cfg     Config
	log     *slog.Logger
	spawner *spawner
	node    nodeInfo
	ports   *portPool

	mu     sync.Mutex
	jobs   map[string]*job
	last   map[string]*job // the newest version of each job id, running or stopping
	alive  map[*job]bool   // every version whose allocations have not all stopped
	closed bool
	index  uint64 // a modify index, as Nomad returns one
	wg     sync.WaitGroup
}

// New checks cfg and returns a Backend with no jobs.
func New(cfg Config) (*Backend, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("embedded backend: no state directory (KG_STATE_DIR)")
	}
	abs, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("embedded backend: state directory %s: %w", cfg.StateDir, err)
	}
	cfg.StateDir = abs
	for _, d := range []string{"logs", "allocs"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return nil, fmt.Errorf("embedded backend: creating the state directory: %w", err)
		}
	}
	// Allocation directories of an earlier run are dead: their processes died
	// with it.
	if old, err := os.ReadDir(filepath.Join(abs, "allocs")); err == nil {
		for _, e := range old {
			os.RemoveAll(filepath.Join(abs, "allocs", e.Name()))
		}
	}
	if cfg.Variables == nil {
		cfg.Variables = func(string) (map[string]string, bool) { return nil, false }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Backend{
		cfg: cfg, log: cfg.Logger.With("backend", "embedded"), spawner: newSpawner(), node: newNodeInfo(), ports: newPortPool(),
		jobs: map[string]*job{}, last: map[string]*job{}, alive: map[*job]bool{},
	}, nil
}

// StateDir is the absolute state directory.
func (b *Backend) StateDir() string { return b.cfg.StateDir }

// LogPath is where the output of a job's task goes (index 0 of its group).
func (b *Backend) LogPath(jobID, task string) string {
	return filepath.Join(b.cfg.StateDir, "logs", jobID, task+".log")
}

// job is one version of a submitted job and its allocations.
type job struct {
	id          string
	spec        *nomad.Job
	meta        map[string]string
	fingerprint string
	stop        chan struct{} // closed on purge, replacement or Close
	done        chan struct{} // closed when every allocation of this version has stopped
	slots       []*slot
}

// Runnable reports why the embedded backend cannot run a job, or nil. The
// control plane calls it at start on every template, so a template set meant
// for Docker is refused with a message before anything runs.
func Runnable(spec *nomad.Job) error {
	var problems []string
	problems = append(problems, spec.Unsupported...)
	for _, g := range spec.Groups {
		for _, t := range g.Tasks {
			switch t.Driver {
			case "raw_exec":
				cmd := t.ConfigString("command")
				if cmd == "" {
					problems = append(problems, fmt.Sprintf("task %q: its config has no command", t.Name))
				} else if !strings.Contains(cmd, "${") {
					if _, err := exec.LookPath(cmd); err != nil {
						problems = append(problems, fmt.Sprintf("task %q: command %s: %v (set worker_binary in the var-file, JOBSPEC_VARS_FILE)", t.Name, cmd, errors.Unwrap(err)))
					}
				}
				if _, err := t.ConfigStrings("args"); err != nil {
					problems = append(problems, err.Error())
				}
				if _, err := parseSignal(t.KillSignal); err != nil {
					problems = append(problems, fmt.Sprintf("task %q: %v", t.Name, err))
				}
			default:
				problems = append(problems, fmt.Sprintf(`task %q uses the %s driver; the embedded backend runs raw_exec tasks only: set driver = "raw_exec" (and worker_binary) in the operator var-file (JOBSPEC_VARS_FILE, e.g. jobspecs/vars/dev.vars.hcl), or run Nomad for %s tasks (KG_BACKEND=nomad)`, t.Name, t.Driver, t.Driver))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("job %s cannot run on the embedded backend:\n  %s", spec.ID, strings.Join(problems, "\n  "))
}

// Submit evaluates r like Nomad's job parser and runs the job, replacing the
// running version if anything differs (its allocations stop first, then the
// new ones start); an identical job is left alone (Changed false), as Nomad's
// plan would. meta is added to the job's meta after r.Meta().
func (b *Backend) Submit(ctx context.Context, r nomad.Rendered, meta map[string]string) (nomad.SubmitResult, error) {
	res := nomad.SubmitResult{JobID: r.JobID}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	spec, err := r.Job()
	if err != nil {
		return res, err
	}
	if err := Runnable(spec); err != nil {
		return res, err
	}
	full := maps.Clone(spec.Meta)
	maps.Copy(full, r.Meta())
	maps.Copy(full, meta)
	full[nomad.MetaManagedBy] = nomad.ManagedByValue
	if b.cfg.Plane != "" {
		full[MetaPlane] = b.cfg.Plane
	}
	spec.Meta = full
	fp, err := fingerprint(spec)
	if err != nil {
		return res, err
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return res, errors.New("embedded backend: closed")
	}
	b.index++
	res.JobModifyIndex = b.index
	if cur := b.jobs[r.JobID]; cur != nil && cur.fingerprint == fp {
		return res, nil
	}
	prev := b.last[r.JobID]
	if cur := b.jobs[r.JobID]; cur != nil {
		close(cur.stop)
		b.log.Info("job changed; replacing its allocations", "job", r.JobID)
	}
	j := &job{id: r.JobID, spec: spec, meta: full, fingerprint: fp, stop: make(chan struct{}), done: make(chan struct{})}
	b.jobs[r.JobID] = j
	b.last[r.JobID] = j
	b.alive[j] = true
	b.start(j, prev)
	evalID, _ := uuid.GenerateUUID()
	res.Changed, res.EvalID = true, evalID
	return res, nil
}

// start launches j's allocation slots; they wait for prev (the previous
// version of the job id) to have stopped, so two versions never overlap.
func (b *Backend) start(j *job, prev *job) {
	var wg sync.WaitGroup
	for _, g := range j.spec.Groups {
		for i := range max(g.Count, 0) {
			s := &slot{b: b, job: j, group: g, index: i}
			j.slots = append(j.slots, s)
			wg.Add(1)
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer wg.Done()
				if prev != nil {
					select {
					case <-prev.done:
					case <-j.stop:
						return
					}
				}
				s.run()
			}()
		}
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		wg.Wait()
		close(j.done)
		b.mu.Lock()
		delete(b.alive, j)
		if b.last[j.id] == j && b.jobs[j.id] == nil {
			delete(b.last, j.id)
		}
		b.mu.Unlock()
	}()
}

func fingerprint(spec *nomad.Job) (string, error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return "", fmt.Errorf("fingerprinting job %s: %w", spec.ID, err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

// Purge stops a job's tasks (kill_signal, then SIGKILL after kill_timeout) and
// forgets the job at once, as Nomad's purge does; the tasks stop in the
// background. A job that is not there counts as purged.
func (b *Backend) Purge(ctx context.Context, jobID string) error {
	if jobID == "" {
		return errors.New("purging job: empty job id")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if j := b.jobs[jobID]; j != nil {
		close(j.stop)
		delete(b.jobs, jobID)
		b.index++
	}
	return nil
}

// ListManaged lists the jobs with kg_managed_by=kgplane (and, when a plane is
// configured, kg_plane=Plane), with a Nomad-like status: running
// when a task of it runs, dead when every allocation gave up or completed,
// pending otherwise.
func (b *Backend) ListManaged(ctx context.Context) ([]nomad.ManagedJob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]nomad.ManagedJob, 0, len(b.jobs))
	for _, id := range slices.Sorted(maps.Keys(b.jobs)) {
		j := b.jobs[id]
		if j.meta[nomad.MetaManagedBy] != nomad.ManagedByValue {
			continue
		}
		// Submit labels every job, so this never drops one today; it is the
		// Nomad client's rule, kept so both list the same way.
		if b.cfg.Plane != "" && j.meta[MetaPlane] != b.cfg.Plane {
			continue
		}
		out = append(out, nomad.ManagedJob{
			ID: j.id, Client: j.meta[nomad.MetaClient], Template: j.meta[nomad.MetaTemplate],
			TemplateSHA: j.meta[nomad.MetaTemplateSHA], Status: j.status(),
		})
	}
	return out, nil
}

// JobStatuses returns the status ListManaged would give each job, by job id,
// as of now (scheduler.LiveStatuses): the control plane's /v1/clients reads
// it so a task that just started shows as running without waiting for the
// next resync.
func (b *Backend) JobStatuses() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]string, len(b.jobs))
	for id, j := range b.jobs {
		out[id] = j.status()
	}
	return out
}

// TaskStatus is one task of a running job, for operators and tests.
type TaskStatus struct {
	Job, AllocID, Group, Task string
	// State is pending (starting, or waiting to restart), running or dead.
	State    string
	PID      int // 0 when not running
	Restarts int
	LogPath  string
}

// Tasks lists the tasks of a job's current version.
func (b *Backend) Tasks(jobID string) []TaskStatus {
	b.mu.Lock()
	j := b.jobs[jobID]
	b.mu.Unlock()
	if j == nil {
		return nil
	}
	var out []TaskStatus
	for _, s := range j.slots {
		out = append(out, s.tasks()...)
	}
	return out
}

func (j *job) status() string {
	running, dead := false, true
	for _, s := range j.slots {
		switch s.state() {
		case stateRunning:
			running, dead = true, false
		case statePending:
			dead = false
		}
	}
	switch {
	case running:
		return stateRunning
	case dead && len(j.slots) > 0:
		return stateDead
	}
	return statePending
}

// Close stops every job's tasks as a purge would and waits until they are
// gone or ctx ends; then it kills what is left.
func (b *Backend) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for id, j := range b.jobs {
		close(j.stop)
		delete(b.jobs, id)
	}
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("stopping the embedded backend's tasks: %w", ctx.Err())
		b.mu.Lock()
		for j := range b.alive {
			for _, s := range j.slots {
				s.killNow()
			}
		}
		b.mu.Unlock()
		<-done
	}
	b.spawner.close()
	return err
}

// newID is a random UUID, as Nomad's allocation and evaluation ids are.
func newID() string {
	id, err := uuid.GenerateUUID()
	if err != nil { // crypto/rand failing: fall back to something unique enough
		return fmt.Sprintf("%016x-%d", rand.Uint64(), time.Now().UnixNano())
	}
	return id
}
