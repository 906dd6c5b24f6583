package nomad

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/nomad/api"
	"golang.org/x/time/rate"
)

// Config selects the Nomad cluster. Empty fields fall back to nomad/api's
// defaults, i.e. NOMAD_ADDR, NOMAD_TOKEN, NOMAD_NAMESPACE, NOMAD_REGION (and the
// other NOMAD_* TLS variables nomad/api reads).
type Config struct {
	Address, Token, Namespace, Region string
	HTTPClient                        *http.Client
	// Plane is the control plane's identity (kg_plane meta): ListManaged
	// returns only jobs with kg_managed_by=kgplane AND kg_plane=Plane, so
	// planes sharing a namespace never see each other's jobs. Required.
	Plane string
	// AdoptUnlabeled also lists kgplane jobs with no kg_plane meta at all
	// (submitted before planes had identities). Only the plane of the
	// contract's registry topic sets it, so an upgrade adopts its old jobs
	// instead of submitting them again, and no other plane can take them.
	AdoptUnlabeled bool
	// RateLimit bounds HTTP calls to Nomad per second (0 = unlimited): one
	// token per call, so a submit (parse, plan, register) costs three.
	RateLimit float64
	// RateBurst is the bucket size (default 2 × RateLimit, at least 1).
	RateBurst int
	// BeforeWrite, when set, runs right before every call that changes
	// Nomad (register, deregister); an error aborts the call. The control
	// plane checks there that it still holds its leadership term, as late as
	// it can.
	BeforeWrite func(ctx context.Context) error
}

// Client is a small typed wrapper over the Nomad API for kgplane's three
// operations: submit a rendered template, purge a job, list kgplane's jobs.
// It does not retry; the caller's work queue does.
type Client struct {
	api               *api.Client
	namespace, region string // as configured, "" = Nomad's default
	plane             string
	filter            string
	adoptUnlabeled    bool
	beforeWrite       func(ctx context.Context) error
	limiter           *rate.Limiter
}

// limitedTransport takes one rate-limit token per HTTP request.
type limitedTransport struct {
	base    http.RoundTripper
	limiter *rate.Limiter
}

func (t *limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := t.limiter.Wait(r.Context()); err != nil {
		return nil, fmt.Errorf("waiting for the Nomad rate limit (%s %s): %w", r.Method, r.URL.Path, err)
	}
	return t.base.RoundTrip(r)
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
	if cfg.Plane == "" {
		return nil, errors.New("creating Nomad client: no plane identity (kg_plane meta) configured")
	}
	cl := &Client{namespace: c.Namespace, region: c.Region, plane: cfg.Plane, adoptUnlabeled: cfg.AdoptUnlabeled,
		filter: managedFilter(cfg.Plane, cfg.AdoptUnlabeled), beforeWrite: cfg.BeforeWrite}
	if cfg.RateLimit > 0 {
		burst := cfg.RateBurst
		if burst <= 0 {
			burst = max(1, int(math.Ceil(2*cfg.RateLimit)))
		}
		cl.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), burst)
		// The limit sits in the HTTP transport, so every call takes a token.
		// nomad/api only configures TLS (NOMAD_CACERT...) on an *http.Client
		// it creates itself, so ours is set up the same way first.
		var hc http.Client
		if c.HttpClient != nil {
			hc = *c.HttpClient
		} else {
			hc = *cleanhttp.DefaultPooledClient()
			tr := hc.Transport.(*http.Transport)
			tr.TLSHandshakeTimeout = 10 * time.Second
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			if err := api.ConfigureTLS(&hc, c.TLSConfig); err != nil {
				return nil, fmt.Errorf("configuring TLS for Nomad at %s: %w", c.Address, err)
			}
		}
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		hc.Transport = &limitedTransport{base: base, limiter: cl.limiter}
		c.HttpClient = &hc
	}
	ac, err := api.NewClient(c)
	if err != nil {
		return nil, fmt.Errorf("creating Nomad client for %s: %w", c.Address, err)
	}
	cl.api = ac
	return cl, nil
}

// Plane is the plane identity this client lists and labels jobs with.
func (c *Client) Plane() string { return c.plane }

func (c *Client) checkWrite(ctx context.Context) error {
	if c.beforeWrite == nil {
		return nil
	}
	return c.beforeWrite(ctx)
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

// ErrConflict marks a register refused because the job changed between our
// plan and our register (the check-and-set on the plan's modify index):
// someone else, e.g. another leader, wrote it meanwhile.
var ErrConflict = errors.New("the job changed since it was planned")

// planDiffNone is the JobDiff.Type Nomad reports when a planned job equals the
// registered one.
const planDiffNone = "None"

// Submit parses r in Nomad (PUT /v1/jobs/parse with the HCL and the var-file
// text), adds r.Meta() and then meta to the job's meta (so the caller may
// override e.g. kg_template_sha; kg_managed_by is always "kgplane" and
// kg_plane this client's plane), plans it with a diff and registers it only
// when the plan shows a change or the job does not exist. The register is a
// check-and-set on the plan's modify index (a job written by someone else
// after the plan makes it fail with ErrConflict instead of overwriting) and
// carries a JobSubmission (source + variables) so Nomad's UI shows the job
// definition.
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
	// ListManaged selects on these keys; a caller's meta must not drop a job from it.
	job.Meta[MetaManagedBy] = ManagedByValue
	job.Meta[MetaPlane] = c.plane

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
	if err := c.checkWrite(ctx); err != nil {
		return res, fmt.Errorf("registering job %s: %w", r.JobID, err)
	}
	// Nomad's check-and-set: index 0 = the job must not exist yet.
	opts := &api.RegisterOptions{Submission: sub, EnforceIndex: true, ModifyIndex: plan.JobModifyIndex}
	resp, _, err := c.api.Jobs().RegisterOpts(&job, opts, wo)
	if err != nil {
		if isEnforceIndexError(err) {
			return res, fmt.Errorf("registering job %s at modify index %d: %w: %w", r.JobID, plan.JobModifyIndex, ErrConflict, err)
		}
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
	if err := c.checkWrite(ctx); err != nil {
		return fmt.Errorf("purging job %s: %w", jobID, err)
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
	// Plane is the kg_plane meta ("" on a job from before planes had one).
	Plane string
	// Term is the kg_term meta: the leadership term of the plane that last
	// registered the job (0 when none).
	Term int64
	// Status is Nomad's job status: pending, running or dead.
	Status string
	// Stopped is true when the job was stopped (e.g. `nomad job stop` without
	// -purge); Submit re-registers such a job.
	Stopped bool
}

// managedFilter selects one plane's jobs server side (go-bexpr over the job).
// The result is checked again client side, so an agent that ignores the
// filter cannot make kgplane adopt foreign jobs.
func managedFilter(plane string, adoptUnlabeled bool) string {
	f := `Meta.` + MetaManagedBy + ` == "` + ManagedByValue + `" and Meta.` + MetaPlane + ` == ` + strconv.Quote(plane)
	if adoptUnlabeled {
		f = `Meta.` + MetaManagedBy + ` == "` + ManagedByValue + `" and (Meta.` + MetaPlane + ` == ` + strconv.Quote(plane) +
			` or "` + MetaPlane + `" not in Meta)`
	}
	return f
}

// Owns reports whether a job with this meta belongs to this client's plane.
func (c *Client) owns(meta map[string]string) bool {
	if meta[MetaManagedBy] != ManagedByValue {
		return false
	}
	p, labeled := meta[MetaPlane]
	return p == c.plane || !labeled && c.adoptUnlabeled
}

// ListManaged lists this plane's jobs: meta kg_managed_by is "kgplane" and
// kg_plane is the plane, in the client's namespace (GET
// /v1/jobs?meta=true&filter=...). Other planes' jobs are never returned.
func (c *Client) ListManaged(ctx context.Context) ([]ManagedJob, error) {
	q := (&api.QueryOptions{Filter: c.filter}).WithContext(ctx)
	stubs, _, err := c.api.Jobs().ListOptions(&api.JobListOptions{Fields: &api.JobListFields{Meta: true}}, q)
	if err != nil {
		return nil, fmt.Errorf("listing kgplane's Nomad jobs: %w", err)
	}
	var out []ManagedJob
	for _, s := range stubs {
		if s == nil || !c.owns(s.Meta) {
			continue
		}
		term, _ := strconv.ParseInt(s.Meta[MetaTerm], 10, 64)
		out = append(out, ManagedJob{
			Plane:       s.Meta[MetaPlane],
			Term:        term,
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
