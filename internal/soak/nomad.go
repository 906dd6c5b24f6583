package soak

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/kgrca/kgplane/internal/nomadagent"
)

// nomadAgent is a `nomad agent -dev` of the soak's (SOAK_BACKEND=nomad), on
// loopback with the safe settings of internal/nomadagent.
type nomadAgent struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func startNomad(ctx context.Context, bin, runDir, marker string) (*nomadAgent, error) {
	dir := filepath.Join(runDir, "nomad")
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var ports []int
	for range 3 {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		var p int
		fmt.Sscanf(a[len("127.0.0.1:"):], "%d", &p)
		ports = append(ports, p)
	}
	cfgPath := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfgPath, []byte(nomadagent.Config(filepath.Join(dir, "data"), ports[0], ports[1], ports[2])), 0o600); err != nil {
		return nil, err
	}
	out, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "agent", "-dev", "-bind=127.0.0.1", "-network-interface=lo", "-config="+cfgPath)
	cmd.Stdout, cmd.Stderr = out, out
	// raw_exec tasks inherit the agent's environment: the marker is how the
	// soak finds them, and checks that none outlives it.
	cmd.Env = append(os.Environ(), "KG_SOAK_RUN="+marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("starting nomad: %w", err)
	}
	a := &nomadAgent{addr: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); out.Close(); close(a.done) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get(a.addr + "/v1/nodes")
		if err == nil {
			ok := resp.StatusCode == http.StatusOK
			resp.Body.Close()
			if ok {
				return a, nil
			}
		}
		select {
		case <-a.done:
			return nil, fmt.Errorf("nomad agent exited; see %s", out.Name())
		case <-ctx.Done():
			a.stop()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
		if time.Now().After(deadline) {
			a.stop()
			return nil, fmt.Errorf("nomad agent not ready after 2 min; see %s", out.Name())
		}
	}
}

// purgeAll purges every job, so the agent stops their tasks: raw_exec tasks
// run in sessions of their own and would outlive an agent stopped first.
func (a *nomadAgent) purgeAll() error {
	c, err := api.NewClient(&api.Config{Address: a.addr})
	if err != nil {
		return err
	}
	jobs, _, err := c.Jobs().List(nil)
	if err != nil {
		return fmt.Errorf("listing Nomad's jobs: %w", err)
	}
	for _, j := range jobs {
		if _, _, err := c.Jobs().Deregister(j.ID, true, nil); err != nil {
			return fmt.Errorf("purging %s: %w", j.ID, err)
		}
	}
	return nil
}

// stop stops the agent and the tasks it started (its process group).
func (a *nomadAgent) stop() {
	syscall.Kill(-a.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-a.done:
	case <-time.After(time.Minute):
		syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		<-a.done
	}
}
