// Package scheduler keeps each client's state (registered, active, stale,
// deregistered) from cluster.registry and cluster.heartbeat, and reconciles the
// Nomad jobs of every live client against the jobs Nomad actually has.
//
// It is built like a Kubernetes controller: records change state and queue the
// client; workers reconcile one client at a time, level-triggered (desired = live
// clients × templates, actual = Nomad jobs whose meta says kgplane manages them),
// retrying failures with a per-client backoff so one client never stalls the rest.
package scheduler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/kgrca/kgplane/clientid"
	"github.com/kgrca/kgplane/nomad"
)

// Nomad is what the controller needs of Nomad; *nomad.Client implements it.
type Nomad interface {
	Submit(ctx context.Context, r nomad.Rendered, meta map[string]string) (nomad.SubmitResult, error)
	Purge(ctx context.Context, jobID string) error
	ListManaged(ctx context.Context) ([]nomad.ManagedJob, error)
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
	// Workers reconcile clients in parallel (default 4).
	Workers int
	// NomadRate and NomadBurst bound Nomad API operations per second.
	NomadRate  float64
	NomadBurst int
	// RetryBase and RetryMax bound the per-client backoff after a failure.
	RetryBase, RetryMax time.Duration
	// Now is the clock (default time.Now); tests may replace it.
	Now func() time.Time
}

func (c *Config) setDefaults() error {
	if c.StaleThreshold <= 0 {
		return errors.New("stale threshold must be positive")
	}
	if c.ResyncInterval <= 0 {
		c.ResyncInterval = 30 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.NomadRate <= 0 {
		c.NomadRate = 200
	}
	if c.NomadBurst <= 0 {
		c.NomadBurst = max(1, int(math.Ceil(2*c.NomadRate)))
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 500 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 2 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Controller owns the client registry and reconciles Nomad jobs.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	nomad   Nomad
	limiter *rate.Limiter
	queue   *workQueue
	metrics *Metrics
	now     func() time.Time

	mu        sync.Mutex
	reg       *Registry
	timers    map[string]*time.Timer // stale deadlines, armed once caught up
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
		limiter:   rate.NewLimiter(rate.Limit(cfg.NomadRate), cfg.NomadBurst),
		queue:     newWorkQueue(cfg.RetryBase, cfg.RetryMax),
		now:       cfg.Now,
		reg:       NewRegistry(cfg.StaleThreshold),
		timers:    make(map[string]*time.Timer),
		jobs:      make(map[string]map[string]nomad.ManagedJob),
		desired:   make(map[string]desiredSet),
		changedAt: make(map[string]time.Time),
		templates: templates,
		staleAt:   make(map[string]time.Time),
		caughtUp:  make(chan struct{}),
	}
	c.metrics = newMetrics(reg, c)
	c.setWaiting("reading the registry and recent heartbeats from Kafka")
	return c, nil
}

func (c *Controller) setWaiting(s string) { c.waiting.Store(&s) }

// Waiting says what the controller waits for before it is ready ("" when ready).
func (c *Controller) Waiting() string {
	if c.ready.Load() {
		return ""
	}
	return *c.waiting.Load()
}

// HandleRegistry applies one cluster.registry record (value nil = tombstone)
// read at offset. Malformed records are logged and counted and change nothing.
func (c *Controller) HandleRegistry(key, value []byte, ts time.Time, offset int64) {
	c.metrics.records.WithLabelValues("registry").Inc()
	reg, err := DecodeRegistration(key, value)
	if err != nil {
		c.metrics.rejected.WithLabelValues("registry", RejectReason(err)).Inc()
		c.log.Warn("registry record rejected", "reason", RejectReason(err), "error", err)
		return
	}
	now := c.now()
	id := string(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if reg == nil {
		t, err := c.reg.Deregister(id, offset, now)
		if err != nil {
			c.metrics.ignored.WithLabelValues("registry", "tombstone_unknown_client").Inc()
			c.log.Log(context.Background(), c.lifecycleLevel(), "tombstone for a client that is not registered, ignored", "client", id)
			return
		}
		c.afterTransitionLocked(id, t, "deregistered")
		return
	}
	t, replay := c.reg.Register(*reg, SeenAt(ts, now), offset, now)
	if replay {
		c.metrics.ignored.WithLabelValues("registry", "replayed").Inc()
		return
	}
	if !t.Changed() {
		c.metrics.ignored.WithLabelValues("registry", "duplicate_registration").Inc()
		c.log.Debug("duplicate registration of a live client", "client", id)
	}
	c.afterTransitionLocked(id, t, "registered")
}

// HandleHeartbeat applies one cluster.heartbeat record read at ts (its Kafka timestamp).
func (c *Controller) HandleHeartbeat(key, value []byte, ts time.Time, _ int64) {
	c.metrics.records.WithLabelValues("heartbeat").Inc()
	hb, err := DecodeHeartbeat(key, value)
	if err != nil {
		c.metrics.rejected.WithLabelValues("heartbeat", RejectReason(err)).Inc()
		c.log.Warn("heartbeat rejected", "reason", RejectReason(err), "error", err)
		return
	}
	now := c.now()
	seen := SeenAt(ts, now)
	if skew := clockSkew(hb.Timestamp, seen); skew != "" {
		// The client's own clock is only reported on; liveness uses Kafka's timestamp.
		c.metrics.anomalies.WithLabelValues("client_clock_skew").Inc()
		c.log.Warn("heartbeat timestamp disagrees with Kafka's; using Kafka's", "client", hb.ClientID, "skew", skew)
	}
	if !ts.IsZero() && ts.After(now.Add(time.Minute)) {
		c.metrics.anomalies.WithLabelValues("record_time_in_future").Inc()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.reg.Heartbeat(hb.ClientID, seen, now)
	if err != nil {
		c.metrics.ignored.WithLabelValues("heartbeat", "unknown_client").Inc()
		c.log.Debug("heartbeat from a client that is not registered, ignored", "client", hb.ClientID)
		return
	}
	if seen.Add(c.cfg.StaleThreshold).Before(now) {
		c.metrics.anomalies.WithLabelValues("too_old").Inc()
	}
	c.log.Debug("heartbeat", "client", hb.ClientID, "seen", seen)
	c.afterTransitionLocked(hb.ClientID, t, "heartbeat")
}

// clockSkew describes how far a client's own timestamp is from Kafka's, when it is
// more than five minutes off (or unparsable); "" otherwise.
func clockSkew(clientTS string, seen time.Time) string {
	if clientTS == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, clientTS)
	if err != nil {
		return "unparsable timestamp " + fmt.Sprintf("%.40q", clientTS)
	}
	d := t.Sub(seen)
	if d > 5*time.Minute || d < -5*time.Minute {
		return d.Round(time.Second).String()
	}
	return ""
}

// afterTransitionLocked re-arms the client's deadline and queues it when its phase moved.
func (c *Controller) afterTransitionLocked(id string, t Transition, cause string) {
	cl, _ := c.reg.Get(id)
	if t.Changed() {
		c.metrics.transitions.WithLabelValues(string(t.To)).Inc()
		switch t.To {
		case PhaseRegistered, PhaseActive:
			if !t.From.Live() {
				c.log.Log(context.Background(), c.lifecycleLevel(), "client registered", "client", id, "cluster", cl.Registration.ClusterName, "from", phaseName(t.From), "cause", cause)
			}
		case PhaseDeregistered:
			c.log.Log(context.Background(), c.lifecycleLevel(), "client deregistered, cleaning up", "client", id)
		}
		delete(c.staleAt, id)
		if t.To.Live() {
			c.queue.Add(id)
		} else {
			c.queue.AddUrgent(id)
		}
	}
	c.armLocked(id)
}

// lifecycleLevel is Info once caught up, Debug while history is replayed at
// start-up (the registry from its beginning would otherwise re-tell every
// registration ever made; the catch-up line sums it up instead).
func (c *Controller) lifecycleLevel() slog.Level {
	select {
	case <-c.caughtUp:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

func phaseName(p Phase) string {
	if p == "" {
		return "new"
	}
	return string(p)
}

// armLocked sets the client's stale timer to its deadline (or clears it when the
// client is not live). Timers are armed only once the registry is caught up, so
// history replayed at start-up never marks anyone stale early.
func (c *Controller) armLocked(id string) {
	cl, ok := c.reg.Get(id)
	t := c.timers[id]
	if !ok || !cl.Phase.Live() || !c.armed {
		if t != nil {
			t.Stop()
			delete(c.timers, id)
		}
		return
	}
	d := cl.Deadline(c.cfg.StaleThreshold).Sub(c.now())
	if t == nil {
		c.timers[id] = time.AfterFunc(d, func() { c.expire(id) })
		return
	}
	t.Reset(d)
}

// expire runs when a client's deadline timer fires.
func (c *Controller) expire(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	t := c.reg.Expire(id, now)
	if !t.Changed() {
		c.armLocked(id) // a heartbeat raced the timer: wait for the new deadline
		return
	}
	cl, _ := c.reg.Get(id)
	c.metrics.transitions.WithLabelValues(string(PhaseStale)).Inc()
	c.log.Warn("client stale, cleaning up", "client", id, "last_heartbeat", cl.LastHeartbeat, "threshold", c.cfg.StaleThreshold)
	c.staleAt[id] = cl.Deadline(c.cfg.StaleThreshold)
	delete(c.timers, id)
	c.queue.AddUrgent(id)
}

// SetTemplates swaps in a newly validated template set and queues every client, so
// a changed template is re-applied (the Nomad rate limit paces the re-apply).
func (c *Controller) SetTemplates(ts *nomad.TemplateSet) {
	c.mu.Lock()
	c.templates = ts
	c.desired = make(map[string]desiredSet)
	ids := c.reg.IDs()
	c.mu.Unlock()
	c.log.Info("job templates changed, re-applying to every client", "templates", len(ts.Templates), "clients", len(ids))
	for _, id := range ids {
		c.queue.Add(id)
	}
}

// TemplateLoadFailed records a rejected template edit.
func (c *Controller) TemplateLoadFailed(err error) {
	c.metrics.templateLoads.WithLabelValues("error").Inc()
	c.log.Error("job templates rejected, keeping the last good set", "error", err)
}

// TemplateLoaded records an accepted template load.
func (c *Controller) TemplateLoaded() { c.metrics.templateLoads.WithLabelValues("ok").Inc() }

// CaughtUp tells the controller the registry and recent heartbeats have been read;
// reconciling starts only after it, so a restart never acts on half a history.
func (c *Controller) CaughtUp() { c.caughtOne.Do(func() { close(c.caughtUp) }) }

// Ready reports whether the controller is reconciling.
func (c *Controller) Ready() bool { return c.ready.Load() }

// Run waits for CaughtUp, adopts Nomad's existing jobs, then reconciles until ctx
// is done. It returns after every worker has finished its current client.
func (c *Controller) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-c.caughtUp:
	}
	c.log.Info("registry caught up", c.phaseCounts()...)
	c.setWaiting("listing Nomad's jobs")
	// Adopt what Nomad has before deciding anything: until a list succeeds we do
	// not know which jobs exist, so nothing is submitted or purged.
	for backoff := c.cfg.RetryBase; ; backoff = min(2*backoff, 30*time.Second) {
		err := c.refreshJobs(ctx)
		if err == nil {
			break
		}
		c.log.Error("listing Nomad jobs failed; retrying (is Nomad reachable at NOMAD_ADDR?)", "error", err, "retry_in", backoff)
		c.setWaiting("Nomad to list its jobs (check NOMAD_ADDR): " + err.Error())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
	c.mu.Lock()
	c.armed = true
	for _, id := range c.reg.IDs() {
		c.armLocked(id)
	}
	c.mu.Unlock()
	// Clients whose deadline passed while we were down are stale now.
	c.expireOverdue()
	c.enqueueAll()
	c.ready.Store(true)

	var wg sync.WaitGroup
	for i := 0; i < c.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.worker(ctx)
		}()
	}
	ticker := time.NewTicker(c.cfg.ResyncInterval)
	defer ticker.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-ticker.C:
			if err := c.refreshJobs(ctx); err != nil {
				c.log.Error("periodic resync: listing Nomad jobs failed", "error", err)
				continue
			}
			c.expireOverdue()
			c.enqueueAll()
		}
	}
	c.ready.Store(false)
	c.queue.ShutDown()
	wg.Wait()
	c.mu.Lock()
	c.armed = false // records still arriving must not arm timers that outlive Run
	for id, t := range c.timers {
		t.Stop()
		delete(c.timers, id)
	}
	c.mu.Unlock()
	return nil
}

// phaseCounts returns "clients", N and the count of every phase, as log attributes.
func (c *Controller) phaseCounts() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts := make(map[Phase]int)
	for _, cl := range c.reg.clients {
		counts[cl.Phase]++
	}
	out := []any{"clients", c.reg.Len()}
	for _, p := range Phases() {
		out = append(out, string(p), counts[p])
	}
	return out
}

// expireOverdue marks stale every live client whose deadline has passed. Timers do
// this normally; this is the level-triggered safety net.
func (c *Controller) expireOverdue() {
	c.mu.Lock()
	now := c.now()
	var overdue []string
	for id, cl := range c.reg.clients {
		if cl.Phase.Live() && !cl.Deadline(c.cfg.StaleThreshold).After(now) {
			overdue = append(overdue, id)
		}
	}
	c.mu.Unlock()
	for _, id := range overdue {
		c.expire(id)
	}
}

// enqueueAll queues every client whose jobs in Nomad differ from what its phase
// and the templates want: the level-triggered half of the controller. Clients
// that match cost a few map lookups, so a resync of 10,000 healthy clients
// queues nothing.
func (c *Controller) enqueueAll() {
	c.mu.Lock()
	ids := make(map[string]struct{}, c.reg.Len()+len(c.jobs))
	for _, id := range c.reg.IDs() {
		ids[id] = struct{}{}
	}
	for id := range c.jobs {
		ids[id] = struct{}{}
	}
	c.mu.Unlock()
	for id := range ids {
		differs, err := c.differs(id)
		if err != nil || differs {
			c.queue.Add(id)
		}
	}
}

// desiredSet is what one live client's jobs should be.
type desiredSet struct {
	templates *nomad.TemplateSet
	jobs      map[string]string // job id → SHA
	order     []desiredJob      // in template order
	// rendered holds the renders made to fill this entry, for the reconcile
	// that made them; cached entries carry none (renders are big, SHAs small).
	rendered map[string]nomad.Rendered
}

// desiredJob ties a job id to the template it comes from.
type desiredJob struct {
	template nomad.Template
	jobID    string
}

// desiredFor returns the job ids and SHAs a live client wants, rendering only
// when the cache does not hold them for the template set in force.
func (c *Controller) desiredFor(id string) (desiredSet, error) {
	c.mu.Lock()
	ts := c.templates
	d, ok := c.desired[id]
	c.mu.Unlock()
	if ok && d.templates == ts {
		return d, nil
	}
	d = desiredSet{templates: ts, jobs: make(map[string]string, len(ts.Templates)), rendered: make(map[string]nomad.Rendered, len(ts.Templates))}
	for _, t := range ts.Templates {
		r, err := ts.Render(t, c.clientVars(id))
		if err != nil {
			return desiredSet{}, fmt.Errorf("rendering template %s for client %s: %w", t.Name, id, err)
		}
		d.jobs[r.JobID] = jobSHA(r)
		d.order = append(d.order, desiredJob{template: t, jobID: r.JobID})
		d.rendered[r.JobID] = r
	}
	c.mu.Lock()
	if c.templates == ts {
		cached := d
		cached.rendered = nil
		c.desired[id] = cached
	}
	c.mu.Unlock()
	return d, nil
}

func (c *Controller) clientVars(id string) nomad.ClientVars {
	return nomad.ClientVars{ClientID: id, Neo4jDatabase: id, KafkaBrokers: c.cfg.KafkaBrokers}
}

// differs reports whether Nomad's jobs for id differ from what it should have.
func (c *Controller) differs(id string) (bool, error) {
	c.mu.Lock()
	cl, known := c.reg.Get(id)
	live := known && cl.Phase.Live()
	actual := c.jobs[id]
	_, purgePending := c.staleAt[id]
	c.mu.Unlock()
	if !live {
		return len(actual) > 0 || purgePending, nil
	}
	want, err := c.desiredFor(id)
	if err != nil {
		return true, err
	}
	if len(actual) != len(want.jobs) {
		return true, nil
	}
	for jid, sha := range want.jobs {
		a, ok := actual[jid]
		if !ok || a.TemplateSHA != sha || a.Stopped {
			return true, nil
		}
	}
	return false, nil
}

// refreshJobs replaces the view of Nomad's jobs with a fresh list.
func (c *Controller) refreshJobs(ctx context.Context) error {
	if err := c.limiter.Wait(ctx); err != nil {
		return fmt.Errorf("waiting for the Nomad rate limit to list jobs: %w", err)
	}
	start := time.Now()
	listedAt := c.now()
	jobs, err := c.nomad.ListManaged(ctx)
	c.metrics.observeNomad("list", start, err)
	if err != nil {
		return err
	}
	m := make(map[string]map[string]nomad.ManagedJob)
	for _, j := range jobs {
		if err := clientid.Validate(j.Client); err != nil {
			c.log.Warn("Nomad job carries kgplane meta with an invalid client id; leaving it alone", "job", j.ID, "error", err)
			continue
		}
		if m[j.Client] == nil {
			m[j.Client] = make(map[string]nomad.ManagedJob)
		}
		m[j.Client][j.ID] = j
	}
	c.mu.Lock()
	// Keep our own view of clients whose jobs we changed while the list was in
	// flight: the list cannot know about them yet, and believing it would
	// resubmit or re-purge for nothing.
	for id, at := range c.changedAt {
		if !at.Before(listedAt) {
			if mine, ok := c.jobs[id]; ok {
				m[id] = mine
			} else {
				delete(m, id)
			}
		} else {
			delete(c.changedAt, id)
		}
	}
	c.jobs = m
	c.mu.Unlock()
	return nil
}

func (c *Controller) worker(ctx context.Context) {
	for {
		id, ok := c.queue.Get()
		if !ok {
			return
		}
		start := time.Now()
		err := c.reconcileClient(ctx, id)
		c.metrics.reconcileDur.Observe(time.Since(start).Seconds())
		switch {
		case err == nil:
			c.metrics.reconciles.WithLabelValues("ok").Inc()
			c.queue.Forget(id)
		case ctx.Err() != nil:
			c.metrics.reconciles.WithLabelValues("canceled").Inc()
		default:
			c.metrics.reconciles.WithLabelValues("error").Inc()
			d := c.queue.Retry(id)
			c.log.Error("reconcile failed, will retry", "client", id, "retry_in", d, "error", err)
		}
		c.queue.Done(id)
	}
}

// jobSHA identifies what a job was rendered from: the template set entry and the
// exact variables. Equal SHA ⇒ nothing to do; unequal ⇒ submit, and Nomad's plan
// decides whether anything really changed.
func jobSHA(r nomad.Rendered) string {
	h := sha256.New()
	h.Write([]byte(r.Template.SHA))
	h.Write([]byte{0})
	h.Write([]byte(r.Variables))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// reconcileClient makes Nomad's jobs for one client match what the client's phase
// and the templates want.
func (c *Controller) reconcileClient(ctx context.Context, id string) error {
	c.mu.Lock()
	cl, known := c.reg.Get(id)
	live := known && cl.Phase.Live()
	ts := c.templates
	actual := make(map[string]nomad.ManagedJob, len(c.jobs[id]))
	for jid, j := range c.jobs[id] {
		actual[jid] = j
	}
	staleDeadline, purgingStale := c.staleAt[id]
	c.mu.Unlock()

	var d desiredSet
	if live {
		var err error
		if d, err = c.desiredFor(id); err != nil {
			return err
		}
		ts = d.templates
	}
	want := d.jobs
	var errs []error
	if live && len(want) > 0 && len(actual) == 0 {
		c.log.Info("spawning jobs", "client", id, "jobs", len(want))
	}
	// Submit in template order so logs and tests read the same every time.
	for _, dj := range d.order {
		// A stopped job (nomad job stop) is submitted again; a job that is dead
		// because its allocations failed is Nomad's to reschedule: resubmitting
		// it would change nothing (its plan shows no diff).
		if a, ok := actual[dj.jobID]; ok && a.TemplateSHA == want[dj.jobID] && !a.Stopped {
			continue
		}
		r, ok := d.rendered[dj.jobID]
		if !ok {
			var err error
			if r, err = ts.Render(dj.template, c.clientVars(id)); err != nil {
				errs = append(errs, fmt.Errorf("rendering template %s for client %s: %w", dj.template.Name, id, err))
				continue
			}
		}
		if err := c.submit(ctx, id, r, want[r.JobID]); err != nil {
			errs = append(errs, err)
		}
	}
	for jid := range actual {
		if _, ok := want[jid]; ok {
			continue
		}
		if err := c.purge(ctx, id, jid); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 && purgingStale {
		c.metrics.stalePurgeLate.Observe(c.now().Sub(staleDeadline).Seconds())
		c.mu.Lock()
		delete(c.staleAt, id)
		c.mu.Unlock()
		c.log.Info("client purged", "client", id, "jobs", len(actual))
	}
	if !live {
		c.mu.Lock()
		delete(c.desired, id)
		c.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (c *Controller) submit(ctx context.Context, id string, r nomad.Rendered, sha string) error {
	if err := c.limiter.Wait(ctx); err != nil {
		return fmt.Errorf("waiting for the Nomad rate limit to submit %s: %w", r.JobID, err)
	}
	// kg_template_sha also covers the client's variables, so a change of e.g.
	// KAFKA_BROKERS re-applies the jobs too.
	meta := r.Meta()
	meta[nomad.MetaTemplateSHA] = sha
	start := time.Now()
	res, err := c.nomad.Submit(ctx, r, meta)
	c.metrics.observeNomad("submit", start, err)
	if err != nil {
		return fmt.Errorf("submitting %s: %w", r.JobID, err)
	}
	if res.Changed {
		c.metrics.jobs.WithLabelValues("submitted").Inc()
		c.log.Info("job submitted", "client", id, "job", r.JobID, "template", r.Template.Name, "eval", res.EvalID)
	} else {
		c.metrics.jobs.WithLabelValues("unchanged").Inc()
		c.log.Info("job unchanged, register skipped", "client", id, "job", r.JobID)
	}
	c.mu.Lock()
	if c.jobs[id] == nil {
		c.jobs[id] = make(map[string]nomad.ManagedJob)
	}
	// Keep the status Nomad reported until the next list; a new job is pending.
	status := c.jobs[id][r.JobID].Status
	if status == "" || res.Changed {
		status = "pending"
	}
	c.jobs[id][r.JobID] = nomad.ManagedJob{ID: r.JobID, Client: id, Template: r.Template.Name, TemplateSHA: sha, Status: status}
	c.changedAt[id] = c.now()
	c.mu.Unlock()
	return nil
}

func (c *Controller) purge(ctx context.Context, id, jobID string) error {
	if err := c.limiter.Wait(ctx); err != nil {
		return fmt.Errorf("waiting for the Nomad rate limit to purge %s: %w", jobID, err)
	}
	start := time.Now()
	err := c.nomad.Purge(ctx, jobID)
	c.metrics.observeNomad("purge", start, err)
	if err != nil {
		return fmt.Errorf("purging %s: %w", jobID, err)
	}
	c.metrics.jobs.WithLabelValues("purged").Inc()
	c.log.Info("job purged", "client", id, "job", jobID)
	c.mu.Lock()
	delete(c.jobs[id], jobID)
	if len(c.jobs[id]) == 0 {
		delete(c.jobs, id)
	}
	c.changedAt[id] = c.now()
	c.mu.Unlock()
	return nil
}

// nomadErrorKind labels an error for the metrics.
func nomadErrorKind(err error) string {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "canceled"
	}
	return nomad.ErrorKind(err)
}

// ClientStatus is one client as /v1/clients shows it.
type ClientStatus struct {
	ID            string      `json:"id"`
	Phase         Phase       `json:"phase"`
	ClusterName   string      `json:"cluster_name,omitempty"`
	K8sVersion    string      `json:"k8s_version,omitempty"`
	RegisteredAt  time.Time   `json:"registered_at"`
	LastHeartbeat *time.Time  `json:"last_heartbeat"`
	HeartbeatAge  *float64    `json:"heartbeat_age_seconds"`
	StaleAt       *time.Time  `json:"stale_at,omitempty"`
	PhaseSince    time.Time   `json:"phase_since"`
	Jobs          []JobStatus `json:"jobs"`
}

// JobStatus is one Nomad job of a client.
type JobStatus struct {
	ID       string `json:"id"`
	Template string `json:"template"`
	Status   string `json:"status"`
}

// Clients returns every client's status, sorted by id; jobs of clients the
// registry does not know (orphans awaiting purge) are listed under their client id
// with phase "unknown".
func (c *Controller) Clients() []ClientStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	byClient := make(map[string][]JobStatus, len(c.jobs))
	for id, jobs := range c.jobs {
		for _, j := range jobs {
			byClient[id] = append(byClient[id], JobStatus{ID: j.ID, Template: j.Template, Status: j.Status})
		}
	}
	out := make([]ClientStatus, 0, c.reg.Len())
	for _, cl := range c.reg.List() {
		s := ClientStatus{
			ID: cl.ID, Phase: cl.Phase, ClusterName: cl.Registration.ClusterName, K8sVersion: cl.Registration.K8sVersion,
			RegisteredAt: cl.RegisteredAt, PhaseSince: cl.PhaseSince, Jobs: byClient[cl.ID],
		}
		if !cl.LastHeartbeat.IsZero() {
			hb := cl.LastHeartbeat
			age := now.Sub(hb).Seconds()
			s.LastHeartbeat, s.HeartbeatAge = &hb, &age
		}
		if cl.Phase.Live() {
			d := cl.Deadline(c.cfg.StaleThreshold)
			s.StaleAt = &d
		}
		delete(byClient, cl.ID)
		out = append(out, s)
	}
	for id, jobs := range byClient {
		out = append(out, ClientStatus{ID: id, Phase: "unknown", Jobs: jobs})
	}
	for i := range out {
		sort.Slice(out[i].Jobs, func(a, b int) bool { return out[i].Jobs[a].ID < out[i].Jobs[b].ID })
		if out[i].Jobs == nil {
			out[i].Jobs = []JobStatus{}
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.Compare(out[i].ID, out[j].ID) < 0 })
	return out
}
