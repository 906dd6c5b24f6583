// Package nomad is kgplane's side of Nomad: it loads and validates the per-client
// job templates (jobspecs/*.nomad.hcl, ordinary Nomad HCL2 jobspecs), renders them
// for one client, and submits, lists and purges the resulting jobs through the
// Nomad HTTP API (github.com/hashicorp/nomad/api).
//
// Templates are checked locally with hcl/v2 so a broken template is refused with
// file:line:col before anything reaches Nomad; Nomad itself (PUT /v1/jobs/parse)
// stays the authority on the full jobspec schema and the HCL functions.
//
// The package keeps no state of its own and never retries: the control plane's
// work queue owns retries and backoff, and ErrorKind classifies errors for its
// metrics.
package nomad
