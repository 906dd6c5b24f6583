package soak

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// taskEvent is one line the embedded backend writes into a task's log
// ("==> <RFC 3339> kgplane embedded: <what>"), or a Go panic of the task.
type taskEvent struct {
	At     time.Time
	Kind   string // start, exit, giveup, panic
	Detail string // the exit status ("exit status 1", "killed by killed"), the reason
}

// failure reports whether an exit was the task's own failure: a non-zero
// status, not a signal (a SIGKILL is the soak's or the plane's doing).
func (e taskEvent) failure() bool {
	return e.Kind == "exit" && strings.HasPrefix(e.Detail, "exit status ") && e.Detail != "exit status 0"
}

const taskLinePrefix = "==> "
const taskLineMark = " kgplane embedded: "

// parseTaskLog reads the backend's lines and Go panics from one task log;
// every other line (the worker's own output) is skipped. Lines of any length
// are read; a line is at most 1 MiB for the purpose of this check.
func parseTaskLog(r io.Reader) []taskEvent {
	var out []taskEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var last time.Time
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, []byte("panic: ")) || bytes.HasPrefix(line, []byte("fatal error: ")) {
			out = append(out, taskEvent{At: last, Kind: "panic", Detail: string(line)})
			continue
		}
		rest, ok := bytes.CutPrefix(line, []byte(taskLinePrefix))
		if !ok {
			continue
		}
		ts, what, ok := strings.Cut(string(rest), taskLineMark)
		if !ok {
			continue
		}
		at, err := time.Parse(time.RFC3339, ts)
		if err != nil {
			continue
		}
		last = at
		switch {
		case strings.HasPrefix(what, "starting "):
			out = append(out, taskEvent{At: at, Kind: "start"})
		case strings.HasPrefix(what, "task exited: "):
			out = append(out, taskEvent{At: at, Kind: "exit", Detail: strings.TrimPrefix(what, "task exited: ")})
		case strings.HasPrefix(what, "not restarting: "):
			out = append(out, taskEvent{At: at, Kind: "giveup", Detail: strings.TrimPrefix(what, "not restarting: ")})
		}
	}
	return out
}

// taskHistory is what the task logs of every plane say about one
// (client, role).
type taskHistory struct {
	starts, signalled int
	failures          []taskEvent
	panics, giveups   []taskEvent
}

// readTaskLogs gathers, for the embedded backend, every task log under the
// planes' state folders: logs/kg-<role>-<client>/<role>*.log.
func readTaskLogs(stateDirs []string) (map[string]*taskHistory, error) {
	out := map[string]*taskHistory{}
	for _, dir := range stateDirs {
		files, err := filepath.Glob(filepath.Join(dir, "logs", "kg-*", "*.log"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			job := filepath.Base(filepath.Dir(f))
			role := strings.SplitN(filepath.Base(f), ".", 2)[0]
			if i := strings.LastIndex(role, "-20"); i > 0 { // a rotated backup: <task>-<time>.log
				role = role[:i]
			}
			client := strings.TrimPrefix(job, "kg-"+role+"-")
			if client == job {
				continue
			}
			fh, err := os.Open(f)
			if err != nil {
				return nil, err
			}
			evs := parseTaskLog(fh)
			fh.Close()
			k := client + " " + role
			h := out[k]
			if h == nil {
				h = &taskHistory{}
				out[k] = h
			}
			for _, e := range evs {
				switch {
				case e.Kind == "start":
					h.starts++
				case e.failure():
					h.failures = append(h.failures, e)
				case e.Kind == "exit" && strings.HasPrefix(e.Detail, "killed by "):
					h.signalled++
				case e.Kind == "panic":
					h.panics = append(h.panics, e)
				case e.Kind == "giveup":
					h.giveups = append(h.giveups, e)
				}
			}
		}
	}
	return out, nil
}

// window is a time span during which failures are expected (a service outage
// and the grace after it).
type window struct{ from, to time.Time }

// crashLoop says whether a task's history is a crash loop: its restart
// policy gave up, it panicked, or it failed three times or more outside the
// outage windows (where a worker exits on purpose, to be restarted).
func crashLoop(h *taskHistory, expected []window) (bool, int) {
	unexplained := 0
	for _, f := range h.failures {
		explained := false
		for _, w := range expected {
			if !f.At.Before(w.from) && !f.At.After(w.to) {
				explained = true
			}
		}
		if !explained {
			unexplained++
		}
	}
	return len(h.giveups) > 0 || len(h.panics) > 0 || unexplained >= 3, unexplained
}
