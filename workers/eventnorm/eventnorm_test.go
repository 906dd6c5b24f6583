package eventnorm

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kgrca/kgplane/internal/netfail"
)

// coreEvent builds a core/v1 event; fields maps top-level keys to raw JSON
// values that replace (or, with "", remove) the defaults.
func coreEvent(t testing.TB, fields map[string]string) []byte {
	t.Helper()
	base := map[string]string{
		"apiVersion":     `"v1"`,
		"kind":           `"Event"`,
		"metadata":       `{"name":"web-1.17f","namespace":"shop","uid":"u-1","creationTimestamp":"2026-11-20T09:00:00Z"}`,
		"involvedObject": `{"kind":"Pod","namespace":"shop","name":"web-1","uid":"p-1"}`,
		"reason":         `"BackOff"`,
		"message":        `"Back-off restarting failed container app"`,
		"type":           `"Warning"`,
		"source":         `{"component":"kubelet","host":"node-1"}`,
		"firstTimestamp": `"2026-11-20T10:00:00Z"`,
		"lastTimestamp":  `"2026-11-20T10:05:00Z"`,
		"count":          `3`,
		"eventTime":      `null`,
	}
	for k, v := range fields {
		if v == "" {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	first := true
	// Fixed key order keeps the raw bytes stable across runs.
	for _, k := range []string{"apiVersion", "kind", "metadata", "involvedObject", "regarding", "reason", "message", "note",
		"type", "source", "deprecatedSource", "firstTimestamp", "lastTimestamp", "deprecatedFirstTimestamp",
		"deprecatedLastTimestamp", "count", "deprecatedCount", "eventTime", "series", "reportingComponent",
		"reportingController", "reportingInstance"} {
		v, ok := base[k]
		if !ok {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(`"` + k + `":` + v)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

func mustNormalize(t *testing.T, keyID string, raw []byte) Event {
	t.Helper()
	ev, err := NormalizeEvent(keyID, raw)
	if err != nil {
		t.Fatalf("NormalizeEvent: %v\ninput: %s", err, raw)
	}
	return ev
}

func TestTimestampFallbackChain(t *testing.T) {
	tests := []struct {
		name      string
		fields    map[string]string
		wantTS    string
		wantFirst string
	}{
		// A series repeat is dated when it was last observed, not at the
		// series' first observation (eventTime).
		{"series.lastObservedTime wins over eventTime", map[string]string{"eventTime": `"2026-11-20T10:07:00.000001Z"`,
			"series": `{"count":2,"lastObservedTime":"2026-11-20T10:08:00Z"}`},
			"2026-11-20T10:08:00Z", "2026-11-20T10:00:00Z"},
		{"events.k8s.io series: first is eventTime", map[string]string{"firstTimestamp": "", "lastTimestamp": "",
			"eventTime": `"2026-11-20T10:07:00.000001Z"`, "series": `{"count":2,"lastObservedTime":"2026-11-20T10:08:00Z"}`},
			"2026-11-20T10:08:00Z", "2026-11-20T10:07:00.000001Z"},
		{"series.lastObservedTime when eventTime is null", map[string]string{
			"series": `{"count":2,"lastObservedTime":"2026-11-20T10:08:00Z"}`},
			"2026-11-20T10:08:00Z", "2026-11-20T10:00:00Z"},
		{"lastTimestamp", nil, "2026-11-20T10:05:00Z", "2026-11-20T10:00:00Z"},
		{"lastTimestamp wins over eventTime", map[string]string{"eventTime": `"2026-11-20T10:07:00Z"`},
			"2026-11-20T10:05:00Z", "2026-11-20T10:00:00Z"},
		{"eventTime before firstTimestamp", map[string]string{"lastTimestamp": "", "eventTime": `"2026-11-20T10:07:00Z"`},
			"2026-11-20T10:07:00Z", "2026-11-20T10:00:00Z"},
		{"deprecatedLastTimestamp", map[string]string{"lastTimestamp": "", "firstTimestamp": "",
			"deprecatedLastTimestamp": `"2026-11-20T10:04:00Z"`, "deprecatedFirstTimestamp": `"2026-11-20T10:01:00Z"`},
			"2026-11-20T10:04:00Z", "2026-11-20T10:01:00Z"},
		{"firstTimestamp", map[string]string{"lastTimestamp": ""}, "2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z"},
		{"creationTimestamp", map[string]string{"lastTimestamp": "", "firstTimestamp": ""},
			"2026-11-20T09:00:00Z", "2026-11-20T09:00:00Z"},
		{"zero time counts as absent", map[string]string{"lastTimestamp": `"0001-01-01T00:00:00Z"`},
			"2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z"},
		{"offset converted to UTC", map[string]string{"lastTimestamp": `"2026-11-20T12:05:00+02:00"`},
			"2026-11-20T10:05:00Z", "2026-11-20T10:00:00Z"},
		{"first falls back to eventTime", map[string]string{"firstTimestamp": "", "lastTimestamp": "",
			"eventTime": `"2026-11-20T10:07:00Z"`}, "2026-11-20T10:07:00Z", "2026-11-20T10:07:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := mustNormalize(t, "k", coreEvent(t, tt.fields))
			if ev.Timestamp != tt.wantTS || ev.FirstTimestamp != tt.wantFirst {
				t.Errorf("timestamp, first = %s, %s; want %s, %s", ev.Timestamp, ev.FirstTimestamp, tt.wantTS, tt.wantFirst)
			}
		})
	}
}

func TestEventIDDeterminism(t *testing.T) {
	raw := coreEvent(t, nil)
	id1, out1, err := Normalize("k", raw)
	if err != nil {
		t.Fatal(err)
	}
	id2, out2, err := Normalize("k", raw)
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 || !bytes.Equal(out1, out2) {
		t.Fatalf("redelivery differs: %s %s\n%s\n%s", id1, id2, out1, out2)
	}
	if !strings.HasPrefix(id1, "evt-") || len(id1) != len("evt-")+16 {
		t.Fatalf("id %q is not evt- + 16 hex", id1)
	}
	if id1 != EventID("u-1", 3) {
		t.Fatalf("id %s != EventID(u-1, 3) %s", id1, EventID("u-1", 3))
	}

	// Same uid, another occurrence: another event.
	id3, _, _ := Normalize("k", coreEvent(t, map[string]string{"count": "4"}))
	if id3 == id1 {
		t.Fatalf("count 3 and 4 share id %s", id1)
	}
	// Same uid and count, different message/time (the API server updated the
	// object in place): still the same occurrence.
	id4, _, _ := Normalize("k", coreEvent(t, map[string]string{"message": `"changed"`}))
	if id4 != id1 {
		t.Fatalf("same uid+count gave %s and %s", id1, id4)
	}
	// Another uid, same count: another event.
	id5, _, _ := Normalize("k", coreEvent(t, map[string]string{"metadata": `{"uid":"u-2"}`}))
	if id5 == id1 {
		t.Fatalf("uids u-1 and u-2 share id %s", id1)
	}
	// The key uid stands in for a missing metadata.uid.
	id6, _, _ := Normalize("u-1", coreEvent(t, map[string]string{"metadata": `{"name":"x"}`}))
	if id6 != id1 {
		t.Fatalf("key uid fallback gave %s, want %s", id6, id1)
	}
	// series.count is the occurrence count of an events.k8s.io series.
	id7, _, _ := Normalize("k", coreEvent(t, map[string]string{"count": "", "series": `{"count":3,"lastObservedTime":"2026-11-20T10:08:00Z"}`}))
	if id7 != id1 {
		t.Fatalf("series.count 3 gave %s, count 3 gave %s", id7, id1)
	}
}

func TestClassification(t *testing.T) {
	tests := []struct {
		reason, typ, msg string
		cat              Category
		sev              Severity
		kind             string // "" = Pod
	}{
		{"OOMKilled", "Warning", "Container app was OOMKilled", CategoryOOM, SeverityCritical, ""},
		{"OOMKilling", "Warning", "Memory cgroup out of memory: Killed process 1 (java)", CategoryOOM, SeverityCritical, ""},
		{"Failed", "Warning", "Container exited: OOMKilled", CategoryOOM, SeverityCritical, ""},
		{"BackOff", "Warning", "Back-off restarting failed container app", CategoryCrash, SeverityError, ""},
		{"CrashLoopBackOff", "Warning", "", CategoryCrash, SeverityError, ""},
		{"BackOff", "Normal", `Back-off pulling image "x"`, CategoryImage, SeverityError, ""},
		{"Failed", "Warning", `Failed to pull image "x": not found`, CategoryImage, SeverityError, ""},
		{"Failed", "Warning", "Error: ErrImagePull", CategoryImage, SeverityError, ""},
		{"Failed", "Warning", "Error: ImagePullBackOff", CategoryImage, SeverityError, ""},
		{"ErrImagePull", "Warning", "", CategoryImage, SeverityError, ""},
		{"ImagePullBackOff", "Warning", "", CategoryImage, SeverityError, ""},
		{"InspectFailed", "Warning", "", CategoryImage, SeverityError, ""},
		{"ErrImageNeverPull", "Warning", "", CategoryImage, SeverityError, ""},
		{"Failed", "Warning", "Error: failed to start container: exec: permission denied", CategoryCrash, SeverityError, ""},
		{"Failed", "Warning", `Error: secret "db" not found`, CategoryConfig, SeverityError, ""},
		{"Failed", "Warning", `Error: configmap "cfg" not found`, CategoryConfig, SeverityError, ""},
		{"Failed", "Warning", "Error: couldn't find key PASSWORD in Secret shop/db", CategoryConfig, SeverityError, ""},
		{"CreateContainerConfigError", "Warning", "", CategoryConfig, SeverityError, ""},
		{"FailedCreate", "Warning", `Error creating: secret "tok" not found`, CategoryConfig, SeverityError, ""},
		{"FailedCreate", "Warning", "Error creating: exceeded quota: compute", CategoryScaling, SeverityWarning, ""},
		{"FailedScheduling", "Warning", "0/3 nodes are available", CategoryScheduling, SeverityWarning, ""},
		{"Scheduled", "Normal", "Successfully assigned a/b to n", CategoryScheduling, SeverityInfo, ""},
		{"FailedMount", "Warning", `MountVolume.SetUp failed for volume "v" : configmap "c" not found`, CategoryConfig, SeverityError, ""},
		{"FailedMount", "Warning", "mount.nfs: Connection refused", CategoryStorage, SeverityError, ""},
		{"FailedAttachVolume", "Warning", "", CategoryStorage, SeverityError, ""},
		{"FailedMapVolume", "Warning", "", CategoryStorage, SeverityError, ""},
		{"VolumeResizeFailed", "Warning", "", CategoryStorage, SeverityError, ""},
		{"Unhealthy", "Warning", "Readiness probe failed: connect: connection refused", CategoryProbe, SeverityWarning, ""},
		{"Unhealthy", "Warning", "Liveness probe failed: HTTP probe failed with statuscode: 500", CategoryProbe, SeverityError, ""},
		{"Unhealthy", "Warning", "Startup probe failed: timeout", CategoryProbe, SeverityError, ""},
		{"Evicted", "Warning", "The node was low on resource: memory.", CategoryNode, SeverityError, ""},
		{"Evicting", "Normal", "", CategoryNode, SeverityError, ""},
		{"NodeNotReady", "Normal", "Node n status is now: NodeNotReady", CategoryNode, SeverityCritical, ""},
		{"NodeHasDiskPressure", "Normal", "", CategoryNode, SeverityError, ""},
		{"NodeHasInsufficientMemory", "Normal", "Node n status is now: NodeHasInsufficientMemory", CategoryNode, SeverityError, "Node"},
		{"NodeHasInsufficientPID", "Normal", "", CategoryNode, SeverityError, "Node"},
		{"InvalidDiskCapacity", "Warning", "invalid capacity 0 on image filesystem", CategoryNode, SeverityWarning, "Node"},
		{"KernelOops", "Warning", "kernel: BUG: unable to handle kernel NULL pointer dereference at 0000000000000000", CategoryNode, SeverityError, "Node"},
		{"TaskHung", "Warning", "task java:1234 blocked for more than 120 seconds.", CategoryNode, SeverityError, "Node"},
		{"FilesystemIsReadOnly", "Warning", "Remounting filesystem read-only", CategoryNode, SeverityError, "Node"},
		{"ContainerdUnhealthy", "Warning", "", CategoryNode, SeverityError, "Node"},
		{"KubeletStart", "Normal", "Started Kubernetes kubelet.", CategoryNode, SeverityInfo, "Node"},
		// Job failures are the Job's pods failing.
		{"BackoffLimitExceeded", "Warning", "Job has reached the specified backoff limit", CategoryCrash, SeverityError, "Job"},
		{"DeadlineExceeded", "Warning", "Job was active longer than specified deadline", CategoryCrash, SeverityError, "Job"},
		{"PodFailurePolicy", "Warning", "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 0", CategoryCrash, SeverityError, "Job"},
		{"MaxFailedIndexesExceeded", "Warning", "Job has exceeded the specified maximal number of failed indexes", CategoryCrash, SeverityError, "Job"},
		{"DeadlineExceeded", "Warning", "Pod was active on the node longer than the specified deadline", CategoryCrash, SeverityError, ""},
		// Node network setup, Normal in older releases.
		{"CIDRAssignmentFailed", "Normal", "Node n status is now: CIDRAssignmentFailed", CategoryNetwork, SeverityError, "Node"},
		{"CIDRNotAvailable", "Normal", "Node n status is now: CIDRNotAvailable", CategoryNetwork, SeverityError, "Node"},
		{"FailedToCreateRoute", "Warning", "Could not create route", CategoryNetwork, SeverityError, "Node"},
		{"UnAvailableLoadBalancer", "Warning", "There are no available nodes for LoadBalancer", CategoryNetwork, SeverityError, "Service"},
		{"UpdatedLoadBalancer", "Normal", "Updated LoadBalancer with new IPs: [] -> [172.17.0.2]", CategoryNetwork, SeverityInfo, "Service"},
		{"EnsuredLoadBalancer", "Normal", "Ensured load balancer", CategoryNetwork, SeverityInfo, "Service"},
		// Controller bookkeeping: the reason alone does not say scaling.
		{"SuccessfulCreate", "Normal", "Created pod: web-1-abcde", CategoryScaling, SeverityInfo, "ReplicaSet"},
		{"SuccessfulDelete", "Normal", "Deleted pod: web-1-abcde", CategoryScaling, SeverityInfo, "ReplicaSet"},
		{"SuccessfulCreate", "Normal", "create Pod db-0 in StatefulSet db successful", CategoryScaling, SeverityInfo, "StatefulSet"},
		{"SuccessfulCreate", "Normal", "Created pod: oom-kill-job3-gbb89", CategoryOther, SeverityInfo, "Job"},
		{"SuccessfulCreate", "Normal", "Created job backup-28930", CategoryOther, SeverityInfo, "CronJob"},
		{"SuccessfulCreate", "Normal", "Created pod: fluent-bit-x7k2p", CategoryOther, SeverityInfo, "DaemonSet"},
		{"SawCompletedJob", "Normal", "Saw completed job: backup-28930, status: Complete", CategoryOther, SeverityInfo, "CronJob"},
		{"Completed", "Normal", "Job completed", CategoryOther, SeverityInfo, "Job"},
		// The scheduler skipping a pod that is being deleted is no failure.
		{"FailedScheduling", "Warning", "skip schedule deleting pod: default/web-1", CategoryScheduling, SeverityInfo, ""},
		{"Rebooted", "Warning", "", CategoryNode, SeverityError, ""},
		{"NodeNotSchedulable", "Normal", "", CategoryNode, SeverityError, ""},
		{"NodeReady", "Normal", "", CategoryNode, SeverityInfo, ""},
		{"Killing", "Normal", "Container app failed liveness probe, will be restarted", CategoryCrash, SeverityWarning, ""},
		{"Killing", "Normal", "Stopping container app", CategoryOther, SeverityInfo, ""},
		{"DNSConfigForming", "Warning", "Nameserver limits were exceeded", CategoryNetwork, SeverityWarning, ""},
		{"NetworkNotReady", "Warning", "", CategoryNetwork, SeverityError, ""},
		{"FailedCreatePodSandBox", "Warning", "failed to setup network for sandbox: plugin type=calico", CategoryNetwork, SeverityError, ""},
		{"FailedCreatePodSandBox", "Warning", "failed to create containerd task", CategoryCrash, SeverityError, ""},
		{"FailedSync", "Warning", "dial tcp 10.0.0.1:443: connect: connection refused", CategoryNetwork, SeverityError, ""},
		{"FailedSync", "Warning", "dial tcp: connect: no route to host", CategoryNetwork, SeverityError, ""},
		{"ScalingReplicaSet", "Normal", "Scaled up replica set web-1 to 3", CategoryScaling, SeverityInfo, ""},
		{"SuccessfulRescale", "Normal", "New size: 5", CategoryScaling, SeverityInfo, ""},
		{"FailedGetScale", "Warning", "", CategoryScaling, SeverityWarning, ""},
		{"Pulled", "Normal", "", CategoryImage, SeverityInfo, ""},
		{"Created", "Normal", "", CategoryOther, SeverityInfo, ""},
		{"Started", "Normal", "", CategoryOther, SeverityInfo, ""},
		{"SomethingNew", "Warning", "", CategoryOther, SeverityWarning, ""},
		{"SomethingNew", "Normal", "", CategoryOther, SeverityInfo, ""},
	}
	for _, tt := range tests {
		kind := tt.kind
		if kind == "" {
			kind = "Pod"
		}
		t.Run(kind+"/"+tt.reason+"/"+tt.msg, func(t *testing.T) {
			r := Classify(kind, tt.reason, tt.typ, strings.ToLower(tt.msg))
			if r.Category != tt.cat || r.Severity != tt.sev {
				t.Errorf("Classify(%q, %q, %q, %q) = %s/%s (%s), want %s/%s", kind, tt.reason, tt.typ, tt.msg, r.Category, r.Severity, r.Why, tt.cat, tt.sev)
			}
		})
	}
}

// TestNetworkFailuresAsLogsSeeThem: every text a log signature reads as a
// network failure (DNS, refused, unreachable) makes an event of an
// otherwise unclassified reason NETWORK, Normal or Warning.
func TestNetworkFailuresAsLogsSeeThem(t *testing.T) {
	for _, p := range slices.Concat(netfail.DNS(), netfail.Refused(), netfail.Unreachable()) {
		for _, typ := range []string{"Normal", "Warning"} {
			msg := "sync failed: dial tcp 10.0.0.1:443: " + strings.ToUpper(p)
			if r := Classify("Pod", "FailedSync", typ, strings.ToLower(msg)); r.Category != CategoryNetwork {
				t.Errorf("%s event %q is %s/%s (%s), want NETWORK", typ, msg, r.Category, r.Severity, r.Why)
			}
		}
	}
}

// TestRulesTable checks the table's own invariants: total, valid values,
// and a copy handed out.
func TestRulesTable(t *testing.T) {
	rs := Rules()
	last := rs[len(rs)-1]
	if len(last.Reasons) != 0 || len(last.Kinds) != 0 || last.Type != "" || len(last.MessageAny) != 0 || len(last.MessageAll) != 0 {
		t.Fatalf("last rule %+v is not a catch-all", last)
	}
	valid := map[Category]bool{CategoryOOM: true, CategoryCrash: true, CategoryImage: true, CategoryScheduling: true,
		CategoryStorage: true, CategoryNetwork: true, CategoryProbe: true, CategoryNode: true, CategoryConfig: true,
		CategoryScaling: true, CategoryOther: true}
	for i, r := range rs {
		if !valid[r.Category] {
			t.Errorf("rule %d has category %q", i, r.Category)
		}
		switch r.Severity {
		case SeverityInfo, SeverityWarning, SeverityError, SeverityCritical:
		default:
			t.Errorf("rule %d has severity %q", i, r.Severity)
		}
		if r.Why == "" {
			t.Errorf("rule %d has no Why", i)
		}
		for _, s := range append(append([]string{}, r.MessageAny...), r.MessageAll...) {
			if s != strings.ToLower(s) {
				t.Errorf("rule %d message pattern %q is not lower case (messages are lowered)", i, s)
			}
		}
	}
	rs[0].Category = "MUTATED"
	if Rules()[0].Category == "MUTATED" {
		t.Fatal("Rules() exposes the table itself")
	}
}

func TestNodeAndSource(t *testing.T) {
	tests := []struct {
		name     string
		fields   map[string]string
		node     string
		src      Source
		objectNS string
	}{
		{"source.host", nil, "node-1", Source{"kubelet", "node-1"}, "shop"},
		{"Node object", map[string]string{"involvedObject": `{"kind":"Node","name":"node-9","uid":"node-9"}`,
			"source": `{"component":"node-controller"}`}, "node-9", Source{"node-controller", ""}, ""},
		{"deprecatedSource.host", map[string]string{"source": "", "deprecatedSource": `{"component":"kubelet","host":"node-2"}`},
			"node-2", Source{"kubelet", "node-2"}, "shop"},
		{"kubelet reportingInstance", map[string]string{"source": "", "reportingController": `"kubelet"`, "reportingInstance": `"node-3"`},
			"node-3", Source{"kubelet", "node-3"}, "shop"},
		{"controller reportingInstance is not a node", map[string]string{"source": "",
			"reportingController": `"deployment-controller"`, "reportingInstance": `"kcm-abc"`},
			"", Source{"deployment-controller", ""}, "shop"},
		{"scheduler assignment", map[string]string{"source": `{"component":"default-scheduler"}`, "reason": `"Scheduled"`,
			"type": `"Normal"`, "message": `"Successfully assigned shop/web-1 to node-7"`}, "node-7", Source{"default-scheduler", ""}, "shop"},
		{"scheduler assignment as events.k8s.io note", map[string]string{"source": "", "message": "", "reason": `"Scheduled"`,
			"reportingController": `"default-scheduler"`, "reportingInstance": `"default-scheduler-cp-1"`,
			"note": `"Successfully assigned shop/web-1 to node-7"`}, "node-7", Source{"default-scheduler", ""}, "shop"},
		{"scheduler assignment with spaces is not a node", map[string]string{"source": `{"component":"default-scheduler"}`, "reason": `"Scheduled"`,
			"message": `"Successfully assigned shop/web-1 to the best node"`}, "", Source{"default-scheduler", ""}, "shop"},
		{"preemption victim's node", map[string]string{"source": `{"component":"default-scheduler"}`, "reason": `"Preempted"`,
			"message": `"Preempted by shop/batch-1 on node node-4"`}, "node-4", Source{"default-scheduler", ""}, "shop"},
		{"preemption, pod uid form", map[string]string{"source": `{"component":"default-scheduler"}`, "reason": `"Preempted"`,
			"message": `"Preempted by pod 2f1c on node node-4 (in kube-scheduler memory)."`}, "node-4", Source{"default-scheduler", ""}, "shop"},
		{"node-problem-detector monitor", map[string]string{"source": `{"component":"kernel-monitor","host":"node-5"}`},
			"node-5", Source{"kernel-monitor", "node-5"}, "shop"},
		{"npd custom plugin monitor", map[string]string{"source": `{"component":"ntp-custom-plugin-monitor","host":"node-5"}`},
			"node-5", Source{"ntp-custom-plugin-monitor", "node-5"}, "shop"},
		{"kg-agent status event names the pod's node", map[string]string{"source": `{"component":"kg-agent","host":"node-6"}`, "reason": `"OOMKilled"`},
			"node-6", Source{"kg-agent", "node-6"}, "shop"},
		// Controllers set source.host to the host they run on; their objects
		// do not run there (k3s deploy, helm-controller, service-lb).
		{"k3s deploy controller's host is not the object's node", map[string]string{
			"involvedObject": `{"kind":"Addon","namespace":"kube-system","name":"coredns"}`, "reason": `"ApplyingManifest"`,
			"source": `{"component":"deploy","host":"server-0"}`}, "", Source{"deploy", "server-0"}, "kube-system"},
		{"service-lb controller's host is not the Service's node", map[string]string{
			"involvedObject": `{"kind":"Service","namespace":"kube-system","name":"traefik"}`, "reason": `"UpdatedLoadBalancer"`,
			"source": `{"component":"service-lb-controller","host":"server-0"}`}, "", Source{"service-lb-controller", "server-0"}, "kube-system"},
		{"controller's host on a pod is not the pod's node", map[string]string{"source": `{"component":"some-operator","host":"node-8"}`},
			"", Source{"some-operator", "node-8"}, "shop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := mustNormalize(t, "k", coreEvent(t, tt.fields))
			if ev.Node != tt.node || ev.Source != tt.src || ev.Object.Namespace != tt.objectNS {
				t.Errorf("node %q source %+v ns %q; want %q %+v %q", ev.Node, ev.Source, ev.Object.Namespace, tt.node, tt.src, tt.objectNS)
			}
		})
	}
}

// TestNamelessObject: an object reference with a kind and no name (client-go
// leader election on an empty lock reference) is attached to the namespace
// the event was recorded in.
func TestNamelessObject(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		want   Object
	}{
		{"event's namespace", map[string]string{"involvedObject": `{"kind":"Endpoints","apiVersion":"v1"}`,
			"metadata": `{"name":".17a3ba8b4aa36c81","namespace":"kube-system","uid":"u-1"}`},
			Object{Kind: "Namespace", Name: "kube-system"}},
		{"object's namespace first", map[string]string{"involvedObject": `{"kind":"Lease","namespace":"infra"}`,
			"metadata": `{"namespace":"default","uid":"u-1"}`}, Object{Kind: "Namespace", Name: "infra"}},
		{"default when none is given", map[string]string{"involvedObject": `{"kind":"Endpoints"}`,
			"metadata": `{"uid":"u-1"}`}, Object{Kind: "Namespace", Name: "default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := mustNormalize(t, "k", coreEvent(t, tt.fields))
			if ev.Object != tt.want {
				t.Errorf("object %+v, want %+v", ev.Object, tt.want)
			}
		})
	}
}

func TestMessageLineBreakTrimmed(t *testing.T) {
	for _, msg := range []string{`"probe failed: unknown\r\n"`, `"probe failed: unknown\n"`, `"probe failed: unknown\r\n\r\n"`} {
		ev := mustNormalize(t, "k", coreEvent(t, map[string]string{"message": msg}))
		if ev.Message != "probe failed: unknown" {
			t.Errorf("message %s became %q", msg, ev.Message)
		}
	}
	// Inner line breaks and other trailing space stay.
	ev := mustNormalize(t, "k", coreEvent(t, map[string]string{"message": `"a\r\nb "`}))
	if ev.Message != "a\r\nb " {
		t.Errorf("message became %q", ev.Message)
	}
}

func TestEventsV1(t *testing.T) {
	raw := []byte(`{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"uid":"s-1"},
		"eventTime":"2026-11-20T10:00:00.000000Z","series":{"count":5,"lastObservedTime":"2026-11-20T10:04:00Z"},
		"reportingController":"default-scheduler","reportingInstance":"default-scheduler-cp-1","action":"Scheduling",
		"reason":"FailedScheduling","regarding":{"kind":"Pod","namespace":"shop","name":"web-1","uid":"p-1"},
		"note":"0/3 nodes are available: 3 Insufficient cpu.","type":"Warning"}`)
	ev := mustNormalize(t, "k", raw)
	// The fifth occurrence is dated when it was last observed; the series
	// began at eventTime.
	want := Event{EventID: EventID("s-1", 5), Timestamp: "2026-11-20T10:04:00Z", FirstTimestamp: "2026-11-20T10:00:00Z",
		Count: 5, Reason: "FailedScheduling", Message: "0/3 nodes are available: 3 Insufficient cpu.", Type: "Warning",
		Severity: SeverityWarning, Category: CategoryScheduling, Object: Object{"Pod", "shop", "web-1", "p-1"},
		Source: Source{Component: "default-scheduler"}}
	if ev != want {
		t.Fatalf("got  %+v\nwant %+v", ev, want)
	}
}

func TestBadInputs(t *testing.T) {
	huge := append([]byte(`{"reason":"`), bytes.Repeat([]byte("x"), MaxInputBytes)...)
	huge = append(huge, `"}`...)
	tests := []struct {
		name    string
		raw     []byte
		wantErr string
	}{
		{"empty", nil, "event is empty"},
		{"blank", []byte("  \n"), "event is empty"},
		{"invalid JSON", []byte(`{"reason": "BackOff",}`), "invalid JSON at offset 22"},
		{"truncated JSON", []byte(`{"reason": "Back`), "invalid JSON at offset"},
		{"garbage", []byte(`<html>`), "invalid JSON at offset 1"},
		{"JSON array", []byte(`[{"reason":"BackOff"}]`), "event must be a JSON object, got array"},
		{"JSON null", []byte(`null`), "event must be a JSON object, got null"},
		{"JSON string", []byte(`"BackOff"`), "event must be a JSON object, got string"},
		{"JSON number", []byte(`42`), "event must be a JSON object, got number"},
		{"trailing data", append(coreEvent(t, nil), " {}"...), "invalid JSON at offset"},
		{"missing object", coreEvent(t, map[string]string{"involvedObject": ""}), "event has neither involvedObject nor regarding"},
		{"object without kind", coreEvent(t, map[string]string{"involvedObject": `{"name":"web-1"}`}), "event's involvedObject has no kind"},
		{"empty object", coreEvent(t, map[string]string{"involvedObject": `{}`}), "event's involvedObject has no kind"},
		{"object not an object", coreEvent(t, map[string]string{"involvedObject": `"web-1"`}), "field involvedObject must be an object, got JSON string"},
		{"nested wrong type", coreEvent(t, map[string]string{"involvedObject": `{"kind":5,"name":"web-1"}`}), "field involvedObject.kind must be a string, got JSON number (offset "},
		{"missing reason", coreEvent(t, map[string]string{"reason": ""}), "event has no reason"},
		{"count as string", coreEvent(t, map[string]string{"count": `"3"`}), "field count must be an integer (int32), got JSON string"},
		{"count overflows int32", coreEvent(t, map[string]string{"count": `4294967296`}), "field count must be an integer (int32), got JSON number 4294967296"},
		{"count fractional", coreEvent(t, map[string]string{"count": `1.5`}), "field count must be an integer (int32), got JSON number 1.5"},
		{"negative count", coreEvent(t, map[string]string{"count": `-1`}), "event count must not be negative, got -1"},
		{"reason as number", coreEvent(t, map[string]string{"reason": `7`}), "field reason must be a string, got JSON number"},
		{"bad type", coreEvent(t, map[string]string{"type": `"Error"`}), `event type must be Normal or Warning, got "Error"`},
		{"bad timestamp", coreEvent(t, map[string]string{"lastTimestamp": `"yesterday"`}), `event lastTimestamp is not an RFC 3339 time: "yesterday"`},
		{"no timestamp", coreEvent(t, map[string]string{"lastTimestamp": "", "firstTimestamp": "", "metadata": `{"uid":"u"}`}), "event has no timestamp"},
		{"no uid anywhere", coreEvent(t, map[string]string{"metadata": `{"name":"x"}`}), "event has no metadata.uid and its Kafka key has no uid"},
		{"huge", huge, "event is 1048589 bytes, over the 1048576-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keyID := "k"
			if tt.name == "no uid anywhere" {
				keyID = ""
			}
			id, out, err := Normalize(keyID, tt.raw)
			if err == nil {
				t.Fatalf("want error containing %q, got id %s output %s", tt.wantErr, id, out)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tt.wantErr)
			}
			if id != "" || out != nil {
				t.Fatalf("error with output: %q %s", id, out)
			}
		})
	}
}

func TestMessageTruncation(t *testing.T) {
	// 4095 ASCII bytes then a 3-byte rune straddling the 4096 limit.
	msg := strings.Repeat("a", MaxMessageBytes-1) + "€" + strings.Repeat("b", 100)
	m, _ := json.Marshal(msg)
	ev := mustNormalize(t, "k", coreEvent(t, map[string]string{"message": string(m)}))
	want := strings.Repeat("a", MaxMessageBytes-1) + "…[truncated 103 bytes]"
	if ev.Message != want {
		t.Fatalf("message ends %q, want %q", ev.Message[len(ev.Message)-40:], want[len(want)-40:])
	}
	if !utf8.ValidString(ev.Message) {
		t.Fatal("truncated message is not valid UTF-8")
	}
}

func TestOutputIsCompactFixedOrder(t *testing.T) {
	_, out, err := Normalize("k", coreEvent(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event_id":"` + EventID("u-1", 3) + `","timestamp":"2026-11-20T10:05:00Z","first_timestamp":"2026-11-20T10:00:00Z",` +
		`"count":3,"reason":"BackOff","message":"Back-off restarting failed container app","type":"Warning","severity":"ERROR",` +
		`"category":"CRASH","object":{"kind":"Pod","namespace":"shop","name":"web-1","uid":"p-1"},` +
		`"source":{"component":"kubelet","host":"node-1"},"node":"node-1"}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
}

// TestKeyMatching: members match their field as encoding/json matches them,
// exactly first, else without regard to case; the last duplicate wins.
func TestKeyMatching(t *testing.T) {
	tests := []struct {
		name, raw, wantReason string
	}{
		{"exact", `{"reason":"BackOff"}`, "BackOff"},
		{"other case", `{"Reason":"BackOff"}`, "BackOff"},
		{"last duplicate wins", `{"reason":"A","reason":"B"}`, "B"},
		{"folded duplicate after exact", `{"reason":"A","REASON":"B"}`, "B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in rawEvent
			if err := decodeEvent([]byte(tt.raw), &in); err != nil {
				t.Fatal(err)
			}
			if in.Reason != tt.wantReason {
				t.Fatalf("reason %q, want %q", in.Reason, tt.wantReason)
			}
		})
	}
}
