package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Process is a live process of this machine, as /proc shows it.
type Process struct {
	PID     int
	Args    []string
	Environ []string
}

// Env returns the value of key in the process's environment.
func (p Process) Env(key string) string {
	for _, kv := range p.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// ProcessesWithEnv lists the live (not zombie) processes whose environment
// holds every one of the given KEY=VALUE entries: how tests find the workers
// a backend started for a client (CLIENT_ID=<id>) whoever their parent is.
// Processes of other users, whose environment cannot be read, are skipped.
func ProcessesWithEnv(entries ...string) []Process {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []Process
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == os.Getpid() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil {
			continue
		}
		env := strings.Split(string(bytes.TrimRight(raw, "\x00")), "\x00")
		match := true
		for _, e := range entries {
			if !slices.Contains(env, e) {
				match = false
				break
			}
		}
		if !match || zombie(d) {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		out = append(out, Process{PID: pid, Args: strings.Split(string(bytes.TrimRight(cmd, "\x00")), "\x00"), Environ: env})
	}
	return out
}

// Alive reports whether pid is a live process (a zombie is not).
func Alive(pid int) bool {
	d := filepath.Join("/proc", strconv.Itoa(pid))
	if _, err := os.Stat(d); err != nil {
		return false
	}
	return !zombie(d)
}

func zombie(procDir string) bool {
	st, err := os.ReadFile(filepath.Join(procDir, "stat"))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(st, ')')
	if i < 0 {
		return true
	}
	f := strings.Fields(string(st[i+1:]))
	return len(f) == 0 || f[0] == "Z" || f[0] == "X"
}
