package soak

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/scheduler"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// runner is one soak in progress.
type runner struct {
	cfg      Config
	out      io.Writer // progress
	log      *slog.Logger
	begun    time.Time
	loadFrom time.Time
	marker   string
	clients  []string
	rnd      *rand.Rand

	ledger  *ledger
	traffic *traffic
	poison  *poisonStream
	planes  *planes
	offs    *offsets
	driver  neo4j.DriverWithContext
	nomad   *nomadAgent

	mu          sync.Mutex
	faults      []faultLog
	windows     []window
	paused      string // the client not heartbeating now
	pauseClient string // the client of the heartbeat pause, kept after it
	pauseUntil  time.Time
	maxLag      map[string]int64
	lastLag     int64
	lagKnown    bool
	badPhases   []string
	killed      map[string]int // "client role" → SIGKILLs the soak sent
	kafkaDown   bool
	pubErrs     int64
}

// Run runs one soak: private services, planes, clients, the load with its
// faults, the drain, the checks. progress gets a line at every step and
// every 15 s of load. The report says what held; an error means the soak
// itself could not run (it then says what to do).
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Services.setDefaults(cfg.Root)
	r := &runner{cfg: cfg, out: progress, begun: time.Now(), rnd: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x50a4)),
		ledger: newLedger(), maxLag: map[string]int64{}, killed: map[string]int{},
		marker: fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())}
	for i := range cfg.Clients {
		r.clients = append(r.clients, clientID(i))
	}
	if err := r.cfg.Lock(ctx, r.say); err != nil {
		return nil, err
	}
	defer r.cfg.Unlock()
	logFile, err := os.Create(filepath.Join(cfg.RunDir, "soak.log"))
	if err != nil {
		return nil, fmt.Errorf("creating the soak's log: %w", err)
	}
	defer logFile.Close()
	r.log = slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rep := &Report{Config: cfg, Started: r.begun, LoadAtStart: loadAverage()}
	err = r.run(ctx, rep)
	r.teardown(rep)
	rep.Total = time.Since(r.begun)
	rep.LoadAtEnd = loadAverage()
	if err != nil {
		return rep, err
	}
	return rep, nil
}

// say prints a progress line, stamped with the time since the start.
func (r *runner) say(format string, args ...any) {
	fmt.Fprintf(r.out, "[soak %s] %s\n", fmtOffset(time.Since(r.begun)), fmt.Sprintf(format, args...))
	r.log.Info(fmt.Sprintf(format, args...))
}

func (r *runner) run(ctx context.Context, rep *Report) error {
	cfg := r.cfg
	r.say("private services in %s (Kafka 127.0.0.1:%d, Neo4j bolt 127.0.0.1:%d); load average %s", cfg.RunDir, cfg.KafkaPort, cfg.Neo4jBoltPort, rep.LoadAtStart)
	// A soak killed before it cleaned up leaves its services running on the
	// private ports, recorded in their pid files: clean them away first.
	if err := cfg.Clean(ctx); err != nil {
		return err
	}
	if err := cfg.CheckPortsFree(); err != nil {
		return err
	}
	// The previous run's planes' state (task logs) would count in this one's.
	old, _ := filepath.Glob(filepath.Join(cfg.RunDir, "plane-*"))
	for _, p := range append(old, filepath.Join(cfg.RunDir, "nomad")) {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("removing the previous run's %s: %w", p, err)
		}
	}
	if err := cfg.StartBoth(ctx); err != nil {
		return err
	}
	r.say("Kafka and Neo4j are up")
	if err := r.createTopics(); err != nil {
		return err
	}
	var err error
	if r.offs, err = newOffsets(cfg.Brokers(), cfg.Partitions); err != nil {
		return err
	}
	if r.driver, err = neo4j.NewDriverWithContext(cfg.Neo4jURI(), neo4j.NoAuth()); err != nil {
		return fmt.Errorf("connecting to the private Neo4j: %w", err)
	}
	nomadAddr := ""
	if cfg.Backend == "nomad" {
		if r.nomad, err = startNomad(ctx, cfg.NomadBin, cfg.RunDir, r.marker); err != nil {
			return err
		}
		nomadAddr = r.nomad.addr
		r.say("Nomad dev agent at %s", nomadAddr)
	}
	if r.planes, err = newPlanes(cfg, r.marker, cfg.RunDir, nomadAddr); err != nil {
		return err
	}
	for _, p := range r.planes.list {
		if err := r.planes.start(p); err != nil {
			return err
		}
	}
	leader, _, err := r.planes.waitLeader(ctx, cfg.PlaneReadyAfter)
	if err != nil {
		return err
	}
	r.say("%d control planes (%s backend) up; %s leads", cfg.Planes, cfg.Backend, leader.name)
	if r.traffic, err = newTraffic(cfg, r.ledger, r.log); err != nil {
		return err
	}
	hbCtx, stopBeats := context.WithCancel(ctx)
	defer stopBeats()
	if err := r.traffic.register(hbCtx, r.clients); err != nil {
		return err
	}
	if err := r.waitWorkers(ctx, r.clients, 3*time.Minute+time.Duration(cfg.Clients)*2*time.Second); err != nil {
		return err
	}
	r.say("%d clients registered, their %d workers running", cfg.Clients, 3*cfg.Clients)

	r.load(ctx, rep)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.drain(ctx, rep)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return r.check(ctx, rep)
}

func (r *runner) createTopics() error {
	sc := kafkaio.NewSaramaConfig(kafkaio.Security{}, "kg-soak-admin")
	admin, err := sarama.NewClusterAdmin(r.cfg.Brokers(), sc)
	if err != nil {
		return fmt.Errorf("connecting to the private Kafka: %w", err)
	}
	defer admin.Close()
	if _, err := kafkaio.EnsureTopics(admin, kafkaio.Topics(int32(r.cfg.Partitions))); err != nil {
		return fmt.Errorf("creating the topics: %w", err)
	}
	return nil
}

// waitWorkers waits until every one of clients has its three workers.
func (r *runner) waitWorkers(ctx context.Context, clients []string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var missing []string
		for _, c := range clients {
			if w := workerProcs(c); len(w) < 3 {
				missing = append(missing, c)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s, %d clients still lack workers (%s ...); see the planes' logs in %s", within, len(missing), missing[0], r.cfg.RunDir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// load publishes and runs the fault schedule for the configured duration.
func (r *runner) load(ctx context.Context, rep *Report) {
	cfg := r.cfg
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	r.loadFrom = time.Now()
	per := cfg.Rate / float64(cfg.Clients)
	for _, c := range r.clients {
		pubs.Add(1)
		go func() { defer pubs.Done(); r.traffic.publishLoop(ctx, stop, newStream(c, cfg.Seed), per) }()
	}
	if cfg.PoisonRate > 0 {
		var err error
		if r.poison, err = newPoisonStream(cfg.Brokers(), newPoisonGen(cfg.Seed, r.clients, cfg.Partitions)); err != nil {
			r.say("no poison stream: %v", err)
		} else {
			pubs.Add(1)
			go func() {
				defer pubs.Done()
				r.poison.run(ctx, stop, cfg.PoisonRate, r.ledger, func(err error) { r.log.Debug("poison record not acknowledged; retrying", "error", err) })
			}()
		}
	}
	plan := schedule(cfg)
	r.say("load: %.0f records/s from %d clients for %s, %.1f poison records/s; %d faults scheduled", cfg.Rate, cfg.Clients, cfg.Duration, cfg.PoisonRate, len(plan))
	monCtx, stopMon := context.WithCancel(ctx)
	var mon sync.WaitGroup
	mon.Add(1)
	go func() { defer mon.Done(); r.monitor(monCtx, stop) }()
	var faults sync.WaitGroup
	for _, f := range plan {
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(r.loadFrom.Add(f.At))):
		}
		if ctx.Err() != nil {
			break
		}
		faults.Add(1)
		go func() { defer faults.Done(); r.inject(ctx, f) }()
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(r.loadFrom.Add(cfg.Duration))):
	}
	close(stop)
	rep.LoadDuration = time.Since(r.loadFrom)
	r.say("load ends: waiting for the batches in flight and the faults still running")
	pubs.Wait()
	faults.Wait()
	stopMon()
	mon.Wait()
	if r.poison != nil {
		r.poison.close()
	}
	rep.Acked = r.ledger.acked.Load()
	rep.PoisonAcked = r.ledger.poison.Load()
	rep.PublishRetries = r.traffic.sendErrs.Load()
}

// monitor samples lags and the leader's view every 5 s (the per-client
// maximum lag, clients that left the active phase without being told to)
// and prints progress every 15 s, until ctx ends.
func (r *runner) monitor(ctx context.Context, loadDone <-chan struct{}) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	lastSay := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r.sample(ctx)
		if time.Since(lastSay) >= 15*time.Second {
			lastSay = time.Now()
			r.progress()
		}
	}
}

// sample reads lags and the leader's view once.
func (r *runner) sample(ctx context.Context) {
	l, err := r.offs.lags(r.clients)
	r.mu.Lock()
	if err == nil {
		r.lastLag, r.lagKnown = l.total(), true
		for c, v := range l {
			r.maxLag[c] = max(r.maxLag[c], v)
		}
	} else {
		r.lagKnown = false
	}
	pc, until, kafkaDown := r.pauseClient, r.pauseUntil, r.kafkaDown
	r.mu.Unlock()
	_, v := r.planes.leader(ctx)
	if v == nil || kafkaDown {
		return
	}
	for _, c := range v.Clients {
		if c.Phase == scheduler.PhaseActive || c.Phase == scheduler.PhaseRegistered {
			continue
		}
		// The paused client is stale on purpose until its heartbeats are back and read.
		if c.ID == pc && time.Now().Before(until.Add(r.cfg.StaleThreshold+30*time.Second)) {
			continue
		}
		r.mu.Lock()
		r.badPhases = append(r.badPhases, fmt.Sprintf("%s %s at %s", c.ID, c.Phase, fmtOffset(time.Since(r.loadFrom))))
		r.mu.Unlock()
	}
}

func (r *runner) progress() {
	r.mu.Lock()
	lag, known, done := r.lastLag, r.lagKnown, len(r.faults)
	r.mu.Unlock()
	lagText := "unknown (Kafka down?)"
	if known {
		lagText = fmt.Sprint(lag)
	}
	leader := "none"
	if p, _ := r.planes.leader(context.Background()); p != nil {
		leader = p.name
	}
	workers := 0
	for _, p := range testutil.ProcessesWithEnv("KG_SOAK_RUN=" + r.marker) {
		if len(p.Args) > 0 && strings.HasSuffix(p.Args[0], "kg-worker") {
			workers++
		}
	}
	elapsed := time.Since(r.loadFrom)
	phase := fmt.Sprintf("load %s/%s", fmtOffset(min(elapsed, r.cfg.Duration)), fmtOffset(r.cfg.Duration))
	if elapsed > r.cfg.Duration {
		phase = "drain"
	}
	r.say("%s · acked %d records (%d poison) · lag %s · leader %s · %d workers · %d faults injected · load average %s",
		phase, r.ledger.acked.Load(), r.ledger.poison.Load(), lagText, leader, workers, done, loadAverage())
}

// inject runs one fault and records what happened.
func (r *runner) inject(ctx context.Context, f fault) {
	fl := faultLog{fault: f, Start: time.Now()}
	switch f.Kind {
	case faultWorkerKill:
		r.killWorker(ctx, &fl)
	case faultLeaderKill:
		r.killLeader(ctx, &fl)
	case faultKafkaOutage:
		r.outage(ctx, &fl, "Kafka", r.cfg.KafkaOutage, r.cfg.StopKafka, r.cfg.StartKafka)
	case faultNeo4jOutage:
		r.outage(ctx, &fl, "Neo4j", r.cfg.Neo4jOutage, r.cfg.StopNeo4j, r.cfg.StartNeo4j)
	case faultHeartbeatPause:
		r.pauseHeartbeats(ctx, &fl)
	}
	r.mu.Lock()
	r.faults = append(r.faults, fl)
	r.mu.Unlock()
	r.say("fault %s", fl)
}

func (r *runner) killWorker(ctx context.Context, fl *faultLog) {
	// Right after a leader kill every worker may be being placed again: try
	// for a minute, not only once, so that the kill still lands.
	deadline := time.Now().Add(time.Minute)
	for try := 1; time.Now().Before(deadline) && ctx.Err() == nil; try++ {
		if try%20 == 0 {
			sleepCtx(ctx, time.Second)
		}
		r.mu.Lock()
		c := r.clients[r.rnd.IntN(len(r.clients))]
		role := roles[r.rnd.IntN(len(roles))]
		paused := r.paused
		r.mu.Unlock()
		pids := workerProcs(c)[role]
		if c == paused || len(pids) == 0 {
			continue // restarting, or purged on purpose: another one
		}
		pid := pids[0]
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			continue
		}
		r.mu.Lock()
		r.killed[c+" "+role]++
		r.mu.Unlock()
		fl.Detail = fmt.Sprintf("%s of %s (pid %d) SIGKILLed", role, c, pid)
		start := time.Now()
		for time.Since(start) < 3*time.Minute && ctx.Err() == nil {
			if now := workerProcs(c)[role]; len(now) > 0 && !slices.Contains(now, pid) {
				fl.Outcome = fmt.Sprintf("restarted after %s", time.Since(start).Round(time.Second))
				return
			}
			sleepCtx(ctx, time.Second)
		}
		if _, v := r.planes.leader(ctx); v != nil && r.isLive(v, c) {
			fl.Failed = "not restarted within 3 min"
		}
		return
	}
	fl.Detail = "no worker to kill found for a minute (every candidate restarting)"
}

func (r *runner) isLive(v *view, client string) bool {
	for _, c := range v.Clients {
		if c.ID == client {
			return c.Phase.Live()
		}
	}
	return false
}

func (r *runner) killLeader(ctx context.Context, fl *faultLog) {
	var p *plane
	for range 60 {
		if p, _ = r.planes.leader(ctx); p != nil {
			break
		}
		sleepCtx(ctx, time.Second)
	}
	if p == nil {
		fl.Detail, fl.Failed = "no leader to kill", "no plane led for a minute"
		return
	}
	start := time.Now()
	r.planes.signal(p, syscall.SIGKILL, time.Minute)
	fl.Detail = p.name + " SIGKILLed"
	var next *plane
	for time.Since(start) < 2*time.Minute && ctx.Err() == nil {
		if q, _ := r.planes.leader(ctx); q != nil && q != p {
			next = q
			break
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
	took := time.Since(start)
	sleepCtx(ctx, max(0, r.cfg.RestartDelay-took))
	if err := r.planes.start(p); err != nil {
		fl.Failed = err.Error()
		return
	}
	if next == nil {
		fl.Failed = "no other plane took over within 2 min"
		return
	}
	fl.Outcome = fmt.Sprintf("%s led after %s, %s restarted", next.name, took.Round(100*time.Millisecond), p.name)
	live := r.liveClients(ctx)
	if err := r.waitWorkers(ctx, live, 4*time.Minute); err != nil {
		fl.Failed = "workers not all back: " + err.Error()
		return
	}
	fl.Outcome += fmt.Sprintf(", every live client's workers back after %s", time.Since(start).Round(time.Second))
}

// liveClients are the clients that should have workers now (not the paused one).
func (r *runner) liveClients(ctx context.Context) []string {
	r.mu.Lock()
	paused := r.paused
	r.mu.Unlock()
	var out []string
	for _, c := range r.clients {
		if c != paused {
			out = append(out, c)
		}
	}
	return out
}

func (r *runner) outage(ctx context.Context, fl *faultLog, name string, d time.Duration, stop, start func(context.Context) error) {
	r.mu.Lock()
	before := r.lastLag
	if name == "Kafka" {
		r.kafkaDown = true
	}
	r.mu.Unlock()
	begin := time.Now()
	if err := stop(ctx); err != nil {
		fl.Failed = err.Error()
		return
	}
	stopped := time.Now()
	sleepCtx(ctx, d)
	restart := time.Now()
	err := start(ctx)
	r.mu.Lock()
	r.kafkaDown = false
	// Workers may exit on purpose while a service is gone (to be restarted
	// by the backend); that is no crash loop.
	r.windows = append(r.windows, window{begin, time.Now().Add(2 * time.Minute)})
	r.mu.Unlock()
	fl.Duration = time.Since(begin)
	fl.Detail = fmt.Sprintf("%s stopped (SIGTERM, gone after %s), left down %s, started again (answering after %s)", name,
		stopped.Sub(begin).Round(time.Second), restart.Sub(stopped).Round(time.Second), time.Since(restart).Round(time.Second))
	if err != nil {
		fl.Failed = err.Error()
		return
	}
	// Recovered: lags known again and back to what they were (or to two
	// seconds of load) — the backlog of the outage worked off.
	normal := max(before, int64(2*r.cfg.Rate))
	for wait := time.Now(); time.Since(wait) < 5*time.Minute && ctx.Err() == nil; {
		if l, err := r.offs.lags(r.clients); err == nil && l.total() <= normal {
			fl.Outcome = fmt.Sprintf("backlog worked off %s after the restart", time.Since(restart).Round(time.Second))
			return
		}
		sleepCtx(ctx, 2*time.Second)
	}
	fl.Outcome = "backlog not worked off within 5 min (under load; the drain checks the end)"
}

func (r *runner) pauseHeartbeats(ctx context.Context, fl *faultLog) {
	c := r.clients[len(r.clients)-1]
	pause := time.Duration(2.5 * float64(r.cfg.StaleThreshold))
	r.mu.Lock()
	r.paused, r.pauseClient, r.pauseUntil = c, c, time.Now().Add(pause)
	r.mu.Unlock()
	r.traffic.pause(c)
	start := time.Now()
	fl.Detail = fmt.Sprintf("%s stops heartbeating for %s (threshold %s), keeps publishing", c, pause, r.cfg.StaleThreshold)
	purged := time.Duration(0)
	for time.Since(start) < pause && ctx.Err() == nil {
		if purged == 0 && len(workerProcs(c)) == 0 {
			purged = time.Since(start)
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	r.traffic.resume(c)
	fl.Duration = time.Since(start)
	r.mu.Lock()
	r.paused = ""
	r.mu.Unlock()
	if purged == 0 {
		fl.Failed = fmt.Sprintf("its workers still ran %s after its last heartbeat (threshold %s): a stale client's jobs were not purged", pause, r.cfg.StaleThreshold)
	} else {
		fl.Outcome = fmt.Sprintf("workers gone %s after the pause began (at most %s after the last heartbeat)", purged.Round(time.Second), (purged + r.cfg.HeartbeatEvery).Round(time.Second))
	}
	back := time.Now()
	if err := r.waitWorkers(ctx, []string{c}, 3*time.Minute); err != nil {
		fl.Failed = "did not come back: " + err.Error()
		return
	}
	fl.Outcome += fmt.Sprintf("; back with its workers %s after heartbeating again", time.Since(back).Round(time.Second))
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// drain waits until every client's workers have committed everything, the
// dead-letter topics stop growing and every client is active with its
// three workers: the state the checks compare.
func (r *runner) drain(ctx context.Context, rep *Report) {
	start := time.Now()
	r.say("drain: waiting (at most %s) for every worker to commit everything", r.cfg.DrainTimeout)
	stable := 0
	var lastDLQ int64 = -1
	lastSay := time.Now()
	for time.Since(start) < r.cfg.DrainTimeout && ctx.Err() == nil {
		l, err := r.offs.lags(r.clients)
		dlq, derr := r.offs.endOffsets(kafkaio.TopicDLQRaw, kafkaio.TopicDLQNormalized)
		ok := err == nil && derr == nil && l.total() == 0 && dlq == lastDLQ
		if ok {
			_, v := r.planes.leader(ctx)
			ok = v != nil && r.allRunning(v) == ""
		}
		lastDLQ = dlq
		if ok {
			stable++
			if stable >= 3 {
				rep.DrainTime = time.Since(start)
				r.say("drained in %s", rep.DrainTime.Round(time.Second))
				return
			}
		} else {
			stable = 0
		}
		if time.Since(lastSay) > 15*time.Second {
			lastSay = time.Now()
			r.say("drain: lag %d, dead letters %d", l.total(), dlq)
		}
		sleepCtx(ctx, 3*time.Second)
	}
	rep.DrainTime = time.Since(start)
	l, _ := r.offs.lags(r.clients)
	var behind []string
	for _, c := range r.clients {
		if l[c] > 0 {
			behind = append(behind, fmt.Sprintf("%s (%d)", c, l[c]))
		}
	}
	reason := ""
	if _, v := r.planes.leader(ctx); v != nil {
		reason = r.allRunning(v)
	}
	rep.Stalls = append(rep.Stalls, fmt.Sprintf("not drained after %s: lag behind %v %s", r.cfg.DrainTimeout, behind, reason))
	r.say("drain: NOT drained after %s", r.cfg.DrainTimeout)
}

// allRunning says which client is not active with three running jobs ("" = all are).
func (r *runner) allRunning(v *view) string {
	seen := map[string]bool{}
	for _, c := range v.Clients {
		if !slices.Contains(r.clients, c.ID) {
			continue
		}
		seen[c.ID] = true
		running := 0
		for _, j := range c.Jobs {
			if j.Status == "running" {
				running++
			}
		}
		if c.Phase != scheduler.PhaseActive || running != 3 {
			return fmt.Sprintf("%s is %s with %d running jobs", c.ID, c.Phase, running)
		}
	}
	if len(seen) != len(r.clients) {
		return fmt.Sprintf("the leader knows %d of %d clients", len(seen), len(r.clients))
	}
	return ""
}

// teardown stops the planes (their workers stop first), checks that no
// process of the soak is left, and cleans the private services away.
func (r *runner) teardown(rep *Report) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if r.traffic != nil {
		r.traffic.close()
	}
	if r.planes != nil {
		if err := r.planes.stopAll(); err != nil {
			rep.Problems = append(rep.Problems, "stopping the planes: "+err.Error())
		}
		if r.nomad != nil {
			// Nomad's jobs outlive the planes, as they should; the soak's go.
			if err := r.nomad.purgeAll(); err != nil {
				rep.Problems = append(rep.Problems, err.Error())
			}
		}
		// SIGKILLed planes' workers die by Pdeathsig, stopped ones' by their
		// plane: either way none may be left.
		deadline := time.Now().Add(time.Minute)
		for len(leftovers(r.marker, r.planes)) > 0 && time.Now().Before(deadline) {
			time.Sleep(time.Second) // polling /proc: there is no event to wait on
		}
		rep.Leftovers = leftovers(r.marker, r.planes)
		for _, l := range rep.Leftovers {
			syscall.Kill(atoiPrefix(l), syscall.SIGKILL)
		}
	}
	if r.nomad != nil {
		r.nomad.stop()
	}
	if r.offs != nil {
		r.offs.close()
	}
	if r.driver != nil {
		r.driver.Close(ctx)
	}
	if r.cfg.Keep {
		r.say("kept the private services and their data (--keep): %s; `make soak-clean` removes them", r.cfg.RunDir)
		return
	}
	if err := r.cfg.Clean(ctx); err != nil {
		r.say("cleaning the private services: %v", err)
	}
}

func atoiPrefix(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
