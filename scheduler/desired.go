package scheduler

import (
	"fmt"

	"github.com/kgrca/kgplane/nomad"
)

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
			c.enqueue(id, false)
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
		d.jobs[r.JobID] = r.SHA()
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
