package embedded

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
)

// spawner starts every task process from one OS thread that lives as long as
// the backend. The processes get Pdeathsig = SIGKILL, and Linux sends it when
// the *thread* that forked them exits, not the process: Go may end a thread
// under a goroutine that exits while locked to it, and then the tasks would
// die for nothing. A goroutine locked to its thread for the backend's whole
// life avoids that.
type spawner struct {
	reqs chan spawnReq
	done chan struct{}
}

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq), done: make(chan struct{})}
	go func() {
		runtime.LockOSThread()
		// Unlocked (not ended) when the backend closes, after its tasks are
		// gone: the thread goes back to Go's pool.
		defer runtime.UnlockOSThread()
		defer close(s.done)
		for r := range s.reqs {
			r.err <- r.cmd.Start()
		}
	}()
	return s
}

// start starts cmd in its own process group (so a Ctrl-C meant for the
// control plane does not reach it, and a stop reaches its children), to be
// killed with SIGKILL if the control plane dies, whatever the way.
func (s *spawner) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	s.reqs <- r
	return <-r.err
}

func (s *spawner) close() {
	close(s.reqs)
	<-s.done
}

// signalGroup sends sig to the process group led by pid; a group already gone
// is not an error.
func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("sending %s to process group %d: %w", sig, pid, err)
	}
	return nil
}

// parseSignal reads a kill_signal such as "SIGTERM", "TERM" or "SIGINT";
// "" is SIGINT, Nomad's default for raw_exec.
func parseSignal(name string) (syscall.Signal, error) {
	n := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(name)), "SIG")
	switch n {
	case "":
		return syscall.SIGINT, nil
	case "INT":
		return syscall.SIGINT, nil
	case "TERM":
		return syscall.SIGTERM, nil
	case "KILL":
		return syscall.SIGKILL, nil
	case "HUP":
		return syscall.SIGHUP, nil
	case "QUIT":
		return syscall.SIGQUIT, nil
	case "USR1":
		return syscall.SIGUSR1, nil
	case "USR2":
		return syscall.SIGUSR2, nil
	}
	return 0, fmt.Errorf("kill_signal %q is not a signal the embedded backend knows (SIGINT, SIGTERM, SIGKILL, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2)", name)
}
