package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/scheduler"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// plane is one kg-control-plane process, restartable under the same name,
// HTTP address and state folder.
type plane struct {
	name, addr, stateDir, logPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// running reports whether the plane's process is alive.
func (p *plane) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// planes runs the control planes of one soak.
type planes struct {
	bin  string
	env  []string
	list []*plane
}

// newPlanes prepares n planes sharing one plane identity (they elect a
// leader), each with its own HTTP port, state folder and log.
func newPlanes(cfg Config, marker, runDir string, nomadAddr string) (*planes, error) {
	vars := filepath.Join(runDir, "soak.vars.hcl")
	text := fmt.Sprintf("driver = \"raw_exec\"\nworker_binary = %q\nneo4j_uri = %q\nneo4j_isolation = \"shared\"\ncpu = 100\nmemory = 128\n",
		filepath.Join(cfg.BinDir, "kg-worker"), cfg.Neo4jURI())
	if err := os.WriteFile(vars, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("writing the operator var-file: %w", err)
	}
	ps := &planes{bin: filepath.Join(cfg.BinDir, "kg-control-plane")}
	ps.env = append(os.Environ(),
		"KAFKA_BROKERS="+strings.Join(cfg.Brokers(), ","),
		fmt.Sprintf("STALE_CLIENT_THRESHOLD_MINUTES=%g", cfg.StaleThreshold.Minutes()),
		"HEARTBEAT_CHECK_INTERVAL_SECONDS=5",
		"JOBSPECS_DIR="+filepath.Join(cfg.Root, "jobspecs"), "JOBSPEC_VARS_FILE="+vars,
		fmt.Sprintf("KG_DATA_PARTITIONS=%d", cfg.Partitions),
		"KG_BACKEND="+cfg.Backend, "NOMAD_ADDR="+nomadAddr,
		// The workers inherit it (embedded backend): how the soak finds every
		// process it caused, and checks that none outlives it.
		"KG_SOAK_RUN="+marker,
		"LOG_LEVEL=info", "KG_REGISTRY_TOPIC=", "KG_HEARTBEAT_TOPIC=", "KG_PLANE=", "KG_TOPIC_SUFFIX=",
		"NEO4J_URI="+cfg.Neo4jURI(), "KAFKA_SASL_MECHANISM=", "KAFKA_TLS=")
	taken := map[string]bool{}
	for i := range cfg.Planes {
		addr, err := stableAddr(taken)
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("plane-%d", i+1)
		ps.list = append(ps.list, &plane{name: name, addr: addr,
			stateDir: filepath.Join(runDir, name), logPath: filepath.Join(runDir, name+".log")})
	}
	return ps, nil
}

// stableAddr is a free address for a plane that is restarted on it: below
// the kernel's ephemeral range (32768 and up), where no outgoing connection
// takes it while the plane is down, and below Nomad's dynamic range
// (20000-32000), where no worker's port lands on it. The probe's listener is
// closed at once, so taken holds the addresses already handed to other
// planes (and gets this one).
func stableAddr(taken map[string]bool) (string, error) {
	for range 1000 {
		port := 12000 + rand.IntN(5000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		l.Close()
		if !taken[addr] {
			taken[addr] = true
			return addr, nil
		}
	}
	return freeAddr()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start starts p (again), appending to its log.
func (ps *planes) start(p *plane) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	out, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening %s: %w", p.logPath, err)
	}
	fmt.Fprintf(out, "==> %s kg-soak: starting %s\n", time.Now().UTC().Format(time.RFC3339), p.name)
	cmd := exec.Command(ps.bin)
	cmd.Env = append(ps.env, "KG_HTTP_ADDR="+p.addr, "KG_STATE_DIR="+p.stateDir, "KG_INSTANCE="+p.name)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// signal sends sig to p and, for SIGKILL and SIGTERM, waits until it is gone.
func (ps *planes) signal(p *plane, sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling %s: %w", p.name, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(wait):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not exit within %s of %s; killed", p.name, wait, sig)
	}
}

// stopAll stops every plane with SIGTERM (their workers stop first).
func (ps *planes) stopAll() error {
	var errs []error
	for _, p := range ps.list {
		errs = append(errs, ps.signal(p, syscall.SIGTERM, 3*time.Minute))
	}
	return errors.Join(errs...)
}

// view is a plane's /v1/clients.
type view struct {
	Ready      bool                     `json:"ready"`
	Leadership scheduler.LeaderStatus   `json:"leadership"`
	Disruption string                   `json:"disruption"`
	Clients    []scheduler.ClientStatus `json:"clients"`
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func (p *plane) view(ctx context.Context) (*view, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/v1/clients", nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v view
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding %s's /v1/clients: %w", p.name, err)
	}
	return &v, nil
}

// leader is the running plane that leads and is ready, or nil.
func (ps *planes) leader(ctx context.Context) (*plane, *view) {
	for _, p := range ps.list {
		if !p.running() {
			continue
		}
		v, err := p.view(ctx)
		if err == nil && v.Ready && v.Leadership.Leading {
			return p, v
		}
	}
	return nil, nil
}

// waitLeader waits until a plane leads, or within fails.
func (ps *planes) waitLeader(ctx context.Context, within time.Duration) (*plane, *view, error) {
	deadline := time.Now().Add(within)
	for {
		if p, v := ps.leader(ctx); p != nil {
			return p, v, nil
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("no control plane leads after %s (their logs: %s)", within, ps.list[0].logPath)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// workerProcs lists the worker processes of a client by role (a role may
// briefly have two while one replaces the other), wherever they run.
func workerProcs(client string) map[string][]int {
	out := map[string][]int{}
	for _, p := range testutil.ProcessesWithEnv("CLIENT_ID=" + client) {
		if len(p.Args) > 1 && strings.HasSuffix(p.Args[0], "kg-worker") {
			out[p.Args[1]] = append(out[p.Args[1]], p.PID)
		}
	}
	return out
}

// leftovers lists the kg-worker and kg-control-plane processes of this soak
// (the marker in their environment) other than the planes still running.
func leftovers(marker string, planes *planes) []string {
	own := map[int]bool{}
	for _, p := range planes.list {
		if !p.running() {
			continue
		}
		p.mu.Lock()
		own[p.cmd.Process.Pid] = true
		p.mu.Unlock()
	}
	var out []string
	for _, p := range testutil.ProcessesWithEnv("KG_SOAK_RUN=" + marker) {
		bin := filepath.Base(p.Args[0])
		if !own[p.PID] && (bin == "kg-worker" || bin == "kg-control-plane") {
			out = append(out, strconv.Itoa(p.PID)+" "+strings.Join(p.Args, " "))
		}
	}
	return out
}

var roles = []string{kafkaio.RoleEventNormalizer, kafkaio.RoleLogNormalizer, kafkaio.RoleGraphBuilder}
