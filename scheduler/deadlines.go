package scheduler

import (
	"context"
	"time"
)

// Staleness is decided on deadlines, but only on evidence: a client is stale
// when its deadline has passed both on the clock and in what the ingest has
// confirmed it read (every heartbeat appended before the "read horizon" has
// been applied). When the ingest cannot read cluster.heartbeat (broker down,
// topic gone, plane partitioned) the horizon stops, deadlines stop passing,
// and nothing is purged; when most clients go silent at once, the silence is
// ours, not theirs, and purges are held too. Either way, when heartbeats flow
// again every live client gets a fresh deadline (Kubernetes' node lifecycle
// controller does the same after a "full disruption").

// Disruption reasons, the label of kgplane_disruption.
const (
	DisruptionIngestStalled = "ingest_stalled"
	DisruptionMassSilence   = "mass_silence"
)

// deadlineState is the read horizon and the disruption in force (under c.mu).
type deadlineState struct {
	// horizon: every heartbeat appended before it has been applied. Zero
	// until the ingest reports one; then it alone lets deadlines pass.
	horizon time.Time
	// waiting are clients whose deadline passed on the clock but not yet in
	// the horizon: re-checked whenever it moves.
	waiting map[string]struct{}
	// disruption is "" or the reason purges are held, since when.
	disruption      string
	disruptionSince time.Time
	// silenceCheckedAt and silenced cache the mass-silence count (an O(n)
	// walk) for a moment, so a burst of expiries does not walk n times.
	silenceCheckedAt time.Time
	silenced         bool
}

func (d *deadlineState) init() { d.waiting = make(map[string]struct{}) }

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
		delete(c.deadlines.waiting, id)
		return
	}
	d := cl.Deadline(c.cfg.StaleThreshold).Sub(c.clock.Now())
	if t != nil {
		// A new timer rather than Reset: a fired fake-clock timer cannot be
		// reset (its channel is full), and a deadline moves rarely enough.
		t.Stop()
	}
	// A fake clock runs the function under its own lock: expire takes ours
	// and reads the clock, so it runs on its own goroutine.
	c.timers[id] = c.clock.AfterFunc(d, func() { go c.expire(id) })
}

// decisionTimeLocked is the time up to which staleness can be decided: now, or
// the read horizon when the ingest reports one and it is behind.
func (c *Controller) decisionTimeLocked() time.Time {
	now := c.clock.Now()
	if h := c.deadlines.horizon; !h.IsZero() && h.Before(now) {
		return h
	}
	return now
}

// expire runs when a client's deadline timer fires (and for overdue clients).
func (c *Controller) expire(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(id)
}

func (c *Controller) expireLocked(id string) {
	cl, ok := c.reg.Get(id)
	if !ok || !cl.Phase.Live() || !c.armed {
		return
	}
	deadline := cl.Deadline(c.cfg.StaleThreshold)
	now := c.clock.Now()
	if deadline.After(now) {
		c.armLocked(id) // a heartbeat raced the timer: wait for the new deadline
		return
	}
	at := c.decisionTimeLocked()
	if deadline.After(at) {
		// Heartbeats up to the deadline may still be on their way in.
		c.deadlines.waiting[id] = struct{}{}
		return
	}
	if c.deadlines.disruption != "" || c.massSilenceLocked(at) {
		c.deadlines.waiting[id] = struct{}{} // held; the disruption's end gives a fresh deadline
		return
	}
	delete(c.deadlines.waiting, id)
	t := c.reg.Expire(id, at)
	if !t.Changed() {
		return
	}
	cl, _ = c.reg.Get(id)
	c.metrics.transitions.WithLabelValues(string(PhaseStale)).Inc()
	c.log.Warn("client stale, cleaning up", "client", id, "last_heartbeat", cl.LastHeartbeat, "threshold", c.cfg.StaleThreshold)
	c.staleAt[id] = deadline
	if tm := c.timers[id]; tm != nil {
		tm.Stop()
		delete(c.timers, id)
	}
	c.enqueue(id, true)
}

// expireOverdue marks stale every live client whose deadline has passed. Timers do
// this normally; this is the level-triggered safety net.
func (c *Controller) expireOverdue() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	for id, cl := range c.reg.clients {
		if cl.Phase.Live() && !cl.Deadline(c.cfg.StaleThreshold).After(now) {
			c.expireLocked(id)
		}
	}
}

// massSilenceLocked reports whether so many live clients are silent at once
// that the silence must be ours (entering the disruption if so).
func (c *Controller) massSilenceLocked(at time.Time) bool {
	d := &c.deadlines
	if c.cfg.DisruptionFraction >= 1 {
		return false
	}
	if !d.silenceCheckedAt.IsZero() && at.Sub(d.silenceCheckedAt) < 200*time.Millisecond && at.After(d.silenceCheckedAt) {
		return d.silenced
	}
	live, silent := 0, 0
	quiet := at.Add(-c.cfg.StaleThreshold / 2)
	for _, cl := range c.reg.clients {
		if !cl.Phase.Live() {
			continue
		}
		live++
		if cl.lastSign().Before(quiet) {
			silent++
		}
	}
	d.silenceCheckedAt = at
	d.silenced = live >= c.cfg.DisruptionMinClients && float64(silent) >= c.cfg.DisruptionFraction*float64(live)
	if d.silenced {
		c.enterDisruptionLocked(DisruptionMassSilence, "live", live, "silent", silent)
	}
	return d.silenced
}

// ReadUpTo tells the controller that every heartbeat appended before t has
// been applied (the ingest checks its position against the brokers' end
// offsets). Deadlines pass only up to it.
func (c *Controller) ReadUpTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := &c.deadlines
	if !t.After(d.horizon) {
		return
	}
	d.horizon = t
	if d.disruption == DisruptionIngestStalled && c.clock.Since(t) < c.cfg.IngestStallAfter {
		c.endDisruptionLocked()
	}
	if d.disruption == DisruptionMassSilence {
		d.silenceCheckedAt = time.Time{}
		if !c.massSilenceLocked(t) {
			c.endDisruptionLocked()
		}
	}
	for id := range d.waiting {
		c.expireLocked(id)
	}
}

// watchIngest enters the ingest-stalled disruption when the horizon falls
// behind, and re-checks a mass silence that no new heartbeat ends.
func (c *Controller) watchIngest(ctx context.Context) {
	tick := c.clock.NewTicker(min(time.Second, c.cfg.IngestStallAfter/2))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C():
		}
		c.mu.Lock()
		d := &c.deadlines
		if !d.horizon.IsZero() && d.disruption == "" {
			if lag := c.clock.Since(d.horizon); lag >= c.cfg.IngestStallAfter {
				c.enterDisruptionLocked(DisruptionIngestStalled, "read_lag", lag.Round(time.Second))
			}
		}
		if d.disruption == DisruptionMassSilence {
			d.silenceCheckedAt = time.Time{}
			if !c.massSilenceLocked(c.decisionTimeLocked()) {
				c.endDisruptionLocked()
			}
		}
		c.mu.Unlock()
	}
}

func (c *Controller) enterDisruptionLocked(reason string, attrs ...any) {
	d := &c.deadlines
	if d.disruption == reason {
		return
	}
	d.disruption, d.disruptionSince = reason, c.clock.Now()
	c.metrics.disruptions.WithLabelValues(reason).Inc()
	msg := "heartbeat ingest is not keeping up with Kafka: no client is purged until it does"
	if reason == DisruptionMassSilence {
		msg = "most clients went silent at once: taking it for a disruption on our side, no client is purged until heartbeats return (clients that are really gone: kgctl deregister them; KG_DISRUPTION_FRACTION=1 turns this off)"
	}
	c.log.Warn(msg, append([]any{"disruption", reason}, attrs...)...)
}

// endDisruptionLocked gives every live client a fresh deadline from now: the
// outage must not count against them, and their agents need one threshold to
// get a heartbeat through.
func (c *Controller) endDisruptionLocked() {
	d := &c.deadlines
	if d.disruption == "" {
		return
	}
	now := c.clock.Now()
	c.log.Info("disruption over: purges resume, every live client has a fresh deadline", "disruption", d.disruption,
		"lasted", now.Sub(d.disruptionSince).Round(time.Second), "held", len(d.waiting))
	d.disruption = ""
	d.silenceCheckedAt = time.Time{}
	for _, cl := range c.reg.clients {
		if cl.Phase.Live() {
			cl.Grace = now
		}
	}
	for id := range d.waiting {
		delete(d.waiting, id)
	}
	for id := range c.reg.clients {
		c.armLocked(id)
	}
}

// Disruption returns the reason purges are held ("" when they are not).
func (c *Controller) Disruption() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadlines.disruption
}
