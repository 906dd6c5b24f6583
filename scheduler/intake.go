package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

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
	now := c.clock.Now()
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
	now := c.clock.Now()
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
		c.enqueue(id, !t.To.Live())
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
