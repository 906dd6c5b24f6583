package main

// The backend choice: Nomad's API or the embedded single-machine runner. Both
// satisfy scheduler.Nomad, so nothing else in the control plane knows which.

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/kgrca/kgplane/nomad"
	"github.com/kgrca/kgplane/nomad/embedded"
	"github.com/kgrca/kgplane/scheduler"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// Backend kinds (KG_BACKEND).
const (
	backendAuto     = "auto"
	backendNomad    = "nomad"
	backendEmbedded = "embedded"
)

// defaultStateDir is where the embedded backend keeps task logs unless
// KG_STATE_DIR says otherwise: the XDG state folder, as for any daemon that
// runs as a user.
func defaultStateDir(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "kgplane")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "kgplane")
	}
	return filepath.Join(os.TempDir(), "kgplane-state")
}

// resolveBackend turns KG_BACKEND=auto into nomad or embedded: Nomad when
// NOMAD_ADDR is set (the operator named a Nomad: one that is down at start
// must be waited for, never replaced by child processes on this host), when
// an agent answers at the default address, or when a nomad binary is on PATH
// (an agent is about to be started, e.g. by make run); embedded otherwise. It
// says why.
func resolveBackend(kind, nomadAddrEnv string, nomadAnswers func() error, nomadOnPath func() (string, error)) (string, string) {
	if kind != backendAuto {
		return kind, "KG_BACKEND=" + kind
	}
	if nomadAddrEnv != "" {
		return backendNomad, "NOMAD_ADDR is set"
	}
	err := nomadAnswers()
	if err == nil {
		return backendNomad, "a Nomad agent answers at NOMAD_ADDR"
	}
	if p, lerr := nomadOnPath(); lerr == nil {
		return backendNomad, "no Nomad agent answers yet, but " + p + " is on PATH"
	}
	return backendEmbedded, fmt.Sprintf("NOMAD_ADDR is not set, no Nomad agent answers at the default address (%v) and no nomad binary is on PATH", err)
}

// pingNomad asks the configured Nomad for its leader, briefly.
func pingNomad(ctx context.Context) error {
	c, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var leader string
	_, err = c.Raw().Query("/v1/status/leader", &leader, (&api.QueryOptions{}).WithContext(ctx))
	return err
}

// newBackend returns what the scheduler drives, and a function that stops it
// (for the embedded backend: every task, with its kill signal and timeout).
// fence runs right before every write: the plane still leads, or it fails.
func newBackend(ctx context.Context, cfg config, templates *nomad.TemplateSet, log *slog.Logger, fence func(context.Context) error) (scheduler.Nomad, func(context.Context) error, error) {
	kind, why := resolveBackend(cfg.backend, os.Getenv("NOMAD_ADDR"), func() error { return pingNomad(ctx) }, func() (string, error) { return exec.LookPath("nomad") })
	if kind == backendNomad {
		nc, err := nomad.NewClient(nomad.Config{
			Plane: cfg.plane,
			// Jobs from before planes had names belong to the contract's registry.
			AdoptUnlabeled: cfg.registryTopic == kafkaio.TopicRegistry && cfg.plane == kafkaio.TopicRegistry,
			RateLimit:      cfg.nomadRate,
			BeforeWrite:    fence,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("configuring the Nomad client: %w", err)
		}
		log.Info("backend: Nomad", "reason", why, "nomad", nc.Address())
		return nc, func(context.Context) error { return nil }, nil
	}
	if err := checkEmbeddable(templates, cfg.brokers); err != nil {
		return nil, nil, fmt.Errorf("the embedded backend (%s) cannot run these templates:\n%w", why, err)
	}
	b, err := embedded.New(embedded.Config{
		StateDir: cfg.stateDir, Plane: cfg.plane, HostEnv: os.Environ(), Variables: planeSecrets(os.Environ()),
		Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	log.Info("backend: embedded (jobs run as child processes of this control plane; they stop with it)",
		"reason", why, "state_dir", b.StateDir(), "task_logs", filepath.Join(b.StateDir(), "logs", "<job id>", "<task>.log"))
	return fencedBackend{Backend: b, fence: fence}, b.Close, nil
}

// backendAttrs names the backend in the startup log: the Nomad address only
// when Nomad is used (embedded, NOMAD_ADDR is not read and would mislead).
func backendAttrs(b scheduler.Nomad) []any {
	if c, ok := b.(*nomad.Client); ok {
		return []any{"backend", backendNomad, "nomad", c.Address()}
	}
	return []any{"backend", backendEmbedded}
}

// fencedBackend checks the plane's leadership before every write, as the
// Nomad client's BeforeWrite does. The embedded backend's JobStatuses comes
// through, so /v1/clients shows its tasks' state live.
type fencedBackend struct {
	*embedded.Backend
	fence func(context.Context) error
}

var _ scheduler.LiveStatuses = fencedBackend{}

func (f fencedBackend) Submit(ctx context.Context, r nomad.Rendered, meta map[string]string) (nomad.SubmitResult, error) {
	if err := f.fence(ctx); err != nil {
		return nomad.SubmitResult{JobID: r.JobID}, err
	}
	return f.Backend.Submit(ctx, r, meta)
}

func (f fencedBackend) Purge(ctx context.Context, jobID string) error {
	if err := f.fence(ctx); err != nil {
		return err
	}
	return f.Backend.Purge(ctx, jobID)
}

// checkEmbeddable evaluates every template for a probe client and asks the
// embedded backend whether it can run it, so a template set meant for Docker
// stops the start with a message instead of failing every submit.
func checkEmbeddable(ts *nomad.TemplateSet, brokers string) error {
	var problems []string
	for _, t := range ts.Templates {
		r, err := ts.Render(t, nomad.ClientVars{ClientID: "kgplane-probe", Neo4jDatabase: "kgplane-probe", KafkaBrokers: brokers})
		if err == nil {
			var job *nomad.Job
			if job, err = r.Job(); err == nil {
				err = embedded.Runnable(job)
			}
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", t.Path, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s\n(or run Nomad: KG_BACKEND=nomad)", strings.Join(problems, "\n"))
	}
	return nil
}

// planeSecrets stands in for the Nomad Variables the templates' secrets block
// reads: nomad/jobs holds the control plane's own NEO4J_* and KAFKA_SASL_*
// environment (the embedded backend cannot read Nomad Variables; on one
// machine the plane's credentials are the workers' credentials).
func planeSecrets(environ []string) embedded.Variables {
	items := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && v != "" && (strings.HasPrefix(k, "NEO4J_") || strings.HasPrefix(k, "KAFKA_SASL_")) {
			items[k] = v
		}
	}
	return func(path string) (map[string]string, bool) {
		if path == "nomad/jobs" && len(items) > 0 {
			return items, true
		}
		return nil, false
	}
}
