package scheduler

import "github.com/kgrca/kgplane/nomad"

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
		c.enqueue(id, false)
	}
}

// TemplateLoadFailed records a rejected template edit.
func (c *Controller) TemplateLoadFailed(err error) {
	c.metrics.templateLoads.WithLabelValues("error").Inc()
	c.log.Error("job templates rejected, keeping the last good set", "error", err)
}

// TemplateLoaded records an accepted template load.
func (c *Controller) TemplateLoaded() { c.metrics.templateLoads.WithLabelValues("ok").Inc() }
