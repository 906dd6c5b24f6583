package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/kgrca/kgplane/nomad"
)

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
		c.metrics.stalePurgeLate.Observe(c.clock.Since(staleDeadline).Seconds())
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
	if err := c.Fence(ctx); err != nil {
		return fmt.Errorf("submitting %s: %w", r.JobID, err)
	}
	// kg_template_sha (Rendered.SHA) also covers the client's variables, so a
	// change of e.g. KAFKA_BROKERS re-applies the jobs too; kg_plane says whose
	// job it is and kg_term in which leadership term it was written.
	meta := r.Meta()
	meta[nomad.MetaTemplateSHA] = sha
	meta[nomad.MetaPlane] = c.cfg.Plane
	term := c.term.Load()
	meta[nomad.MetaTerm] = strconv.FormatInt(term, 10)
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
	c.jobs[id][r.JobID] = nomad.ManagedJob{ID: r.JobID, Client: id, Template: r.Template.Name, TemplateSHA: sha, Plane: c.cfg.Plane, Term: term, Status: status}
	c.changedAt[id] = c.clock.Now()
	c.mu.Unlock()
	return nil
}

func (c *Controller) purge(ctx context.Context, id, jobID string) error {
	if err := c.Fence(ctx); err != nil {
		return fmt.Errorf("purging %s: %w", jobID, err)
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
	c.changedAt[id] = c.clock.Now()
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
