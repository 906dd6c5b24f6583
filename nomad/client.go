package nomad

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"

	"github.com/hashicorp/nomad/api"
)

// Config selects the Nomad cluster. Empty fields fall back to nomad/api's
// defaults, i.e. NOMAD_ADDR, NOMAD_TOKEN, NOMAD_NAMESPACE, NOMAD_REGION (and the
// other NOMAD_* TLS variables nomad/api reads).
type Config struct {
	Address, Token, Namespace, Region string
	HTTPClient                        *http.Client
}

// Client is a small typed wrapper over the Nomad API for kgplane's three
// operations: submit a rendered template, purge a job, list kgplane's jobs.
// It does not retry; the caller's work queue does.
type Client struct {
	api               *api.Client
	namespace, region string // as configured, "" = Nomad's default
}

// NewClient builds a Client. It does not contact Nomad.
func NewClient(cfg Config) (*Client, error) {
	c := api.DefaultConfig()
	if cfg.Address != "" {
		c.Address = cfg.Address
	}
	if cfg.Token != "" {
		c.SecretID = cfg.Token
	}
	if cfg.Namespace != "" {
		c.Namespace = cfg.Namespace
	}
	if cfg.Region != "" {
		c.Region = cfg.Region
	}
	if cfg.HTTPClient != nil {
		c.HttpClient = cfg.HTTPClient
	}
	ac, err := api.NewClient(c)
	if err != nil {
		return nil, fmt.Errorf("creating Nomad client for %s: %w", c.Address, err)
	}
	return &Client{api: ac, namespace: c.Namespace, region: c.Region}, nil
}

// Address is the Nomad address in use, for logs.
func (c *Client) Address() string { return c.api.Address() }

// SubmitResult says what Submit did.
type SubmitResult struct {
	JobID string
	// Changed is false when Plan showed no difference to the running job and the
	// register was skipped.
	Changed bool
	// EvalID is the evaluation the register created ("" when not Changed).
	EvalID string
	// JobModifyIndex is the job's modify index after the register, or the
	// current one when the register was skipped.
	JobModifyIndex uint64
}

// planDiffNone is the JobDiff.Type Nomad reports when a planned job equals the
// registered one.
const planDiffNone = "None"

// Submit parses r in Nomad (PUT /v1/jobs/parse with the HCL and the var-file
// text), adds r.Meta() and then meta to the job's meta (so the caller may
// override e.g. kg_template_sha; kg_managed_by is always "kgplane"), plans it
// with a diff and registers it only when the plan shows a change or the job
// does not exist. The register carries a JobSubmission (source +
// variables) so Nomad's UI shows the job definition.
func (c *Client) Submit(ctx context.Context, r Rendered, meta map[string]string) (SubmitResult, error) {
	res := SubmitResult{JobID: r.JobID}
	wo := (&api.WriteOptions{}).WithContext(ctx)

	// Jobs().ParseHCLOpts takes no context, so the same endpoint is called
	// through nomad/api's Raw client, which does. Not canonicalized: that would
	// fill in the "default" namespace and "global" region, and plan/register
	// canonicalize server side anyway.
	var job api.Job
	req := &api.JobsParseRequest{JobHCL: r.HCL, Variables: r.Variables}
	if _, err := c.api.Raw().Write("/v1/jobs/parse", req, &job, wo); err != nil {
		return res, fmt.Errorf("parsing job %s (template %s) in Nomad: %w", r.JobID, r.Template.Name, &parseError{err: err})
	}
	if job.ID == nil || *job.ID != r.JobID {
		got := "<none>"
		if job.ID != nil {
			got = *job.ID
		}
		return res, fmt.Errorf("parsing job %s (template %s) in Nomad: Nomad parsed job id %q, the template evaluates to %q", r.JobID, r.Template.Name, got, r.JobID)
	}
	// The job lives in the namespace kgplane works in, or ListManaged would
	// never see it and every reconcile would submit it again.
	if c.namespace != "" {
		if job.Namespace != nil && *job.Namespace != "" && *job.Namespace != c.namespace {
			return res, fmt.Errorf("submitting job %s: template %s sets namespace %q, the control plane works in %q", r.JobID, r.Template.Name, *job.Namespace, c.namespace)
		}
		job.Namespace = &c.namespace
	}
	if c.region != "" && (job.Region == nil || *job.Region == "") {
		job.Region = &c.region
	}
	if job.Meta == nil {
		job.Meta = map[string]string{}
	}
	maps.Copy(job.Meta, r.Meta())
	maps.Copy(job.Meta, meta)
	// ListManaged selects on this key; a caller's meta must not drop a job from it.
	job.Meta[MetaManagedBy] = ManagedByValue

	plan, _, err := c.api.Jobs().Plan(&job, true, wo)
	if err != nil {
		return res, fmt.Errorf("planning job %s: %w", r.JobID, err)
	}
	if plan.Diff != nil && plan.Diff.Type == planDiffNone {
		res.JobModifyIndex = plan.JobModifyIndex
		return res, nil
	}

	// Recorded as `nomad job run -var client_id=... -var-file=<operator vars>`
	// records it: the flags hold the client's variables, Variables the var-file.
	sub := &api.JobSubmission{
		Source:        r.HCL,
		Format:        "hcl2",
		VariableFlags: maps.Clone(r.VariableMap),
		Variables:     r.OperatorVariables,
	}
	resp, _, err := c.api.Jobs().RegisterOpts(&job, &api.RegisterOptions{Submission: sub}, wo)
	if err != nil {
		return res, fmt.Errorf("registering job %s: %w", r.JobID, err)
	}
	res.Changed = true
	res.EvalID = resp.EvalID
	res.JobModifyIndex = resp.JobModifyIndex
	return res, nil
}

// Purge deregisters and purges a job (DELETE /v1/job/<id>?purge=true). A job
// that is already gone counts as purged.
func (c *Client) Purge(ctx context.Context, jobID string) error {
	if jobID == "" {
		return errors.New("purging job: empty job id")
	}
	wo := (&api.WriteOptions{}).WithContext(ctx)
	if _, _, err := c.api.Jobs().Deregister(jobID, true, wo); err != nil {
		if statusCode(err) == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("purging job %s: %w", jobID, err)
	}
	return nil
}

// ManagedJob is a Nomad job that kgplane submitted.
type ManagedJob struct {
	ID, Client, Template, TemplateSHA string
	// Status is Nomad's job status: pending, running or dead.
	Status string
	// Stopped is true when the job was stopped (e.g. `nomad job stop` without
	// -purge); Submit re-registers such a job.
	Stopped bool
}

// managedFilter selects kgplane's jobs server side (go-bexpr over the job).
// The result is checked again client side, so an agent that ignores the
// filter cannot make kgplane adopt foreign jobs.
const managedFilter = `Meta.` + MetaManagedBy + ` == "` + ManagedByValue + `"`

// ListManaged lists the jobs whose meta kg_managed_by is "kgplane", in the
// client's namespace (GET /v1/jobs?meta=true&filter=...).
func (c *Client) ListManaged(ctx context.Context) ([]ManagedJob, error) {
	q := (&api.QueryOptions{Filter: managedFilter}).WithContext(ctx)
	stubs, _, err := c.api.Jobs().ListOptions(&api.JobListOptions{Fields: &api.JobListFields{Meta: true}}, q)
	if err != nil {
		return nil, fmt.Errorf("listing kgplane's Nomad jobs: %w", err)
	}
	var out []ManagedJob
	for _, s := range stubs {
		if s == nil || s.Meta[MetaManagedBy] != ManagedByValue {
			continue
		}
		out = append(out, ManagedJob{
			ID:          s.ID,
			Client:      s.Meta[MetaClient],
			Template:    s.Meta[MetaTemplate],
			TemplateSHA: s.Meta[MetaTemplateSHA],
			Status:      s.Status,
			Stopped:     s.Stop,
		})
	}
	return out, nil
}
