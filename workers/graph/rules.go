package graph

import (
	"strings"
	"time"
)

// This file is the causal rule table of the fault propagation graph: every CAUSES
// edge the builder writes comes from one row below. docs/graph.md explains it.
//
// A rule links a cause event to an effect event when
//   - the cause's signal is in Cause and the effect's signal is in Effect
//     (signals: see Signal below — a Kubernetes reason, refined by its message
//     where Kubernetes reuses one reason, or "log:<SIGNATURE>" for a log),
//   - their resources stand in the Relation (see the Relation constants),
//   - the effect happened at most MaxLag after the cause (and not before it).

// Relation is how a cause's resource relates to its effect's resource.
type Relation string

const (
	// RelSame: both events are about the same resource.
	RelSame Relation = "same"
	// RelNode: the cause is about a Node and the effect about a resource that
	// RUNS_ON that Node.
	RelNode Relation = "node"
	// RelOwner: the two resources are different and OWNED_BY the same owner
	// (siblings, e.g. an evicted pod and its replacement from one ReplicaSet).
	RelOwner Relation = "owner"
	// RelSelects: the two resources are different and one Service SELECTS both
	// (peers serving the same Service, so they share its dependencies).
	RelSelects Relation = "selects"
	// RelCalls: the effect's resource CALLS the cause's resource, or a Service
	// that SELECTS it (a caller and the pods behind what it calls).
	RelCalls Relation = "calls"
	// RelCallsNamed: like RelCalls, but only through what the effect (a log)
	// itself names as its peer: for effects that say little on their own (a
	// generic error log), the name is what ties them to the callee.
	RelCallsNamed Relation = "calls-named"
	// RelUses: the effect's resource USES the cause's resource (a pod and the
	// PersistentVolumeClaim, ConfigMap or Secret it mounts or reads).
	RelUses Relation = "uses"
	// RelController: the cause's resource owns the effect's, directly or
	// through one level (a Deployment, its ReplicaSet, their pods): a
	// controller acting on what it manages.
	RelController Relation = "controller"
	// RelManaged: the effect's resource owns the cause's, directly or
	// through one level (a Job and its pods): a controller reporting what
	// its members did.
	RelManaged Relation = "managed"
)

// Relations lists every relation a rule may use.
func Relations() []Relation {
	return []Relation{RelSame, RelNode, RelOwner, RelSelects, RelCalls, RelCallsNamed, RelUses, RelController, RelManaged}
}

// Rule is one row of the causal rule table.
type Rule struct {
	Name       string
	Cause      []string
	Effect     []string
	Relation   Relation
	MaxLag     time.Duration
	Confidence float64
}

// DefaultRules returns the causal rule table (a fresh copy: the table is data,
// not shared mutable state).
func DefaultRules() []Rule {
	return []Rule{
		{Name: "oom-backoff", Cause: []string{"OOMKilled", "OOMKilling", "log:OOM"}, Effect: []string{"BackOff"},
			Relation: RelSame, MaxLag: 10 * time.Minute, Confidence: 0.9},
		{Name: "crash-backoff", Cause: []string{"log:PANIC", "log:CRASH", "log:EXCEPTION"}, Effect: []string{"BackOff"},
			Relation: RelSame, MaxLag: 10 * time.Minute, Confidence: 0.6},
		{Name: "probe-kill", Cause: []string{"Unhealthy"}, Effect: []string{"Killing"},
			Relation: RelSame, MaxLag: 5 * time.Minute, Confidence: 0.8},
		{Name: "kill-backoff", Cause: []string{"Killing"}, Effect: []string{"BackOff"},
			Relation: RelSame, MaxLag: 10 * time.Minute, Confidence: 0.7},
		// A container that exits with an error (the container state's
		// terminated reason) or cannot run is restarted with a back-off.
		{Name: "exit-backoff", Cause: []string{"Error", "ContainerCannotRun"}, Effect: []string{"BackOff"},
			Relation: RelSame, MaxLag: 10 * time.Minute, Confidence: 0.7},
		{Name: "image-pull-backoff", Cause: []string{"ErrImagePull"}, Effect: []string{"ImagePullBackOff"},
			Relation: RelSame, MaxLag: 10 * time.Minute, Confidence: 0.95},
		{Name: "node-not-ready-eviction", Cause: []string{"NodeNotReady"},
			Effect:   []string{"Evicted", "NodeNotReady", "TaintManagerEviction"},
			Relation: RelNode, MaxLag: 10 * time.Minute, Confidence: 0.9},
		// The kubelet's eviction manager reclaims a resource the node runs short
		// of by evicting pods (kubernetes.io "Node-pressure Eviction").
		{Name: "node-pressure-eviction",
			Cause:    []string{"EvictionThresholdMet", "NodeHasInsufficientMemory", "NodeHasDiskPressure", "NodeHasInsufficientPID"},
			Effect:   []string{"Evicted"},
			Relation: RelNode, MaxLag: 10 * time.Minute, Confidence: 0.85},
		// An evicted pod (by the kubelet, or by the taint manager once its
		// node has been unreachable too long) is replaced by its owner; the
		// replacement may find no room.
		{Name: "eviction-unschedulable-replacement", Cause: []string{"Evicted", "TaintManagerEviction"}, Effect: []string{"FailedScheduling"},
			Relation: RelOwner, MaxLag: 10 * time.Minute, Confidence: 0.7},
		// A Job gives up when its pods keep failing (backoffLimit) or run out
		// of time (activeDeadlineSeconds).
		{Name: "failed-pods-fail-job",
			Cause: []string{"Error", "BackOff", "OOMKilled", "ContainerCannotRun", "log:PANIC", "log:CRASH", "log:EXCEPTION",
				"log:OOM"},
			Effect:   []string{"BackoffLimitExceeded", "DeadlineExceeded"},
			Relation: RelManaged, MaxLag: 30 * time.Minute, Confidence: 0.8},
		// A scale-down (or a rollout's) deletes pods: the kubelet stops their
		// containers.
		{Name: "scale-down-kills", Cause: []string{"ScalingReplicaSet", "SuccessfulDelete"}, Effect: []string{"Killing"},
			Relation: RelController, MaxLag: 5 * time.Minute, Confidence: 0.6},
		{Name: "missing-config-no-start", Cause: []string{"FailedMount", "CreateContainerConfigError"},
			Effect:   []string{"CreateContainerConfigError", "BackOff", "FailedCreatePodContainer"},
			Relation: RelSame, MaxLag: 10 * time.Minute, Confidence: 0.8},
		// A PersistentVolumeClaim that cannot be provisioned, bound or resized
		// keeps the pods that use it from being scheduled ("unbound immediate
		// PersistentVolumeClaims"), from mounting it or from starting.
		{Name: "used-volume-blocks-pod",
			Cause: []string{"ProvisioningFailed", "FailedBinding", "VolumeResizeFailed"},
			Effect: []string{"FailedScheduling", "FailedMount", "FailedAttachVolume", "CreateContainerConfigError",
				"FailedCreatePodContainer"},
			Relation: RelUses, MaxLag: 30 * time.Minute, Confidence: 0.8},
		// A callee whose pods crash, are OOM-killed, evicted, restarted, not
		// ready or cannot start (volume, image, config, no node) refuses or
		// drops its callers' connections; a DNS server in that state fails
		// their lookups.
		{Name: "callee-down-caller-errors",
			Cause: []string{"OOMKilled", "OOMKilling", "BackOff", "Evicted", "Unhealthy", "Killing", "NodeNotReady",
				"TaintManagerEviction", "log:OOM", "log:PANIC", "log:CRASH",
				"FailedMount", "FailedAttachVolume", "FailedScheduling", "ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError"},
			Effect:   []string{"log:CONNECTION_REFUSED", "log:DNS", "log:TIMEOUT"},
			Relation: RelCalls, MaxLag: 10 * time.Minute, Confidence: 0.75},
		// A caller's error log that names a callee whose pods are failing
		// (an HTTP 503 from it, a failed query to it).
		{Name: "callee-down-caller-named-errors",
			Cause: []string{"OOMKilled", "OOMKilling", "BackOff", "Evicted", "Unhealthy", "Killing", "NodeNotReady",
				"TaintManagerEviction", "log:OOM", "log:PANIC", "log:CRASH", "log:CONNECTION_REFUSED", "log:DNS", "log:TIMEOUT",
				"FailedMount", "FailedAttachVolume", "FailedScheduling", "ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError"},
			Effect:   []string{"log:ERROR", "log:CRITICAL"},
			Relation: RelCallsNamed, MaxLag: 10 * time.Minute, Confidence: 0.6},
		{Name: "dependency-down-readiness", Cause: []string{"log:CONNECTION_REFUSED", "log:DNS", "log:TIMEOUT"}, Effect: []string{"Unhealthy"},
			Relation: RelSame, MaxLag: 2 * time.Minute, Confidence: 0.6},
		{Name: "dependency-down-readiness-peers", Cause: []string{"log:CONNECTION_REFUSED", "log:DNS", "log:TIMEOUT"}, Effect: []string{"Unhealthy"},
			Relation: RelSelects, MaxLag: 2 * time.Minute, Confidence: 0.5},
	}
}

// Signal is the token an event is matched by in the rule table. For a Kubernetes
// event it is the reason, except where Kubernetes reuses one reason for different
// faults and only the message tells them apart (kubelet's "Failed" and "BackOff");
// for a log it is "log:" and the signature, or "log:<SEVERITY>" without one.
func Signal(source, reason, severity, message string) string {
	if source == SourceLog {
		if reason != "" {
			return "log:" + reason
		}
		return "log:" + severity
	}
	switch reason {
	case "Failed":
		switch {
		case strings.Contains(message, "ImagePullBackOff"):
			return "ImagePullBackOff"
		case strings.Contains(message, "ErrImagePull"), strings.Contains(message, "Failed to pull image"):
			return "ErrImagePull"
		case strings.Contains(message, "CreateContainerConfigError"),
			(strings.Contains(message, `secret "`) || strings.Contains(message, `configmap "`)) && strings.Contains(message, "not found"):
			return "CreateContainerConfigError"
		}
	case "BackOff":
		if strings.Contains(message, "pulling image") {
			return "ImagePullBackOff"
		}
	}
	return reason
}

// Probe direction: what a probe looks for around a new event.
const (
	findCauses  = "causes"  // the new event is the effect
	findEffects = "effects" // the new event is the cause
)

// probe asks the graph for the counterparts of one event under one rule.
type probe struct {
	EID        string
	Dir        string
	Rule       string
	Relation   Relation
	Others     []string // the counterpart's signals
	MaxLagMs   int64
	Confidence float64
}

// probesFor returns every probe an event with this signal needs: one per rule it
// can be a cause in (find its effects) and one per rule it can be an effect in
// (find its causes). Looking both ways is what links a cause that arrives after
// its effect.
func probesFor(rules []Rule, eid, signal string) []probe {
	var out []probe
	for _, r := range rules {
		if contains(r.Cause, signal) {
			out = append(out, probe{EID: eid, Dir: findEffects, Rule: r.Name, Relation: r.Relation,
				Others: r.Effect, MaxLagMs: r.MaxLag.Milliseconds(), Confidence: r.Confidence})
		}
		if contains(r.Effect, signal) {
			out = append(out, probe{EID: eid, Dir: findCauses, Rule: r.Name, Relation: r.Relation,
				Others: r.Cause, MaxLagMs: r.MaxLag.Milliseconds(), Confidence: r.Confidence})
		}
	}
	return out
}

// Matches reports whether rule r links a cause to an effect, given the signals,
// the relation between their resources and their timestamps. The builder runs
// the same test in Cypher (cypher.go); this is its reference, used by the tests
// and by anyone reading the table.
func (r Rule) Matches(causeSignal, effectSignal string, rel Relation, causeTS, effectTS time.Time) bool {
	lag := effectTS.Sub(causeTS)
	return contains(r.Cause, causeSignal) && contains(r.Effect, effectSignal) &&
		rel == r.Relation && lag >= 0 && lag <= r.MaxLag
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
