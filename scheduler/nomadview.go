package scheduler

import (
	"context"
	"time"

	"github.com/kgrca/kgplane/clientid"
	"github.com/kgrca/kgplane/nomad"
)

// refreshJobs replaces the view of Nomad's jobs with a fresh list.
func (c *Controller) refreshJobs(ctx context.Context) error {
	start := time.Now()
	listedAt := c.clock.Now()
	jobs, err := c.nomad.ListManaged(ctx)
	c.metrics.observeNomad("list", start, err)
	if err != nil {
		return err
	}
	m := make(map[string]map[string]nomad.ManagedJob)
	term := c.term.Load()
	var newer nomad.ManagedJob
	for _, j := range jobs {
		if j.Plane != "" && j.Plane != c.cfg.Plane {
			// The backend filters on kg_plane; a job of another plane that
			// slips through is still never ours to touch.
			continue
		}
		if term != 0 && j.Term > term && j.Term > newer.Term {
			newer = j
		}
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
	stepDown := c.stepDown
	c.mu.Unlock()
	if newer.ID != "" && stepDown != nil {
		// A plane leading in a later term wrote this job: whatever our lease
		// says, another leader has acted, so this one stops.
		c.log.Error("a job was written in a newer leadership term; stepping down", "job", newer.ID, "job_term", newer.Term, "term", term)
		stepDown()
	}
	return nil
}
