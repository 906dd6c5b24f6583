package embedded

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/nomad"
)

const waitLong = 60 * time.Second

func listed(t *testing.T, b *Backend) map[string]nomad.ManagedJob {
	t.Helper()
	jobs, err := b.ListManaged(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]nomad.ManagedJob{}
	for _, j := range jobs {
		out[j.ID] = j
	}
	return out
}

// A submitted job runs its raw_exec task as Nomad would: the command and args
// of the driver's dynamic config block, the env block with the runtime port
// filled in, Nomad's runtime variables, the host environment minus tokens,
// the rendered secrets template, the task directory as working directory.
// ListManaged shows it with its meta; an identical resubmit changes nothing.
func TestSubmitRunsTheTaskAsNomadWould(t *testing.T) {
	vars := func(p string) (map[string]string, bool) {
		if p == "nomad/jobs" {
			return map[string]string{"NEO4J_PASSWORD": "from-the-plane"}, true
		}
		return nil, false
	}
	f := newFixture(t, Config{HostEnv: []string{"PATH=/usr/bin:/bin", "FROM_HOST=yes", "NOMAD_TOKEN=secret", "VAULT_TOKEN=secret"}, Variables: vars}, "")
	res := f.submit(t, "env-a", map[string]string{"extra": "1"})
	if !res.Changed || res.JobID != "helper-env-a" || res.EvalID == "" {
		t.Fatalf("submit result %+v", res)
	}
	var pid int
	testutil.Eventually(t, waitLong, "the task to run", func() bool { pid = f.runningPID(res.JobID); return pid > 0 })
	env := f.envOf(pid)
	ts := f.b.Tasks(res.JobID)[0]
	allocID := ts.AllocID
	port := env["NOMAD_PORT_metrics"]
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatalf("NOMAD_PORT_metrics = %q", port)
	}
	want := map[string]string{
		"CLIENT_ID": "env-a", "KG_EMBEDDED_HELPER": "serve", "METRICS_ADDR": ":" + port,
		"NOMAD_JOB_ID": "helper-env-a", "NOMAD_JOB_NAME": "helper", "NOMAD_ALLOC_ID": allocID, "NOMAD_TASK_NAME": "main",
		"NOMAD_GROUP_NAME": "g", "NOMAD_ALLOC_INDEX": "0", "NOMAD_ADDR_metrics": "127.0.0.1:" + port,
		"NOMAD_META_kg_client": "env-a", "NOMAD_META_kg_managed_by": "kgplane", "NOMAD_META_extra": "1",
		"NEO4J_PASSWORD": "from-the-plane", "JOB_FROM_TEMPLATE": "helper-env-a",
		"FROM_HOST": "yes", "PATH": "/usr/bin:/bin", "NOMAD_TOKEN": "", "VAULT_TOKEN": "",
		"HELPER_CWD":     filepath.Join(f.b.StateDir(), "allocs", allocID, "main"),
		"NOMAD_TASK_DIR": filepath.Join(f.b.StateDir(), "allocs", allocID, "main", "local"),
	}
	host, _ := os.Hostname()
	want["NODE"] = host
	for k, v := range want {
		if env[k] != v {
			t.Errorf("task env %s = %q, want %q", k, env[k], v)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-`).MatchString(allocID) {
		t.Errorf("alloc id %q is not a UUID", allocID)
	}
	// The args carry the interpolated alloc id.
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if !strings.Contains(string(cmdline), allocID) {
		t.Errorf("args %q lack the alloc id %s", cmdline, allocID)
	}
	if secrets, err := os.ReadFile(filepath.Join(f.b.StateDir(), "allocs", allocID, "main", "secrets", "kg.env")); err != nil || !strings.Contains(string(secrets), "NEO4J_PASSWORD=from-the-plane") {
		t.Errorf("secrets/kg.env: %q %v", secrets, err)
	}
	testutil.Eventually(t, waitLong, "the task's output in its log file", func() bool {
		raw, _ := os.ReadFile(f.b.LogPath(res.JobID, "main"))
		return strings.Contains(string(raw), "helper task output on stdout") && strings.Contains(string(raw), "helper task output on stderr")
	})

	j := listed(t, f.b)[res.JobID]
	if j.Client != "env-a" || j.Template != "helper" || j.TemplateSHA == "" || j.Status != "running" || j.Stopped {
		t.Errorf("listed %+v", j)
	}
	again := f.submit(t, "env-a", map[string]string{"extra": "1"})
	if again.Changed {
		t.Error("an identical resubmit replaced the job")
	}
	if p := f.runningPID(res.JobID); p != pid {
		t.Errorf("pid %d after an identical resubmit, was %d", p, pid)
	}
}

// An edit of what the template evaluates to (here a var-file value that
// becomes an env var) replaces the task: the old process gets its kill_signal
// and has exited before the new one, with the new environment, starts.
func TestChangedJobReplacesTheTask(t *testing.T) {
	f := newFixture(t, Config{HostEnv: os.Environ()}, `mark = "v1"`)
	res := f.submit(t, "edit-a", nil)
	var old int
	testutil.Eventually(t, waitLong, "v1 to run", func() bool { old = f.runningPID(res.JobID); return old > 0 })
	if f.envOf(old)["MARK"] != "v1" {
		t.Fatalf("MARK = %q", f.envOf(old)["MARK"])
	}
	f.writeVars(t, `mark = "v2"`)
	if res := f.submit(t, "edit-a", nil); !res.Changed {
		t.Fatal("a changed job was not replaced")
	}
	var cur int
	testutil.Eventually(t, waitLong, "v2 to run", func() bool { cur = f.runningPID(res.JobID); return cur > 0 && cur != old })
	if got := f.envOf(cur)["MARK"]; got != "v2" {
		t.Fatalf("new task MARK = %q, want v2", got)
	}
	if ev := f.events(old); !strings.Contains(ev, "stopping on terminated") {
		t.Fatalf("old task events:\n%s", ev)
	}
	stopped := eventTime(t, f.events(old), "stopping on")
	started := eventTime(t, f.events(cur), "started")
	if !started.After(stopped) {
		t.Errorf("the new task started (%s) before the old one stopped (%s)", started, stopped)
	}
	if alive(old) {
		t.Errorf("old task %d still alive", old)
	}
}

func eventTime(t *testing.T, events, what string) time.Time {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(events))
	for sc.Scan() {
		ts, ev, _ := strings.Cut(sc.Text(), " ")
		if strings.HasPrefix(ev, what) {
			n, _ := strconv.ParseInt(ts, 10, 64)
			return time.Unix(0, n)
		}
	}
	t.Fatalf("no %q event in\n%s", what, events)
	return time.Time{}
}

// Purge forgets the job at once and stops the task with its kill_signal; a
// task that ignores it is killed after kill_timeout.
func TestPurgeStopsWithKillSignalThenKill(t *testing.T) {
	f := newFixture(t, Config{HostEnv: os.Environ()}, `mode = "stubborn"`+"\n"+`kill_timeout = "1s"`)
	res := f.submit(t, "purge-a", nil)
	var pid int
	testutil.Eventually(t, waitLong, "the task to run", func() bool { pid = f.runningPID(res.JobID); return pid > 0 })
	start := time.Now()
	if err := f.b.Purge(context.Background(), res.JobID); err != nil {
		t.Fatal(err)
	}
	if _, ok := listed(t, f.b)[res.JobID]; ok {
		t.Error("a purged job is still listed")
	}
	testutil.Eventually(t, waitLong, "the stubborn task to be killed", func() bool { return !alive(pid) })
	if d := time.Since(start); d < time.Second {
		t.Errorf("killed after %s, before its kill_timeout", d)
	}
	if ev := f.events(pid); !strings.Contains(ev, "ignored terminated") {
		t.Errorf("the task never got SIGTERM:\n%s", ev)
	}
	testutil.Eventually(t, waitLong, "the log to say it was killed", func() bool {
		raw, _ := os.ReadFile(f.b.LogPath(res.JobID, "main"))
		return strings.Contains(string(raw), "SIGKILL") && strings.Contains(string(raw), "killed by killed")
	})
	if err := f.b.Purge(context.Background(), res.JobID); err != nil {
		t.Errorf("purging a purged job: %v", err)
	}
}

// A task killed with SIGKILL is restarted after the restart delay, as a new
// process of the same allocation.
func TestKilledTaskIsRestarted(t *testing.T) {
	f := newFixture(t, Config{HostEnv: os.Environ()}, "")
	res := f.submit(t, "restart-a", nil)
	var pid int
	testutil.Eventually(t, waitLong, "the task to run", func() bool { pid = f.runningPID(res.JobID); return pid > 0 })
	alloc := f.b.Tasks(res.JobID)[0].AllocID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var again int
	testutil.Eventually(t, waitLong, "the task to be restarted", func() bool { again = f.runningPID(res.JobID); return again > 0 && again != pid })
	ts := f.b.Tasks(res.JobID)[0]
	if ts.AllocID != alloc || ts.Restarts != 1 {
		t.Errorf("after the restart: %+v (alloc was %s)", ts, alloc)
	}
	raw, _ := os.ReadFile(f.b.LogPath(res.JobID, "main"))
	if !strings.Contains(string(raw), "task exited: killed by killed") || !strings.Contains(string(raw), "restarting in") {
		t.Errorf("log:\n%s", raw)
	}
}

// A task that keeps failing is restarted per its policy (attempts = 2, mode
// fail), then given up: the job is listed dead, as in Nomad.
func TestFailingTaskGivesUpPerPolicy(t *testing.T) {
	f := newFixture(t, Config{HostEnv: os.Environ()}, `mode = "fail"`+"\n"+`attempts = 2`)
	res := f.submit(t, "fail-a", nil)
	testutil.Eventually(t, waitLong, "the job to be dead", func() bool { return listed(t, f.b)[res.JobID].Status == "dead" })
	ts := f.b.Tasks(res.JobID)[0]
	if ts.Restarts != 2 || ts.State != "dead" {
		t.Errorf("task %+v, want 2 restarts and dead", ts)
	}
	raw, _ := os.ReadFile(f.b.LogPath(res.JobID, "main"))
	if n := strings.Count(string(raw), "helper task output on stdout"); n != 3 {
		t.Errorf("%d runs, want 3:\n%s", n, raw)
	}
	if !strings.Contains(string(raw), "not restarting: exceeded the restart policy's attempts") {
		t.Errorf("log:\n%s", raw)
	}
}

// Docker tasks are refused with what to do instead; nothing runs.
func TestDockerTaskIsRefused(t *testing.T) {
	f := newFixture(t, Config{HostEnv: os.Environ()}, `driver = "docker"`)
	_, err := f.b.Submit(context.Background(), f.render(t, "docker-a"), nil)
	if err == nil || !strings.Contains(err.Error(), `uses the docker driver; the embedded backend runs raw_exec tasks only`) ||
		!strings.Contains(err.Error(), "KG_BACKEND=nomad") {
		t.Fatalf("err = %v", err)
	}
	if len(listed(t, f.b)) != 0 {
		t.Error("a refused job is listed")
	}
}

// With a plane identity, every job is labeled kg_plane=<plane> whatever the
// caller's meta says (the Nomad client's rule), and its tasks see it as
// NOMAD_META_kg_plane.
func TestPlaneIdentity(t *testing.T) {
	f := newFixture(t, Config{HostEnv: os.Environ(), Plane: "blue"}, "")
	f.submit(t, "plane-a", nil)
	f.submit(t, "plane-b", map[string]string{MetaPlane: "green"})
	got := listed(t, f.b)
	if _, ok := got["helper-plane-a"]; !ok || len(got) != 2 {
		t.Errorf("listed %v, want both jobs (both labeled blue)", got)
	}
	var pid int
	testutil.Eventually(t, waitLong, "the task to run", func() bool { pid = f.runningPID("helper-plane-b"); return pid > 0 })
	if p := f.envOf(pid)["NOMAD_META_kg_plane"]; p != "blue" {
		t.Errorf("kg_plane = %q, want blue", p)
	}
}

// Close stops every task with its kill signal before returning.
func TestCloseStopsEverything(t *testing.T) {
	f := newFixture(t, Config{HostEnv: os.Environ()}, "")
	var pids []int
	for _, c := range []string{"close-a", "close-b"} {
		res := f.submit(t, c, nil)
		var pid int
		testutil.Eventually(t, waitLong, "the task to run", func() bool { pid = f.runningPID(res.JobID); return pid > 0 })
		pids = append(pids, pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := f.b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("task %d alive after Close", pid)
		}
		if ev := f.events(pid); !strings.Contains(ev, "stopping on terminated") {
			t.Errorf("task %d was not stopped with its kill signal:\n%s", pid, ev)
		}
	}
	if _, err := f.b.Submit(context.Background(), f.render(t, "close-c"), nil); err == nil {
		t.Error("Submit after Close succeeded")
	}
}

// Killing the process that runs the backend with SIGKILL takes its tasks
// with it: no orphan survives.
func TestTasksDieWithTheirControlPlane(t *testing.T) {
	f := newFixture(t, Config{HostEnv: os.Environ()}, "")
	self, _ := os.Executable()
	plane := exec.Command(self, "-test.run=^$")
	plane.Env = append(os.Environ(), "KG_EMBEDDED_HELPER=plane", "HELPER_TEMPLATES="+f.dir, "HELPER_VARS="+f.vars, "HELPER_STATE="+t.TempDir())
	out := &testutil.SyncBuffer{}
	plane.Stdout, plane.Stderr = out, out
	if err := plane.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plane.Process.Kill(); plane.Wait() })
	var pid int
	testutil.Eventually(t, waitLong, "the plane's task to run", func() bool {
		entries, _ := os.ReadDir(f.out)
		for _, e := range entries {
			if p, ok := strings.CutSuffix(e.Name(), ".env"); ok {
				pid, _ = strconv.Atoi(p)
				return pid > 0
			}
		}
		return false
	})
	if !alive(pid) {
		t.Fatalf("task %d not alive; plane output:\n%s", pid, out.String())
	}
	if err := plane.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	plane.Wait()
	testutil.Eventually(t, waitLong, "the task to die with its plane", func() bool { return !alive(pid) })
}

// JobStatuses follows the task as it starts and stops, and agrees with
// ListManaged: the control plane reads it for /v1/clients between lists.
func TestJobStatusesFollowTheTask(t *testing.T) {
	f := newFixture(t, Config{HostEnv: os.Environ()}, "")
	res := f.submit(t, "live-a", nil)
	testutil.Eventually(t, waitLong, "JobStatuses to say running", func() bool { return f.b.JobStatuses()[res.JobID] == "running" })
	if got := listed(t, f.b)[res.JobID].Status; got != "running" {
		t.Errorf("ListManaged says %q while JobStatuses says running", got)
	}
	if err := f.b.Purge(context.Background(), res.JobID); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitLong, "the purged job to leave JobStatuses", func() bool {
		_, ok := f.b.JobStatuses()[res.JobID]
		return !ok
	})
}
