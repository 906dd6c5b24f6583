package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kgrca/kgplane/agent/lifecycle"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// LoadConfig is a measurement of the highest total rate the system holds
// with a bounded lag, for several client counts.
type LoadConfig struct {
	Clients []int         // client counts, each measured in turn
	Start   float64       // the first rate tried, records/s (all clients together)
	Factor  float64       // each step multiplies the rate by this
	Step    time.Duration // how long each rate is held
	// MaxLag bounds the lag: a rate is held when, at the end of its step,
	// the workers are behind by at most MaxLag of load and the lag did not
	// grow over the step's second half.
	MaxLag  time.Duration
	MaxRate float64 // stop here even if it holds
	Seed    int64

	Root, BinDir string
	Services
	Keep bool
}

// DefaultLoad measures 1, 10 and 100 clients from 50 records/s up by half
// each minute.
func DefaultLoad() LoadConfig {
	return LoadConfig{Clients: []int{1, 10, 100}, Start: 50, Factor: 1.5, Step: time.Minute, MaxLag: 10 * time.Second, MaxRate: 20000, Seed: 1,
		Services: Services{KafkaPort: DefaultKafkaPort, Neo4jBoltPort: DefaultNeo4jBoltPort, Neo4jHTTPPort: DefaultNeo4jHTTPPort}}
}

// LoadStep is one rate tried.
type LoadStep struct {
	Clients        int
	Offered        float64 // records/s asked for
	Acked          float64 // records/s Kafka acknowledged
	LagMid, LagEnd int64   // records behind, halfway and at the end
	Held           bool
	// CPU is the share of one core each component used during the step
	// (1.0 = a whole core; the machine has runtime.NumCPU()).
	CPU     map[string]float64
	Machine float64 // every process of the machine, ours or not, in cores
	LoadAvg string
}

// LoadReport is the measurement's result.
type LoadReport struct {
	Config  LoadConfig
	Started time.Time
	Steps   []LoadStep
}

// Best is the highest rate held for n clients, and false when none was.
func (r *LoadReport) Best(n int) (LoadStep, bool) {
	var best LoadStep
	ok := false
	for _, s := range r.Steps {
		if s.Clients == n && s.Held && s.Offered > best.Offered {
			best, ok = s, true
		}
	}
	return best, ok
}

// Write prints every step and the result per client count.
func (r *LoadReport) Write(w io.Writer) {
	fmt.Fprintf(w, "\nkgplane load: the highest total rate held with the lag under %s of load (steps of %s, ×%.2g)\n", r.Config.MaxLag, r.Config.Step, r.Config.Factor)
	fmt.Fprintf(w, "machine: %s, %d CPUs, %s\n\n", cpuModel(), runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(w, "%8s %9s %9s %9s %9s %5s   %-60s %8s  %s\n", "clients", "offered", "acked", "lag mid", "lag end", "held", "CPU in cores: kafka neo4j event-norm log-norm graph planes soak", "machine", "load average")
	for _, s := range r.Steps {
		held := "no"
		if s.Held {
			held = "yes"
		}
		cpu := fmt.Sprintf("%5.2f %5.2f %5.2f %5.2f %5.2f %5.2f %5.2f", s.CPU["kafka"], s.CPU["neo4j"], s.CPU["event-normalizer"], s.CPU["log-normalizer"], s.CPU["graph-builder"], s.CPU["planes"], s.CPU["soak"])
		fmt.Fprintf(w, "%8d %9.0f %9.0f %9d %9d %5s   %-60s %8.2f  %s\n", s.Clients, s.Offered, s.Acked, s.LagMid, s.LagEnd, held, cpu, s.Machine, s.LoadAvg)
	}
	fmt.Fprintln(w)
	for _, n := range r.Config.Clients {
		if b, ok := r.Best(n); ok {
			fmt.Fprintf(w, "%d clients: %.0f records/s held (lag %d records at the end; load average %s)\n", n, b.Offered, b.LagEnd, b.LoadAvg)
		} else {
			fmt.Fprintf(w, "%d clients: not even %.0f records/s held\n", n, r.Config.Start)
		}
	}
}

// Load measures. progress gets a line per step.
func Load(ctx context.Context, cfg LoadConfig, progress io.Writer) (*LoadReport, error) {
	if len(cfg.Clients) == 0 || cfg.Start <= 0 || cfg.Factor <= 1 || cfg.Step < 10*time.Second || cfg.MaxLag <= 0 {
		return nil, errors.New("load: want client counts, a start rate > 0, a factor > 1, steps of 10s or more and a lag bound")
	}
	cfg.Services.setDefaults(cfg.Root)
	begun := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(progress, "[load %s] %s\n", fmtOffset(time.Since(begun)), fmt.Sprintf(format, args...))
	}
	if err := cfg.Lock(ctx, say); err != nil {
		return nil, err
	}
	defer cfg.Unlock()
	rep := &LoadReport{Config: cfg, Started: begun}
	maxN := slices.Max(cfg.Clients)
	sc := Config{Duration: time.Minute, Clients: maxN, Rate: 1, Planes: 1, Partitions: max(8, 2*maxN), Backend: "embedded", Seed: cfg.Seed,
		StaleThreshold: 2 * time.Minute, HeartbeatEvery: 30 * time.Second, Root: cfg.Root, BinDir: cfg.BinDir, Services: cfg.Services, Keep: cfg.Keep}
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(cfg.RunDir, "load.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	r := &runner{cfg: sc, out: progress, begun: begun, log: slog.New(slog.NewTextHandler(logFile, nil)),
		marker: fmt.Sprintf("load-%d-%d", os.Getpid(), time.Now().UnixNano()), maxLag: map[string]int64{}, killed: map[string]int{}}
	defer r.teardown(&Report{})
	if err := r.startSystem(ctx); err != nil {
		return rep, err
	}
	hbCtx, stopBeats := context.WithCancel(ctx)
	defer stopBeats()
	for _, n := range cfg.Clients {
		clients := make([]string, n)
		for i := range clients {
			clients[i] = fmt.Sprintf("load%d-%03d", n, i+1)
		}
		r.clients = clients
		if err := r.traffic.register(hbCtx, clients); err != nil {
			return rep, err
		}
		if err := r.waitWorkers(ctx, clients, 3*time.Minute+time.Duration(n)*3*time.Second); err != nil {
			return rep, err
		}
		say("%d clients registered, %d workers running", n, 3*n)
		streams := map[string]*stream{}
		for _, c := range clients {
			streams[c] = newStream(c, cfg.Seed)
		}
		r.warmUp(ctx, cfg, clients, streams)
		say("%d clients warmed up (%s at %.0f records/s, not counted)", n, cfg.Step, cfg.Start)
		for rate := cfg.Start; rate <= cfg.MaxRate && ctx.Err() == nil; rate *= cfg.Factor {
			st := r.loadStep(ctx, cfg, clients, streams, rate)
			rep.Steps = append(rep.Steps, st)
			say("%d clients, %.0f records/s offered, %.0f acked: lag %d halfway, %d at the end: held %v (load average %s)", n, st.Offered, st.Acked, st.LagMid, st.LagEnd, st.Held, st.LoadAvg)
			if !st.Held {
				break
			}
		}
		// The next client count starts from a quiet system: these clients
		// deregister (their workers are purged) and their backlog is left.
		for _, c := range clients {
			r.traffic.pause(c)
			lifecycle.Deregister(ctx, sender{r.traffic.beats, c}, kafkaio.TopicRegistry, c)
		}
		deadline := time.Now().Add(3 * time.Minute)
		for time.Now().Before(deadline) && countWorkers(r.marker) > 0 {
			sleepCtx(ctx, time.Second)
		}
	}
	return rep, ctx.Err()
}

// warmUp holds the start rate for a step that is not counted, then waits
// (at most another step) for the workers to catch up. The first records new
// workers handle meet cold caches — Neo4j plans every query shape once, the
// graph builder creates its constraints, connections open — and a first
// step measured cold said one client could not hold 30 records/s.
func (r *runner) warmUp(ctx context.Context, cfg LoadConfig, clients []string, streams map[string]*stream) {
	r.loadStep(ctx, cfg, clients, streams, cfg.Start)
	deadline := time.Now().Add(cfg.Step)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if l, err := r.offs.lags(clients); err == nil && l.total() <= int64(cfg.Start) {
			return
		}
		sleepCtx(ctx, time.Second)
	}
}

// startSystem starts the private services and the planes (the first part of
// a soak, without faults to come).
func (r *runner) startSystem(ctx context.Context) error {
	cfg := r.cfg
	if err := cfg.Clean(ctx); err != nil {
		return err
	}
	if err := cfg.CheckPortsFree(); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(cfg.RunDir, "plane-*"))
	for _, p := range old {
		os.RemoveAll(p)
	}
	if err := cfg.StartBoth(ctx); err != nil {
		return err
	}
	if err := r.createTopics(); err != nil {
		return err
	}
	var err error
	if r.offs, err = newOffsets(cfg.Brokers(), cfg.Partitions); err != nil {
		return err
	}
	if r.planes, err = newPlanes(cfg, r.marker, cfg.RunDir, ""); err != nil {
		return err
	}
	for _, p := range r.planes.list {
		if err := r.planes.start(p); err != nil {
			return err
		}
	}
	if _, _, err := r.planes.waitLeader(ctx, 3*time.Minute); err != nil {
		return err
	}
	r.traffic, err = newTraffic(cfg, nil, r.log)
	return err
}

// loadStep publishes at rate for the step and measures lag and CPU.
func (r *runner) loadStep(ctx context.Context, cfg LoadConfig, clients []string, streams map[string]*stream, rate float64) LoadStep {
	st := LoadStep{Clients: len(clients), Offered: rate}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	sent0 := r.traffic.sent.Load()
	cpu0, machine0 := r.cpuSample(), machineCPU()
	start := time.Now()
	for _, c := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); r.traffic.publishLoop(ctx, stop, streams[c], rate/float64(len(clients))) }()
	}
	sleepCtx(ctx, cfg.Step/2)
	if l, err := r.offs.lags(clients); err == nil {
		st.LagMid = l.total()
	}
	sleepCtx(ctx, cfg.Step/2)
	if l, err := r.offs.lags(clients); err == nil {
		st.LagEnd = l.total()
	} else {
		st.LagEnd = -1
	}
	elapsed := time.Since(start)
	cpu1, machine1 := r.cpuSample(), machineCPU()
	close(stop)
	wg.Wait()
	st.Acked = float64(r.traffic.sent.Load()-sent0) / elapsed.Seconds()
	st.CPU = map[string]float64{}
	for k, v := range cpu1 {
		st.CPU[k] = (v - cpu0[k]) / elapsed.Seconds()
	}
	st.Machine = (machine1 - machine0) / elapsed.Seconds()
	st.LoadAvg = loadAverage()
	st.Held = held(st, cfg, elapsed)
	return st
}

// held says whether a step's rate held: the lag at its end within MaxLag of
// load and not grown by more than 2 s of load over the second half, and Kafka
// acknowledged the rate. Each client publishes whole records from its own
// budget, so at the end of a step up to one record per client is still
// unspent: with 100 clients at 30 records/s that alone is 2 records/s short
// over 45 s, which is the publisher's rounding, not the system falling behind.
func held(st LoadStep, cfg LoadConfig, elapsed time.Duration) bool {
	bound := int64(st.Offered * cfg.MaxLag.Seconds())
	rounding := float64(st.Clients) / elapsed.Seconds()
	return st.LagEnd >= 0 && st.LagEnd <= bound && st.LagEnd <= st.LagMid+int64(2*st.Offered) && st.Acked >= 0.9*st.Offered-rounding
}

// cpuSample is the CPU seconds used so far by each component: the private
// Kafka and Neo4j, the workers by role, the planes, and this process.
func (r *runner) cpuSample() map[string]float64 {
	out := map[string]float64{}
	if pid := r.cfg.pidOf("kafka"); pid > 0 {
		out["kafka"] = procCPU(pid)
	}
	if pid := r.cfg.pidOf("neo4j"); pid > 0 {
		out["neo4j"] = procCPU(pid)
	}
	for _, p := range testutil.ProcessesWithEnv("KG_SOAK_RUN=" + r.marker) {
		switch {
		case len(p.Args) > 1 && strings.HasSuffix(p.Args[0], "kg-worker"):
			out[p.Args[1]] += procCPU(p.PID)
		case strings.HasSuffix(p.Args[0], "kg-control-plane"):
			out["planes"] += procCPU(p.PID)
		}
	}
	out["soak"] = procCPU(os.Getpid())
	return out
}

// procCPU is a process's user and system CPU seconds (its exited children
// not included: a worker that exits takes its time with it, which a step
// without faults does not see).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command may contain spaces: fields start after the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// machineCPU is the CPU seconds every process of the machine used (/proc/stat).
func machineCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy float64
	// user nice system idle iowait irq softirq steal guest guest_nice: the
	// guest times are in user already, idle and iowait are not work.
	for _, i := range []int{0, 1, 2, 5, 6, 7} {
		if i+1 < len(f) {
			n, _ := strconv.ParseFloat(f[i+1], 64)
			busy += n
		}
	}
	return busy / clockTicks
}

func countWorkers(marker string) int {
	n := 0
	for _, p := range testutil.ProcessesWithEnv("KG_SOAK_RUN=" + marker) {
		if len(p.Args) > 0 && strings.HasSuffix(p.Args[0], "kg-worker") {
			n++
		}
	}
	return n
}
