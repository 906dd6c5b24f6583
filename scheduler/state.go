package scheduler

import (
	"errors"
	"sort"
	"time"
)

// Phase is where a client is in its lifecycle.
type Phase string

const (
	// PhaseRegistered: registered, no heartbeat seen yet; jobs are wanted.
	PhaseRegistered Phase = "registered"
	// PhaseActive: heartbeating within the threshold; jobs are wanted.
	PhaseActive Phase = "active"
	// PhaseStale: no heartbeat for the threshold; jobs are purged. A heartbeat
	// or a new registration brings the client back.
	PhaseStale Phase = "stale"
	// PhaseDeregistered: tombstoned in cluster.registry; jobs are purged. Only a
	// new registration brings the client back.
	PhaseDeregistered Phase = "deregistered"
)

// Phases lists every phase, for metrics that must report zeros too.
func Phases() []Phase { return []Phase{PhaseRegistered, PhaseActive, PhaseStale, PhaseDeregistered} }

// Live reports whether a client in this phase should have jobs.
func (p Phase) Live() bool { return p == PhaseRegistered || p == PhaseActive }

// Client is the control plane's record of one client cluster.
type Client struct {
	ID           string
	Phase        Phase
	Registration Registration
	// RegisteredAt is the Kafka timestamp of the registration in force; it counts
	// as the first sign of life, so a client that registers and never heartbeats
	// goes stale one threshold later.
	RegisteredAt time.Time
	// LastHeartbeat is the newest heartbeat's SeenAt (zero when none).
	LastHeartbeat time.Time
	// PhaseSince is when the client entered its phase.
	PhaseSince time.Time
	// RegistryOffset is the offset of the last registry record applied
	// (registration or tombstone; a client's records share one partition). A
	// record at or before it is a replay of history (the registry is re-read
	// from the beginning after a Kafka reconnect) and must not undo what came
	// after it. Offsets, not timestamps: two records may share a millisecond.
	RegistryOffset int64
	// Grace is when a disruption on the control plane's side (its ingest
	// stalled, or every client went silent at once) ended: it counts as a sign
	// of life, so the outage is not held against the client.
	Grace time.Time
}

// lastSign is the newest sign of life: a heartbeat, the registration, or the
// end of a disruption.
func (c *Client) lastSign() time.Time {
	t := c.RegisteredAt
	if c.LastHeartbeat.After(t) {
		t = c.LastHeartbeat
	}
	if c.Grace.After(t) {
		t = c.Grace
	}
	return t
}

// Deadline is when the client goes stale unless it heartbeats before.
func (c *Client) Deadline(threshold time.Duration) time.Time {
	return c.lastSign().Add(threshold)
}

// ErrUnknownClient is returned for heartbeats or tombstones of clients that are
// not registered (or were deregistered): they are counted and ignored.
var ErrUnknownClient = errors.New("client is not registered")

// Registry holds every client's state. It is plain data: the Controller
// serialises access and turns transitions into reconcile work.
type Registry struct {
	threshold time.Duration
	clients   map[string]*Client
}

// NewRegistry returns an empty registry with the given staleness threshold.
func NewRegistry(threshold time.Duration) *Registry {
	return &Registry{threshold: threshold, clients: make(map[string]*Client)}
}

// Transition says what a record did to a client.
type Transition struct {
	From, To Phase // From is "" for a new client
}

// Changed reports whether the phase moved.
func (t Transition) Changed() bool { return t.From != t.To }

// Register applies a registration read at ts (the record's Kafka timestamp).
// A duplicate registration of a live client only refreshes its metadata; a
// registration no newer than the last registry record applied is a replay and
// changes nothing (replay = true).
func (r *Registry) Register(reg Registration, ts time.Time, offset int64, now time.Time) (t Transition, replay bool) {
	c, ok := r.clients[reg.ClientID]
	if ok && offset <= c.RegistryOffset {
		return Transition{From: c.Phase, To: c.Phase}, true
	}
	if !ok {
		c = &Client{ID: reg.ClientID}
		r.clients[reg.ClientID] = c
	}
	c.RegistryOffset = offset
	from := c.Phase
	c.Registration = reg
	if !from.Live() || ts.After(c.RegisteredAt) {
		c.RegisteredAt = ts
	}
	if !from.Live() {
		// A client coming back after stale or deregistration starts afresh; an
		// old heartbeat must not make it stale again at once.
		if from == PhaseDeregistered {
			c.LastHeartbeat = time.Time{}
		}
		to := PhaseRegistered
		if !c.LastHeartbeat.IsZero() && c.LastHeartbeat.Add(r.threshold).After(now) {
			to = PhaseActive
		}
		r.set(c, to, now)
	}
	return Transition{From: from, To: c.Phase}, false
}

// Deregister applies a tombstone at offset. A tombstone at or before the last
// registry record applied is a replay and is refused like one for an unknown client.
func (r *Registry) Deregister(id string, offset int64, now time.Time) (Transition, error) {
	c, ok := r.clients[id]
	if !ok || c.Phase == PhaseDeregistered || offset <= c.RegistryOffset {
		return Transition{}, ErrUnknownClient
	}
	c.RegistryOffset = offset
	from := c.Phase
	r.set(c, PhaseDeregistered, now)
	return Transition{From: from, To: PhaseDeregistered}, nil
}

// Heartbeat records a heartbeat seen at seen. Heartbeats older than the newest one
// already seen are kept out (Kafka may deliver partitions out of step). A stale
// client that heartbeats again is active again: its agent is evidently alive.
func (r *Registry) Heartbeat(id string, seen, now time.Time) (Transition, error) {
	c, ok := r.clients[id]
	if !ok || c.Phase == PhaseDeregistered {
		return Transition{}, ErrUnknownClient
	}
	from := c.Phase
	if seen.After(c.LastHeartbeat) {
		c.LastHeartbeat = seen
	}
	if c.LastHeartbeat.Add(r.threshold).After(now) && from != PhaseActive {
		r.set(c, PhaseActive, now)
	}
	return Transition{From: from, To: c.Phase}, nil
}

// Expire marks a live client stale when its deadline has passed at at (the
// time up to which the controller has read every heartbeat).
func (r *Registry) Expire(id string, at time.Time) Transition {
	c, ok := r.clients[id]
	if !ok || !c.Phase.Live() || c.Deadline(r.threshold).After(at) {
		if ok {
			return Transition{From: c.Phase, To: c.Phase}
		}
		return Transition{}
	}
	from := c.Phase
	r.set(c, PhaseStale, at)
	return Transition{From: from, To: PhaseStale}
}

func (r *Registry) set(c *Client, p Phase, now time.Time) {
	c.Phase = p
	c.PhaseSince = now
}

// Get returns a copy of a client's state.
func (r *Registry) Get(id string) (Client, bool) {
	c, ok := r.clients[id]
	if !ok {
		return Client{}, false
	}
	return *c, true
}

// Len is the number of clients known in any phase.
func (r *Registry) Len() int { return len(r.clients) }

// List returns copies of every client, sorted by id.
func (r *Registry) List() []Client {
	out := make([]Client, 0, len(r.clients))
	for _, c := range r.clients {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// IDs returns every client id, in no particular order.
func (r *Registry) IDs() []string {
	out := make([]string, 0, len(r.clients))
	for id := range r.clients {
		out = append(out, id)
	}
	return out
}
