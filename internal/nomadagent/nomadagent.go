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
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Agent is a running dev agent.
type Agent struct {
	Addr string // http://127.0.0.1:PORT
	API  *api.Client
	out  *syncBuffer
}

// Output is what the agent printed so far.
func (a *Agent) Output() string { return a.out.String() }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

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
	out := &syncBuffer{}
	cmd := exec.Command(bin, "agent", "-dev", "-bind=127.0.0.1", "-network-interface=lo", "-config="+cfgPath)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so the task executors it forks are stopped with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nomad agent: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("nomad agent output:\n%s", out.String())
		}
		unmountUnder(dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("leaving %s behind: %v", dir, err)
		}
	})
	a := &Agent{Addr: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), out: out}
	a.API, err = api.NewClient(&api.Config{Address: a.Addr})
	if err != nil {
		t.Fatal(err)
	}
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

// unmountUnder detaches every mount below dir (deepest first).
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			points = append(points, f[1])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
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
