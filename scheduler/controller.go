// Package scheduler keeps each client's state (registered, active, stale,
// deregistered) from cluster.registry and cluster.heartbeat, and reconciles the
// Nomad jobs of every live client against the jobs Nomad actually has.
//
// It is built like a Kubernetes controller (the sample-controller's split):
//
//	controller.go  Config, New, Run: catch up, lead or follow, the workers
//	intake.go      records from Kafka change state and queue the client
//	deadlines.go   one stale deadline per live client; disruption holds purges
//	desired.go     what a live client's jobs should be (rendered, cached)
//	nomadview.go   what Nomad has (the list, kept fresh by our own writes)
//	reconcile.go   one client: submit what is missing, purge what is unwanted
//	status.go      /v1/clients, readiness
//	leadership.go  who may act when several planes run
//	workqueue.go   the two-lane, de-duplicating, rate-limited work queue
//
// Records change state and queue the client; workers reconcile one client at a
// time, level-triggered (desired = live clients × templates, actual = Nomad jobs
// whose meta says this plane manages them), retrying failures with a per-client
// backoff so one client never stalls the rest.
package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/kgrca/kgplane/nomad"
)

// Nomad is what the controller needs of a backend; *nomad.Client implements
// it (and nomad/embedded on one machine). ListManaged returns only this
// plane's jobs; Submit receives the whole kg_* meta, kg_plane and kg_term
// included.
type Nomad interface {
	Submit(ctx context.Context, r nomad.Rendered, meta map[string]string) (nomad.SubmitResult, error)
	Purge(ctx context.Context, jobID string) error
	ListManaged(ctx context.Context) ([]nomad.ManagedJob, error)
}

// LiveStatuses is what a backend that knows its jobs' state in memory
// (nomad/embedded: its own child processes) may add: every job's status as of
// now, by job id, without a network call. /v1/clients then shows a task that
// started a moment ago as running, instead of the status of the last list
// (up to one ResyncInterval old). Nomad's API client does not offer it: a
// list per status request would put load on Nomad.
type LiveStatuses interface {
	JobStatuses() map[string]string
}

// Config holds the controller's settings.
type Config struct {
	// StaleThreshold: no heartbeat for this long makes a client stale.
	StaleThreshold time.Duration
	// ResyncInterval: how often every client is reconciled against a fresh list
	// of Nomad's jobs, whatever happened (HEARTBEAT_CHECK_INTERVAL_SECONDS).
	ResyncInterval time.Duration
	// KafkaBrokers is handed to the templates as var.kafka_brokers.
	KafkaBrokers string
	// Plane is this control plane's identity, the kg_plane meta of its jobs
	// (the backend lists only that plane's jobs). Required.
	Plane string
	// Workers reconcile clients in parallel (default 4).
	Workers int
	// RetryBase and RetryMax bound the per-client backoff after a failure.
	RetryBase, RetryMax time.Duration
	// Leader elects among several planes; nil = this plane always leads.
	Leader Leader
	// DisruptionFraction: when at least this share of the live clients (and
	// at least DisruptionMinClients of them) have been silent for half the
	// threshold at once, the silence is taken for a disruption on our side
	// (a partition, a broken topic), not for that many dead clients, and
	// purges are held (default 0.55, as Kubernetes' node lifecycle
	// controller's unhealthy-zone threshold; 1 or more disables it).
	DisruptionFraction   float64
	DisruptionMinClients int
	// IngestStallAfter: heartbeats not confirmed read up to the brokers' end
	// for this long make the ingest unhealthy and hold every purge (default
	// 5 s or a twentieth of the threshold, whichever is longer).
	IngestStallAfter time.Duration
	// Clock drives deadlines, backoff and resyncs (default the real clock);
	// tests use k8s.io/utils/clock/testing.FakeClock.
	Clock clock.WithTickerAndDelayedExecution
}

func (c *Config) setDefaults() error {
	if c.StaleThreshold <= 0 {
		return errors.New("stale threshold must be positive")
	}
	if c.Plane == "" {
		return errors.New("no plane identity: set Config.Plane (KG_PLANE)")
	}
	if c.ResyncInterval <= 0 {
		c.ResyncInterval = 30 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 500 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 2 * time.Minute
	}
	if c.DisruptionFraction <= 0 {
		c.DisruptionFraction = 0.55
	}
	if c.DisruptionMinClients <= 0 {
		c.DisruptionMinClients = 3
	}
	if c.IngestStallAfter <= 0 {
		c.IngestStallAfter = max(5*time.Second, c.StaleThreshold/20)
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Leader == nil {
		c.Leader = soloLeader{self: c.Plane}
	}
	return nil
}

// Controller owns the client registry and reconciles Nomad jobs.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	nomad   Nomad
	clock   clock.WithTickerAndDelayedExecution
	queue   atomic.Pointer[workQueue] // a fresh queue per term; shut down while following
	metrics *Metrics

	mu        sync.Mutex
	reg       *Registry
	timers    map[string]clock.Timer // stale deadlines, armed once caught up
	armed     bool
	jobs      map[string]map[string]nomad.ManagedJob // what Nomad has: client → job id → job
	templates *nomad.TemplateSet
	// desired caches, per live client, the job ids and SHAs its templates
	// render to, for the template set in force; a resync compares it with jobs
	// without rendering anything, so only clients that differ are queued.
	desired map[string]desiredSet
	// changedAt is when this controller last changed a client's jobs; a list
	// that started before that is older than what we know, for that client.
	changedAt map[string]time.Time
	staleAt   map[string]time.Time // deadline of clients whose purge is pending, for the delay metric
	deadlines deadlineState

	term      atomic.Int64 // the term this plane leads in, 0 while following
	stepDown  context.CancelFunc
	ready     atomic.Bool
	waiting   atomic.Pointer[string] // what readiness waits for, for /readyz
	caughtUp  chan struct{}
	caughtOne sync.Once
}

// New returns a controller using templates as its initial, already validated, set.
func New(cfg Config, nm Nomad, templates *nomad.TemplateSet, log *slog.Logger, reg prometheus.Registerer) (*Controller, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if templates == nil || len(templates.Templates) == 0 {
		return nil, errors.New("no job templates: the control plane needs at least one jobspecs/*.nomad.hcl")
	}
	c := &Controller{
		cfg:       cfg,
		log:       log,
		nomad:     nm,
		clock:     cfg.Clock,
		reg:       NewRegistry(cfg.StaleThreshold),
		timers:    make(map[string]clock.Timer),
		jobs:      make(map[string]map[string]nomad.ManagedJob),
		desired:   make(map[string]desiredSet),
		changedAt: make(map[string]time.Time),
		templates: templates,
		staleAt:   make(map[string]time.Time),
		caughtUp:  make(chan struct{}),
	}
	c.deadlines.init()
	idle := newWorkQueue(cfg.RetryBase, cfg.RetryMax, cfg.Clock)
	idle.ShutDown() // while following, nothing is queued
	c.queue.Store(idle)
	c.metrics = newMetrics(reg, c)
	c.setWaiting("reading the registry and recent heartbeats from Kafka")
	return c, nil
}

func (c *Controller) setWaiting(s string) { c.waiting.Store(&s) }

// CaughtUp tells the controller the registry and recent heartbeats have been read;
// reconciling starts only after it, so a restart never acts on half a history.
func (c *Controller) CaughtUp() { c.caughtOne.Do(func() { close(c.caughtUp) }) }

// Ready reports whether the controller is caught up and either reconciling
// (leader) or following, ready to take over (standby).
func (c *Controller) Ready() bool { return c.ready.Load() }

// Fence returns ErrNotLeader unless this plane can prove, now, that it leads.
// The Nomad client calls it right before every write (nomad.Config.BeforeWrite).
func (c *Controller) Fence(context.Context) error {
	t := c.term.Load()
	if t == 0 || !c.cfg.Leader.Held(t) {
		c.metrics.fenced.Inc()
		return ErrNotLeader
	}
	return nil
}

// Run waits for CaughtUp, then leads whenever the election says so, and
// follows (keeping state, listing Nomad, writing nothing) otherwise, until ctx
// is done. It returns after every worker has finished its current client.
func (c *Controller) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-c.caughtUp:
	}
	c.log.Info("registry caught up", c.phaseCounts()...)
	c.mu.Lock()
	c.armed = true
	for _, id := range c.reg.IDs() {
		c.armLocked(id)
	}
	c.mu.Unlock()

	var bg sync.WaitGroup
	bg.Go(func() { c.watchIngest(ctx) })
	bg.Go(func() { c.follow(ctx) })
	for ctx.Err() == nil {
		st := c.cfg.Leader.Status()
		c.setWaiting("")
		c.ready.Store(true) // a caught-up standby is ready to take over
		c.log.Info("waiting for the leadership", "self", st.Self, "leader", st.Leader)
		term, err := c.cfg.Leader.Acquire(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Error("leader election failed", "error", err)
			}
			break
		}
		c.lead(ctx, term)
	}
	c.ready.Store(false)
	bg.Wait()
	c.mu.Lock()
	c.armed = false // records still arriving must not arm timers that outlive Run
	for id, t := range c.timers {
		t.Stop()
		delete(c.timers, id)
	}
	c.mu.Unlock()
	return nil
}

// lead reconciles for one term: adopt what Nomad has, expire the overdue,
// queue whatever differs, and run the workers and the resync until the term
// ends (or a job written in a newer term shows that another plane leads).
func (c *Controller) lead(ctx context.Context, term Term) {
	termCtx, stepDown := context.WithCancel(term.Ctx)
	defer stepDown()
	c.mu.Lock()
	c.stepDown = stepDown
	c.mu.Unlock()
	c.term.Store(term.ID)
	defer c.term.Store(0)
	c.metrics.terms.Inc()
	c.log.Info("leading", "term", term.ID, "plane", c.cfg.Plane)
	c.ready.Store(false)
	c.setWaiting("listing Nomad's jobs")
	// Adopt what Nomad has before deciding anything: until a list succeeds we do
	// not know which jobs exist, so nothing is submitted or purged.
	for backoff := c.cfg.RetryBase; ; backoff = min(2*backoff, 30*time.Second) {
		err := c.refreshJobs(termCtx)
		if err == nil {
			break
		}
		if termCtx.Err() != nil {
			c.log.Info("leadership ended before Nomad answered", "term", term.ID)
			return
		}
		c.log.Error("listing Nomad jobs failed; retrying (is Nomad reachable at NOMAD_ADDR?)", "error", err, "retry_in", backoff)
		c.setWaiting("Nomad to list its jobs (check NOMAD_ADDR): " + err.Error())
		select {
		case <-termCtx.Done():
			return
		case <-c.clock.After(backoff):
		}
	}
	q := newWorkQueue(c.cfg.RetryBase, c.cfg.RetryMax, c.clock)
	c.queue.Store(q)
	// Clients whose deadline passed while nobody led are stale now.
	c.expireOverdue()
	c.enqueueAll()
	c.setWaiting("")
	c.ready.Store(true)

	var wg sync.WaitGroup
	for i := 0; i < c.cfg.Workers; i++ {
		wg.Go(func() { c.worker(termCtx, q) })
	}
	ticker := c.clock.NewTicker(c.cfg.ResyncInterval)
	defer ticker.Stop()
loop:
	for {
		select {
		case <-termCtx.Done():
			break loop
		case <-ticker.C():
			if err := c.refreshJobs(termCtx); err != nil {
				if termCtx.Err() == nil {
					c.log.Error("periodic resync: listing Nomad jobs failed", "error", err)
				}
				continue
			}
			c.expireOverdue()
			c.enqueueAll()
		}
	}
	q.ShutDown()
	wg.Wait()
	if ctx.Err() == nil {
		c.log.Warn("leadership lost; following", "term", term.ID, "leader", c.cfg.Leader.Status().Leader)
	}
}

// follow keeps a standby's view of Nomad fresh (one list per resync
// interval) so /v1/clients shows the jobs and a takeover starts from a
// recent view. It never writes.
func (c *Controller) follow(ctx context.Context) {
	ticker := c.clock.NewTicker(c.cfg.ResyncInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
			if c.term.Load() != 0 {
				continue // the leader's own resync lists
			}
			if err := c.refreshJobs(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("standby: listing Nomad jobs failed", "error", err)
			}
		}
	}
}

func (c *Controller) worker(ctx context.Context, q *workQueue) {
	for {
		id, ok := q.Get()
		if !ok {
			return
		}
		start := time.Now()
		err := c.reconcileClient(ctx, id)
		c.metrics.reconcileDur.Observe(time.Since(start).Seconds())
		switch {
		case err == nil:
			c.metrics.reconciles.WithLabelValues("ok").Inc()
			q.Forget(id)
		case ctx.Err() != nil || errors.Is(err, ErrNotLeader):
			c.metrics.reconciles.WithLabelValues("canceled").Inc()
		default:
			c.metrics.reconciles.WithLabelValues("error").Inc()
			d := q.Retry(id)
			c.log.Error("reconcile failed, will retry", "client", id, "retry_in", d, "error", err)
		}
		q.Done(id)
	}
}

// enqueue queues a client for reconcile (urgent: ahead of the others). While
// following, the queue is shut down and this does nothing: the next leader
// compares everything when it takes over.
func (c *Controller) enqueue(id string, urgent bool) {
	q := c.queue.Load()
	if urgent {
		q.AddUrgent(id)
	} else {
		q.Add(id)
	}
}
