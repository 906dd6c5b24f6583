package embedded

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/kgrca/kgplane/nomad"
)

// Task and job states, in Nomad's words.
const (
	statePending = "pending"
	stateRunning = "running"
	stateDead    = "dead"
)

// slot is one instance of a task group (group × count): a chain of
// allocations, the next one placed when the previous failed for good and the
// reschedule policy allows it.
type slot struct {
	b     *Backend
	job   *job
	group nomad.Group
	index int

	mu   sync.Mutex
	cur  *alloc
	dead bool
}

func (s *slot) run() {
	var reschedules []time.Time
	log := s.b.log.With("job", s.job.id, "group", s.group.Name, "index", s.index)
	for {
		a := s.b.newAlloc(s)
		s.mu.Lock()
		s.cur = a
		s.mu.Unlock()
		failed := a.run()
		select {
		case <-s.job.stop:
			return
		default:
		}
		if !failed { // a batch allocation that completed
			s.setDead()
			return
		}
		now := time.Now()
		delay, ok := rescheduleDelay(s.group.Reschedule, reschedules, now)
		if !ok {
			log.Error("allocation failed and its reschedule policy allows no more attempts; the job is dead until it is submitted again", "alloc", a.id)
			s.setDead()
			return
		}
		reschedules = append(reschedules, now)
		log.Warn("allocation failed; placing a new one per the reschedule policy", "alloc", a.id, "in", delay)
		select {
		case <-time.After(delay):
		case <-s.job.stop:
			return
		}
	}
}

func (s *slot) setDead() {
	s.mu.Lock()
	s.dead = true
	s.mu.Unlock()
}

func (s *slot) state() string {
	s.mu.Lock()
	a, dead := s.cur, s.dead
	s.mu.Unlock()
	if dead {
		return stateDead
	}
	if a == nil {
		return statePending
	}
	running := false
	for _, t := range a.tasks {
		if t.status().State == stateRunning {
			running = true
		}
	}
	if running {
		return stateRunning
	}
	return statePending
}

func (s *slot) tasks() []TaskStatus {
	s.mu.Lock()
	a := s.cur
	s.mu.Unlock()
	if a == nil {
		return nil
	}
	out := make([]TaskStatus, 0, len(a.tasks))
	for _, t := range a.tasks {
		out = append(out, t.status())
	}
	return out
}

// killNow sends SIGKILL to every process of the slot's allocation.
func (s *slot) killNow() {
	s.mu.Lock()
	a := s.cur
	s.mu.Unlock()
	if a == nil {
		return
	}
	for _, t := range a.tasks {
		if pid := t.status().PID; pid > 0 {
			_ = signalGroup(pid, syscall.SIGKILL)
		}
	}
}

// alloc is one allocation: the group's tasks, run together in one
// allocation directory with one set of ports.
type alloc struct {
	b     *Backend
	id    string
	slot  *slot
	dir   string
	ports map[string]int
	tasks []*task
	// halt is closed when the allocation must stop: the job stopped, or one
	// of its tasks failed for good (Nomad then stops its siblings).
	halt     chan struct{}
	haltOnce sync.Once
}

func (b *Backend) newAlloc(s *slot) *alloc {
	a := &alloc{b: b, id: newID(), slot: s, halt: make(chan struct{})}
	a.dir = filepath.Join(b.cfg.StateDir, "allocs", a.id)
	for _, t := range s.group.Tasks {
		name := t.Name + ".log"
		if s.index > 0 {
			name = fmt.Sprintf("%s.%d.log", t.Name, s.index)
		}
		a.tasks = append(a.tasks, &task{alloc: a, spec: t, state: statePending,
			logPath: filepath.Join(b.cfg.StateDir, "logs", s.job.id, name)})
	}
	return a
}

func (a *alloc) stopAll() { a.haltOnce.Do(func() { close(a.halt) }) }

// run runs the allocation until it stops; failed is true when a task failed
// for good (not when the job was stopped, nor when a batch job completed).
func (a *alloc) run() (failed bool) {
	log := a.b.log.With("job", a.slot.job.id, "alloc", a.id)
	defer os.RemoveAll(a.dir)
	go func() {
		select {
		case <-a.slot.job.stop:
			a.stopAll()
		case <-a.halt:
		}
	}()
	ports, err := a.b.ports.take(a.slot.group.Ports)
	if err != nil {
		log.Error("allocation cannot get its ports", "error", err)
		for _, t := range a.tasks {
			t.setState(stateDead, 0)
		}
		a.stopAll()
		return true
	}
	a.ports = ports
	defer a.b.ports.release(ports)
	log.Info("allocation started", "tasks", len(a.tasks), "ports", ports)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, t := range a.tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if t.run() {
				mu.Lock()
				failed = true
				mu.Unlock()
				a.stopAll()
			}
		}()
	}
	wg.Wait()
	a.stopAll()
	return failed
}

// task is one task of an allocation and its process.
type task struct {
	alloc   *alloc
	spec    nomad.Task
	logPath string

	mu       sync.Mutex
	state    string
	pid      int
	restarts int
}

func (t *task) setState(state string, pid int) {
	t.mu.Lock()
	t.state, t.pid = state, pid
	t.mu.Unlock()
}

func (t *task) status() TaskStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.alloc
	return TaskStatus{Job: a.slot.job.id, AllocID: a.id, Group: a.slot.group.Name, Task: t.spec.Name,
		State: t.state, PID: t.pid, Restarts: t.restarts, LogPath: t.logPath}
}

// run supervises the task's process until the allocation halts; it returns
// true when the task failed for good (its restart policy gave up).
func (t *task) run() (failed bool) {
	a := t.alloc
	log := a.b.log.With("job", a.slot.job.id, "alloc", a.id, "task", t.spec.Name)
	if err := os.MkdirAll(filepath.Dir(t.logPath), 0o755); err != nil {
		log.Error("cannot create the task's log folder", "error", err)
	}
	out := &lumberjack.Logger{Filename: t.logPath, MaxSize: max(t.spec.Logs.MaxFileSizeMB, 1), MaxBackups: max(t.spec.Logs.MaxFiles-1, 0)}
	defer out.Close()
	note := func(format string, args ...any) {
		fmt.Fprintf(out, "==> %s kgplane embedded: %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
	tracker := newRestartTracker(t.spec.Restart, a.slot.job.spec.Type, rand.Int64N)
	for {
		cmd, err := t.command(out)
		if err == nil {
			note("starting %s (alloc %s)", strings.Join(cmd.Args, " "), a.id)
			err = a.b.spawner.start(cmd)
		}
		success := false
		if err != nil {
			note("task failed to start: %v", err)
			log.Error("task failed to start", "error", err, "log", t.logPath)
		} else {
			pid := cmd.Process.Pid
			t.setState(stateRunning, pid)
			log.Info("task started", "pid", pid, "log", t.logPath)
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err = <-exited:
			case <-a.halt:
				t.stop(cmd, exited, note, log)
				t.setState(stateDead, 0)
				return false
			}
			_ = signalGroup(pid, syscall.SIGKILL) // what the task left behind in its group
			success = err == nil
			note("task exited: %s", exitText(err))
			log.Warn("task exited", "pid", pid, "result", exitText(err), "log", t.logPath)
		}
		select {
		case <-a.halt:
			t.setState(stateDead, 0)
			return false
		default:
		}
		d := tracker.next(time.Now(), success)
		if d.complete {
			t.setState(stateDead, 0)
			return false
		}
		if !d.restart {
			note("not restarting: %s", d.reason)
			log.Error("task failed; not restarting", "reason", d.reason, "log", t.logPath)
			t.setState(stateDead, 0)
			return true
		}
		t.mu.Lock()
		t.state, t.pid = statePending, 0
		t.restarts++
		t.mu.Unlock()
		note("restarting in %s: %s", d.delay.Round(time.Millisecond), d.reason)
		log.Info("task restarting", "in", d.delay.Round(time.Millisecond), "reason", d.reason)
		select {
		case <-time.After(d.delay):
		case <-a.halt:
			t.setState(stateDead, 0)
			return false
		}
	}
}

// stop sends the task's kill_signal to its process group, waits up to
// kill_timeout for it to exit, then kills the group.
func (t *task) stop(cmd *exec.Cmd, exited <-chan error, note func(string, ...any), log interface{ Info(string, ...any) }) {
	pid := cmd.Process.Pid
	sig, err := parseSignal(t.spec.KillSignal)
	if err != nil { // refused by Runnable before; never ask a process to die twice over
		sig = syscall.SIGKILL
	}
	note("stopping: %s, SIGKILL after %s", sig, t.spec.KillTimeout)
	_ = signalGroup(pid, sig)
	var res error
	select {
	case res = <-exited:
	case <-time.After(t.spec.KillTimeout):
		note("still running after kill_timeout %s: SIGKILL", t.spec.KillTimeout)
		_ = signalGroup(pid, syscall.SIGKILL)
		res = <-exited
	}
	_ = signalGroup(pid, syscall.SIGKILL)
	note("stopped: %s", exitText(res))
	log.Info("task stopped", "pid", pid, "result", exitText(res))
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
	}
	return err.Error()
}

// hostEnvDenylist is Nomad's default env.denylist: the client's own
// credentials never reach a task.
func hostEnvDenylist() []string {
	return []string{
		"CONSUL_TOKEN", "CONSUL_HTTP_TOKEN", "CONSUL_HTTP_TOKEN_FILE", "NOMAD_TOKEN", "VAULT_TOKEN",
		"CONSUL_LICENSE", "NOMAD_LICENSE", "VAULT_LICENSE",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS",
	}
}

// command builds the task's process: Nomad's runtime environment, the job's
// env block and rendered templates, the command and args with runtime
// references filled in, its task directory as working directory.
func (t *task) command(out io.Writer) (*exec.Cmd, error) {
	a := t.alloc
	taskDir := filepath.Join(a.dir, t.spec.Name)
	for _, d := range []string{filepath.Join(a.dir, "alloc"), filepath.Join(taskDir, "local"), filepath.Join(taskDir, "secrets")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating the task directory: %w", err)
		}
	}
	env := map[string]string{}
	deny := hostEnvDenylist()
	for _, kv := range a.b.cfg.HostEnv {
		k, v, ok := strings.Cut(kv, "=")
		if ok && !slices.Contains(deny, k) && !strings.HasPrefix(k, "NOMAD_") {
			env[k] = v
		}
	}
	maps.Copy(env, t.runtimeEnv(taskDir))
	vars := maps.Clone(env)
	maps.Copy(vars, a.b.node.attributes())
	for k, v := range t.spec.Env {
		env[k] = interpolate(v, vars)
	}
	tmplEnv, err := renderTemplates(t.spec.Templates, taskDir, env, a.b.cfg.Variables)
	if err != nil {
		return nil, err
	}
	maps.Copy(env, tmplEnv)
	maps.Copy(vars, env)

	command := interpolate(t.spec.ConfigString("command"), vars)
	args, err := t.spec.ConfigStrings("args")
	if err != nil {
		return nil, err
	}
	for i := range args {
		args[i] = interpolate(args[i], vars)
	}
	path, err := exec.LookPath(command)
	if err != nil {
		return nil, fmt.Errorf("command %s: %w", command, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Args[0] = command
	cmd.Dir = taskDir
	cmd.Env = make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdout, cmd.Stderr = out, out
	// A grandchild that keeps the output pipe open must not hold up Wait.
	cmd.WaitDelay = 2 * time.Second
	return cmd, nil
}

// runtimeEnv is what a Nomad client sets for every task (the NOMAD_*
// variables of Nomad's runtime environment documentation).
func (t *task) runtimeEnv(taskDir string) map[string]string {
	a := t.alloc
	s := a.slot
	j := s.job
	env := map[string]string{
		"NOMAD_ALLOC_DIR":      filepath.Join(a.dir, "alloc"),
		"NOMAD_TASK_DIR":       filepath.Join(taskDir, "local"),
		"NOMAD_SECRETS_DIR":    filepath.Join(taskDir, "secrets"),
		"NOMAD_ALLOC_ID":       a.id,
		"NOMAD_SHORT_ALLOC_ID": a.id[:8],
		"NOMAD_ALLOC_NAME":     fmt.Sprintf("%s.%s[%d]", j.id, s.group.Name, s.index),
		"NOMAD_ALLOC_INDEX":    strconv.Itoa(s.index),
		"NOMAD_GROUP_NAME":     s.group.Name,
		"NOMAD_TASK_NAME":      t.spec.Name,
		"NOMAD_JOB_ID":         j.id,
		"NOMAD_JOB_NAME":       j.spec.Name,
		"NOMAD_NAMESPACE":      "default",
		"NOMAD_REGION":         a.b.node.region,
		"NOMAD_DC":             a.b.node.datacenter,
		"NOMAD_CPU_LIMIT":      strconv.Itoa(t.spec.CPU),
		"NOMAD_MEMORY_LIMIT":   strconv.Itoa(t.spec.MemoryMB),
	}
	for label, port := range a.ports {
		p, addr := strconv.Itoa(port), "127.0.0.1:"+strconv.Itoa(port)
		env["NOMAD_PORT_"+label] = p
		env["NOMAD_HOST_PORT_"+label] = p
		env["NOMAD_IP_"+label] = "127.0.0.1"
		env["NOMAD_HOST_IP_"+label] = "127.0.0.1"
		env["NOMAD_ADDR_"+label] = addr
		env["NOMAD_HOST_ADDR_"+label] = addr
	}
	for _, meta := range []map[string]string{j.meta, s.group.Meta, t.spec.Meta} {
		for k, v := range meta {
			env["NOMAD_META_"+k] = v
			env["NOMAD_META_"+strings.ToUpper(k)] = v
		}
	}
	return env
}

// nodeInfo is the one "node" of the embedded backend, as ${node.*} and
// ${attr.*} references see it.
type nodeInfo struct {
	id, name, datacenter, region string
}

func newNodeInfo() nodeInfo {
	host, _ := os.Hostname()
	return nodeInfo{id: newID(), name: host, datacenter: "dc1", region: "global"}
}

func (n nodeInfo) attributes() map[string]string {
	return map[string]string{
		"node.unique.id": n.id, "node.unique.name": n.name, "node.datacenter": n.datacenter,
		"node.region": n.region, "node.class": "", "node.pool": "default",
		"attr.unique.hostname": n.name, "attr.kernel.name": runtime.GOOS, "attr.cpu.arch": runtime.GOARCH,
		"attr.unique.network.ip-address": "127.0.0.1",
	}
}
