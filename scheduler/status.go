package scheduler

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Waiting says what the controller waits for before it is ready ("" when ready).
func (c *Controller) Waiting() string {
	if c.ready.Load() {
		return ""
	}
	return *c.waiting.Load()
}

// ClientStatus is one client as /v1/clients shows it.
type ClientStatus struct {
	ID          string `json:"id"`
	Phase       Phase  `json:"phase"`
	ClusterName string `json:"cluster_name,omitempty"`
	K8sVersion  string `json:"k8s_version,omitempty"`
	// Metadata is the registration's metadata object as the client sent it.
	Metadata      json.RawMessage `json:"metadata,omitempty"`
	RegisteredAt  time.Time       `json:"registered_at"`
	LastHeartbeat *time.Time      `json:"last_heartbeat"`
	HeartbeatAge  *float64        `json:"heartbeat_age_seconds"`
	StaleAt       *time.Time      `json:"stale_at,omitempty"`
	PhaseSince    time.Time       `json:"phase_since"`
	Jobs          []JobStatus     `json:"jobs"`
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
//
// A job's status comes from the backend at once when it offers LiveStatuses,
// otherwise from the last list of Nomad's jobs.
func (c *Controller) Clients() []ClientStatus {
	var live map[string]string
	if l, ok := c.nomad.(LiveStatuses); ok {
		live = l.JobStatuses() // before c.mu: the backend takes its own lock
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	byClient := make(map[string][]JobStatus, len(c.jobs))
	for id, jobs := range c.jobs {
		for _, j := range jobs {
			st := j.Status
			if s, ok := live[j.ID]; ok {
				st = s
			}
			byClient[id] = append(byClient[id], JobStatus{ID: j.ID, Template: j.Template, Status: st})
		}
	}
	out := make([]ClientStatus, 0, c.reg.Len())
	for _, cl := range c.reg.List() {
		s := ClientStatus{
			ID: cl.ID, Phase: cl.Phase, ClusterName: cl.Registration.ClusterName, K8sVersion: cl.Registration.K8sVersion, Metadata: cl.Registration.Metadata,
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

// Leadership is the election as this plane sees it; Leading is true only
// while this plane holds a term it can prove.
func (c *Controller) Leadership() LeaderStatus {
	st := c.cfg.Leader.Status()
	t := c.term.Load()
	st.Leading = t != 0 && c.cfg.Leader.Held(t)
	if st.Leading {
		st.Term = t
		st.Leader = st.Self
	}
	return st
}

// readyLine is /readyz's answer once ready: the role, the leader, and a
// disruption if one holds purges.
func (c *Controller) readyLine() string {
	st := c.Leadership()
	s := "ready: standby, the leader is " + orUnknown(st.Leader)
	if st.Leading {
		s = "ready: leading (term " + strconv.FormatInt(st.Term, 10) + ")"
	}
	if d := c.Disruption(); d != "" {
		s += "; purges held: " + d
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "not known yet"
	}
	return s
}
