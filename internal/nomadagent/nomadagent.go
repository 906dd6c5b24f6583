// Package nomadagent starts a real `nomad agent -dev` for tests that need one.
//
// The agent binds to 127.0.0.1 on free ports, with the cloud fingerprinters
// denied (they probe link-local metadata addresses) and the update check off (it
// calls HashiCorp), so nothing leaves the machine. Tests skip with a message when
// no nomad binary is on PATH: Nomad is not in any registry this project installs
// from.
package nomadagent

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/kgrca/kgplane/internal/testutil"
)

// Agent is a running dev agent.
type Agent struct {
	Addr string // http://127.0.0.1:PORT
	API  *api.Client
	out  *testutil.SyncBuffer
}

// Output is what the agent printed so far.
func (a *Agent) Output() string { return a.out.String() }

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// Config is the agent configuration Start writes; exported so run scripts and
// docs can show the same safe settings.
func Config(dataDir string, http, rpc, serf int) string {
	return fmt.Sprintf(`data_dir = %q
bind_addr = "127.0.0.1"
disable_update_check = true
ports {
  http = %d
  rpc  = %d
  serf = %d
}
client {
  options = {
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
  }
}
plugin "raw_exec" {
  config {
    enabled = true
  }
}
`, dataDir, http, rpc, serf)
}

// Start starts a dev agent (server and client, raw_exec enabled) and returns once
// it has a leader and a ready node with a healthy raw_exec driver. The agent and
// every task it started are stopped when the test ends.
func Start(t testing.TB) *Agent {
	t.Helper()
	bin, err := exec.LookPath("nomad")
	if err != nil {
		t.Skip("nomad not on PATH; install Nomad to run the real-agent tests")
	}
	// Not t.TempDir: as root, Nomad mounts tmpfs secrets dirs in allocation
	// folders, which must be unmounted before the folder can go.
	dir, err := os.MkdirTemp("", "kg-nomad-agent-")
	if err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	cfgPath := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfgPath, []byte(Config(filepath.Join(dir, "data"), ports[0], ports[1], ports[2])), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &testutil.SyncBuffer{}
	cmd := exec.Command(bin, "agent", "-dev", "-bind=127.0.0.1", "-network-interface=lo", "-config="+cfgPath)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so the task executors it forks are stopped with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nomad agent: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	a := &Agent{Addr: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), out: out}
	a.API, err = api.NewClient(&api.Config{Address: a.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Stop every job first and let the client kill the tasks: raw_exec
		// tasks and their executors run in their own sessions and would
		// outlive an agent stopped first.
		stopAllJobs(t, a.API)
		if !pollUntil(30*time.Second, func() bool { return len(processesOf(dir, cmd.Process.Pid)) == 0 }) {
			t.Logf("task executors still running after 30s; killing them")
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		// Whatever this agent left behind (found by its folder on the
		// executor command line) goes too.
		killLeftovers(t, dir)
		// As root the client mounts each task's secrets/ as tmpfs; an agent
		// stopped before it collects its allocations leaves them mounted.
		unmountUnder(t, dir)
		if t.Failed() {
			t.Logf("nomad agent output:\n%s", out.String())
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("leaving %s behind: %v", dir, err)
		}
	})
	deadline := time.Now().Add(90 * time.Second)
	for !a.ready() {
		select {
		case err := <-exited:
			t.Fatalf("nomad agent exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nomad agent not ready in 90s:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
	return a
}

func (a *Agent) ready() bool {
	leader, err := a.API.Status().Leader()
	if err != nil || leader == "" {
		return false
	}
	nodes, _, err := a.API.Nodes().List(nil)
	if err != nil {
		return false
	}
	for _, n := range nodes {
		if d := n.Drivers["raw_exec"]; n.Status == "ready" && d != nil && d.Healthy {
			return true
		}
	}
	return false
}

// RunningAllocs counts the job's running allocations.
func (a *Agent) RunningAllocs(jobID string) int {
	allocs, _, err := a.API.Jobs().Allocations(jobID, false, nil)
	if err != nil {
		return 0
	}
	n := 0
	for _, al := range allocs {
		if al.ClientStatus == "running" {
			n++
		}
	}
	return n
}

// JobExists reports whether Nomad still knows the job (a purged job is gone).
func (a *Agent) JobExists(jobID string) bool {
	_, _, err := a.API.Jobs().Info(jobID, nil)
	return err == nil
}

// pollUntil polls cond every 200ms until it holds (true) or timeout passes (false).
func pollUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// stopAllJobs purges every job of the agent and waits (bounded) until none of
// its allocations is still pending or running.
func stopAllJobs(t testing.TB, ac *api.Client) {
	jobs, _, err := ac.Jobs().List(nil)
	if err != nil {
		return // the agent is gone already
	}
	for _, j := range jobs {
		_, _, _ = ac.Jobs().Deregister(j.ID, true, nil)
	}
	stopped := pollUntil(30*time.Second, func() bool {
		allocs, _, err := ac.Allocations().List(nil)
		if err != nil {
			return true // the agent is gone
		}
		for _, a := range allocs {
			if a.ClientStatus == "pending" || a.ClientStatus == "running" {
				return false
			}
		}
		return true
	})
	if !stopped {
		t.Logf("allocations still running after 30s; killing them with the agent")
	}
}

// killLeftovers kills the processes the agent started and left behind.
func killLeftovers(t testing.TB, dir string) {
	for _, pid := range processesOf(dir, 0) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			t.Logf("killed leftover process %d", pid)
		}
	}
}

// processesOf lists the processes whose command line mentions dir (the
// agent's task executors), other than exclude, and all their descendants.
func processesOf(dir string, exclude int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	var roots []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() || pid == exclude {
			continue
		}
		if stat, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil {
			// pid (comm) state ppid ...; comm may contain spaces, so cut at the last ')'.
			if i := bytes.LastIndexByte(stat, ')'); i > 0 {
				var state string
				var ppid int
				if _, err := fmt.Sscanf(string(stat[i+1:]), " %s %d", &state, &ppid); err == nil {
					parent[pid] = ppid
				}
			}
		}
		if cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && bytes.Contains(cmdline, []byte(dir)) {
			roots = append(roots, pid)
		}
	}
	doomed := map[int]bool{}
	for _, r := range roots {
		doomed[r] = true
	}
	for changed := true; changed; {
		changed = false
		for pid, ppid := range parent {
			if doomed[ppid] && !doomed[pid] {
				doomed[pid], changed = true, true
			}
		}
	}
	return slices.Collect(maps.Keys(doomed))
}

// unmountUnder unmounts every mount point below dir, deepest first.
func unmountUnder(t testing.TB, dir string) {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for line := range strings.Lines(string(info)) {
		// Field 5 is the mount point (octal escapes for spaces; our paths have none).
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
			t.Logf("unmounting %s: %v", p, err)
		}
	}
}
