package eventnorm

import (
	"slices"
	"strings"

	"github.com/kgrca/kgplane/internal/netfail"
)

// Severity is the normalized severity of an event or log.
type Severity string

// Severities, from least to most severe.
const (
	SeverityInfo     Severity = "INFO"
	SeverityWarning  Severity = "WARNING"
	SeverityError    Severity = "ERROR"
	SeverityCritical Severity = "CRITICAL"
)

// Category is the fault class an event belongs to; the graph builder's causal
// rules key on it.
type Category string

// Categories of the contract (SPEC "Normalized event").
const (
	CategoryOOM        Category = "OOM"
	CategoryCrash      Category = "CRASH"
	CategoryImage      Category = "IMAGE"
	CategoryScheduling Category = "SCHEDULING"
	CategoryStorage    Category = "STORAGE"
	CategoryNetwork    Category = "NETWORK"
	CategoryProbe      Category = "PROBE"
	CategoryNode       Category = "NODE"
	CategoryConfig     Category = "CONFIG"
	CategoryScaling    Category = "SCALING"
	CategoryOther      Category = "OTHER"
)

// Rule classifies an event. A rule matches when every one of its non-empty
// conditions holds; Rules is evaluated top to bottom and the first match wins.
type Rule struct {
	// Reasons: the event's reason is one of these (exact, case-sensitive, as
	// Kubernetes components emit them). Empty: any reason.
	Reasons []string
	// Kinds: the kind of the event's object is one of these. Empty: any
	// kind. Controllers reuse reasons (SuccessfulCreate is a ReplicaSet
	// reaching its replicas or a Job starting its pod).
	Kinds []string
	// Type: the event's type ("Normal" or "Warning"). Empty: any type.
	Type string
	// MessageAny: the lower-cased message contains at least one of these.
	MessageAny []string
	// MessageAll: the lower-cased message contains every one of these.
	MessageAll []string

	Category Category
	Severity Severity
	// Why says what the rule stands for; docs/normalization.md quotes it.
	Why string
}

// rules is the classification table (docs/normalization.md renders it). It
// is never modified after initialisation; Rules hands out a copy.
// Order matters: specific reason+message rules come before the reason-only
// rule for the same reason, reason rules come before the message-only rules,
// and the last two rules make the table total.
var rules = []Rule{
	// OOM first: an OOM kill is the root of the crash loop that follows it,
	// whatever reason the reporter chose.
	{Reasons: []string{"OOMKilled", "OOMKilling", "SystemOOM"}, Category: CategoryOOM, Severity: SeverityCritical,
		Why: "container or node process killed by the OOM killer"},
	{MessageAny: []string{"oomkill", "out of memory"}, Category: CategoryOOM, Severity: SeverityCritical,
		Why: "any event whose message reports an OOM kill"},

	// Images. The kubelet reports pull back-off as reason BackOff and pull
	// errors as reason Failed, so those need the message to tell them apart.
	{Reasons: []string{"BackOff"}, MessageAny: []string{"pulling image"}, Category: CategoryImage, Severity: SeverityError,
		Why: "kubelet: Back-off pulling image"},
	{Reasons: []string{"ErrImagePull", "ImagePullBackOff", "InspectFailed", "ErrImageNeverPull", "ErrInvalidImageName"},
		Category: CategoryImage, Severity: SeverityError, Why: "image cannot be pulled or inspected"},
	{Reasons: []string{"Failed"}, MessageAny: []string{"pull", "image"}, Category: CategoryImage, Severity: SeverityError,
		Why: "kubelet: Failed to pull image / Error: ErrImagePull"},
	{Reasons: []string{"Pulling", "Pulled"}, Category: CategoryImage, Severity: SeverityInfo,
		Why: "image pull progress"},

	// Configuration: a missing Secret/ConfigMap shows up as Failed,
	// FailedMount, FailedCreate or CreateContainerConfigError.
	{Reasons: []string{"CreateContainerConfigError"}, Category: CategoryConfig, Severity: SeverityError,
		Why: "container config cannot be built (missing Secret/ConfigMap key)"},
	{Reasons: []string{"Failed", "FailedMount", "FailedCreate", "FailedCreatePodContainer"},
		MessageAny: []string{"secret", "configmap", "config map"}, MessageAll: []string{"not found"},
		Category: CategoryConfig, Severity: SeverityError, Why: "referenced Secret/ConfigMap does not exist"},
	{Reasons: []string{"Failed"}, MessageAny: []string{"couldn't find key", "createcontainerconfigerror"},
		Category: CategoryConfig, Severity: SeverityError, Why: "referenced Secret/ConfigMap key does not exist"},

	// Crashes.
	{Reasons: []string{"BackOff", "CrashLoopBackOff"}, Category: CategoryCrash, Severity: SeverityError,
		Why: "kubelet: Back-off restarting failed container"},
	{Reasons: []string{"Failed", "FailedKillPod", "FailedPreStopHook", "FailedPostStartHook", "ContainerGCFailed"},
		Category: CategoryCrash, Severity: SeverityError, Why: "container failed to start or stop"},
	// Killing is the kubelet stopping a container. It is Normal for deletes
	// and rollouts (INFO); it is a restart caused by a failing probe when the
	// message says so (WARNING: the probe event itself carries the fault).
	{Reasons: []string{"Killing"}, MessageAny: []string{"failed liveness probe", "failed startup probe"},
		Category: CategoryCrash, Severity: SeverityWarning, Why: "container restarted after a failed probe"},
	{Reasons: []string{"Killing"}, Category: CategoryOther, Severity: SeverityInfo,
		Why: "container stopped (delete, rollout, scale-down)"},
	// A failed Job (the job controller's failure reasons) is its pods
	// failing, as a crash loop is for a Deployment. DeadlineExceeded is also
	// the kubelet killing a pod past activeDeadlineSeconds.
	{Reasons: []string{"BackoffLimitExceeded", "DeadlineExceeded", "PodFailurePolicy", "MaxFailedIndexesExceeded", "FailedIndexes"},
		Category: CategoryCrash, Severity: SeverityError,
		Why: "Job failed: too many failed pods, past its deadline, or a pod failure policy said so"},

	// Scheduling. The scheduler reports a pod being deleted as
	// FailedScheduling too; nothing failed.
	{Reasons: []string{"FailedScheduling"}, MessageAny: []string{"skip schedule deleting pod"},
		Category: CategoryScheduling, Severity: SeverityInfo, Why: "not a failure: the pod is being deleted, the scheduler skips it"},
	{Reasons: []string{"FailedScheduling"}, Category: CategoryScheduling, Severity: SeverityWarning,
		Why: "no node fits the pod"},
	{Reasons: []string{"Preempted", "Preempting"}, Category: CategoryScheduling, Severity: SeverityWarning,
		Why: "pod preempted by a higher-priority pod"},
	{Reasons: []string{"Scheduled"}, Category: CategoryScheduling, Severity: SeverityInfo,
		Why: "pod bound to a node"},

	// Storage.
	{Reasons: []string{"FailedMount", "FailedAttachVolume", "FailedMapVolume", "FailedUnMount", "FailedDetachVolume",
		"VolumeResizeFailed", "FileSystemResizeFailed", "ProvisioningFailed", "FailedBinding"},
		Category: CategoryStorage, Severity: SeverityError, Why: "volume cannot be provisioned, attached or mounted"},
	{Reasons: []string{"SuccessfulAttachVolume", "SuccessfulMountVolume", "ProvisioningSucceeded", "FileSystemResizeSuccessful"},
		Category: CategoryStorage, Severity: SeverityInfo, Why: "volume lifecycle progress"},

	// Probes.
	{Reasons: []string{"Unhealthy"}, MessageAny: []string{"liveness probe", "startup probe"},
		Category: CategoryProbe, Severity: SeverityError, Why: "liveness/startup probe failed: the container will be restarted"},
	{Reasons: []string{"Unhealthy", "ProbeWarning"}, Category: CategoryProbe, Severity: SeverityWarning,
		Why: "readiness probe failed: the pod leaves its Services' endpoints"},

	// Nodes and resource pressure.
	{Reasons: []string{"NodeNotReady"}, Category: CategoryNode, Severity: SeverityCritical,
		Why: "node stopped reporting Ready: its pods will be evicted"},
	// The kubelet's node status events (Normal, whatever the condition).
	{Reasons: []string{"NodeHasDiskPressure", "NodeHasInsufficientMemory", "NodeHasInsufficientPID", "EvictionThresholdMet",
		"Rebooted", "NodeNotSchedulable", "FreeDiskSpaceFailed", "ImageGCFailed", "KubeletSetupFailed",
		"FailedNodeAllocatableEnforcement"},
		Category: CategoryNode, Severity: SeverityError, Why: "node under resource pressure, rebooted or cordoned; kubelet cannot manage it"},
	// node-problem-detector's default monitors (kernel, docker, systemd,
	// health-checker, NTP): problems of the node under the pods.
	{Reasons: []string{"KernelOops", "TaskHung", "DockerHung", "FilesystemIsReadOnly", "Ext4Error", "IOError",
		"MemoryReadError", "XfsHasShutdown", "CorruptDockerImage", "CorruptDockerOverlay2", "FrequentKubeletRestart",
		"FrequentDockerRestart", "FrequentContainerdRestart", "KubeletUnhealthy", "ContainerdUnhealthy", "NTPIsDown"},
		Category: CategoryNode, Severity: SeverityError, Why: "node-problem-detector: kernel, filesystem, hardware or runtime fault"},
	{Reasons: []string{"Ext4Warning", "UnregisterNetDevice", "InvalidDiskCapacity"},
		Category: CategoryNode, Severity: SeverityWarning, Why: "node-problem-detector or kubelet warning about the node"},
	{Reasons: []string{"Evicted", "Evicting", "EvictedByVPA", "TaintManagerEviction"},
		Category: CategoryNode, Severity: SeverityError, Why: "pod evicted from its node"},
	{Reasons: []string{"NodeReady", "NodeSchedulable", "NodeHasSufficientMemory", "NodeHasNoDiskPressure",
		"NodeHasSufficientPID", "RegisteredNode", "Starting", "NodeAllocatableEnforced", "KubeletStart",
		"DockerStart", "ContainerdStart"},
		Category: CategoryNode, Severity: SeverityInfo, Why: "node lifecycle progress or recovery"},

	// Network.
	{Reasons: []string{"FailedCreatePodSandBox"}, MessageAny: []string{"cni", "network"},
		Category: CategoryNetwork, Severity: SeverityError, Why: "pod sandbox network (CNI) setup failed"},
	{Reasons: []string{"FailedCreatePodSandBox", "SandboxChanged"}, Category: CategoryCrash, Severity: SeverityError,
		Why: "pod sandbox cannot be created"},
	{Reasons: []string{"NetworkNotReady", "FailedToCreateEndpoint", "FailedToUpdateEndpoint", "SyncLoadBalancerFailed",
		"UnAvailableLoadBalancer"},
		Category: CategoryNetwork, Severity: SeverityError, Why: "pod or service networking unavailable"},
	// Node network setup (node IPAM and route controllers report it on the
	// Node, as Normal in older releases): the node's pods get no network.
	{Reasons: []string{"CIDRAssignmentFailed", "CIDRNotAvailable", "FailedToCreateRoute"},
		Category: CategoryNetwork, Severity: SeverityError, Why: "node has no pod CIDR or route: its pods get no network"},
	{Reasons: []string{"EnsuringLoadBalancer", "EnsuredLoadBalancer", "UpdatedLoadBalancer", "DeletingLoadBalancer",
		"DeletedLoadBalancer"},
		Category: CategoryNetwork, Severity: SeverityInfo, Why: "service load balancer lifecycle progress"},
	{Reasons: []string{"DNSConfigForming"}, Category: CategoryNetwork, Severity: SeverityWarning,
		Why: "resolv.conf limits exceeded: some nameservers/search domains dropped"},

	// Scaling.
	{Reasons: []string{"FailedGetScale", "FailedGetResourceMetric", "FailedComputeMetricsReplicas",
		"FailedRescale", "FailedGetExternalMetric", "NotTriggerScaleUp", "FailedCreate", "FailedDelete"},
		Category: CategoryScaling, Severity: SeverityWarning, Why: "controller or autoscaler cannot reach the desired replicas"},
	{Reasons: []string{"ScalingReplicaSet", "SuccessfulRescale", "TriggeredScaleUp", "ScaleDown"},
		Category: CategoryScaling, Severity: SeverityInfo, Why: "replica count changed"},
	{Reasons: []string{"SuccessfulCreate", "SuccessfulDelete"}, Kinds: []string{"ReplicaSet", "ReplicationController", "StatefulSet"},
		Category: CategoryScaling, Severity: SeverityInfo, Why: "a replica controller created or deleted a pod to reach its replica count"},
	// The same reasons from a Job, CronJob or DaemonSet are bookkeeping: a
	// Job starts its pod, a CronJob its Job, a DaemonSet a pod per node.
	{Reasons: []string{"SuccessfulCreate", "SuccessfulDelete", "Completed", "SawCompletedJob"},
		Category: CategoryOther, Severity: SeverityInfo, Why: "controller bookkeeping: a Job, CronJob or DaemonSet ran or completed its work"},

	// Message-only network rules come after every reason rule, so that a
	// probe or mount failure that says "connection refused" keeps its own
	// class. The texts are the log signatures' (internal/netfail), so a
	// failure is NETWORK in an event when it has a network signature in a log.
	{MessageAny: slices.Concat(netfail.Refused(), netfail.Unreachable(), netfail.DNS()),
		Category: CategoryNetwork, Severity: SeverityError,
		Why: "any event whose message reports a network failure: refused, unreachable, name resolution (the log signatures' texts)"},

	// Fallbacks: the table is total.
	{Type: "Warning", Category: CategoryOther, Severity: SeverityWarning, Why: "any other Warning event"},
	{Category: CategoryOther, Severity: SeverityInfo, Why: "any other event (Created, Started, ...)"},
}

// Rules returns a copy of the classification table, in evaluation order.
func Rules() []Rule { return slices.Clone(rules) }

// Classify returns the first rule of the table that matches an event about
// an object of kind. lowerMsg must be strings.ToLower(message); it is passed
// in so the caller lowers it once.
func Classify(kind, reason, typ, lowerMsg string) Rule {
	for i := range rules {
		if rules[i].matches(kind, reason, typ, lowerMsg) {
			return rules[i]
		}
	}
	// Unreachable: the last rule matches everything.
	return rules[len(rules)-1]
}

func (r *Rule) matches(kind, reason, typ, lowerMsg string) bool {
	if r.Type != "" && r.Type != typ {
		return false
	}
	if len(r.Reasons) > 0 && !slices.Contains(r.Reasons, reason) {
		return false
	}
	if len(r.Kinds) > 0 && !slices.Contains(r.Kinds, kind) {
		return false
	}
	if len(r.MessageAny) > 0 {
		found := false
		for _, s := range r.MessageAny {
			if strings.Contains(lowerMsg, s) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, s := range r.MessageAll {
		if !strings.Contains(lowerMsg, s) {
			return false
		}
	}
	return true
}
