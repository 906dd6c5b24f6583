package eventnorm

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/kgrca/kgplane/internal/golden"
)

// realRefusals lists the real events that must be dead-lettered, with the
// reason SPEC.md or docs/normalization.md gives; every other record of the
// corpus must be accepted. None today.
var realRefusals = map[string]string{}

// realExpectations are what the real records must normalize to, beyond
// being accepted (file base name → check).
var realExpectations = map[string]func(t *testing.T, ev Event){
	// A scheduler series repeat is dated when it was last observed.
	"023": func(t *testing.T, ev Event) {
		golden.Want(t, "timestamp", ev.Timestamp, "2023-07-11T04:40:44.264058Z")
		golden.Want(t, "first_timestamp", ev.FirstTimestamp, "2023-07-11T04:25:44.224298Z")
		golden.Want(t, "count", ev.Count, int32(3))
	},
	// A kind without a name: attached to its namespace.
	"044": func(t *testing.T, ev Event) {
		golden.Want(t, "object", ev.Object, Object{Kind: "Namespace", Name: "default"})
		golden.Want(t, "reason", ev.Reason, "LeaderElection")
	},
	// Classification by family.
	"022": class(CategoryCrash, SeverityError),                                        // BackoffLimitExceeded: a failed Job
	"021": class(CategoryOther, SeverityInfo),                                         // a Job's SuccessfulCreate is bookkeeping
	"008": class(CategoryScaling, SeverityInfo),                                       // a ReplicaSet's SuccessfulCreate is scaling
	"050": class(CategoryScaling, SeverityInfo),                                       // same, "(combined from similar events)"
	"031": class(CategoryNetwork, SeverityError),                                      // CIDRAssignmentFailed, type Normal
	"018": class(CategoryScheduling, SeverityInfo),                                    // "skip schedule deleting pod"
	"017": class(CategoryScheduling, SeverityWarning),                                 // a real scheduling failure
	"026": class(CategoryNode, SeverityWarning),                                       // InvalidDiskCapacity
	"013": class(CategoryImage, SeverityError),                                        // BackOff pulling image, type Normal
	"012": class(CategoryCrash, SeverityError),                                        // BackOff restarting failed container
	"011": class(CategoryCrash, SeverityWarning),                                      // Killing after a failed liveness probe
	"014": class(CategoryImage, SeverityError),                                        // Failed to pull image
	"024": class(CategoryCrash, SeverityError),                                        // Failed to start container
	"045": class(CategoryConfig, SeverityError),                                       // FailedMount: configmap not found
	"019": class(CategoryStorage, SeverityError),                                      // FailedMount: hostPath type check
	"029": class(CategoryNode, SeverityInfo),                                          // NodeReady
	"036": all(class(CategoryNetwork, SeverityInfo), nodeAndHost("", "primary-node")), // service-lb UpdatedLoadBalancer
	"047": class(CategoryOther, SeverityWarning),                                      // unknown Warning reason
	"048": func(t *testing.T, ev Event) { // trailing \r\n trimmed
		golden.Want(t, "message", ev.Message, "Readiness probe failed: cannot exec in a stopped state: unknown")
		golden.Want(t, "category", ev.Category, CategoryProbe)
	},
	// Node attribution: controllers' source.host is not their object's node.
	"032": nodeAndHost("", "primary-node"), // k3s deploy, Addon
	"035": nodeAndHost("", "primary-node"), // helm-controller, HelmChart
	// The kubelet, a Node object, the scheduler's message name it.
	"002": nodeAndHost("minikube", "minikube"),                                                     // kubelet source.host
	"053": nodeAndHost("cn-shanghai.i-uf63ve3kz84m20c5oeqq", "cn-shanghai.i-uf63ve3kz84m20c5oeqq"), // events.k8s.io deprecatedSource
	"030": nodeAndHost("primary-node", ""),                                                         // node-controller about a Node
	"028": nodeAndHost("primary-node", ""),                                                         // kube-proxy about a Node
	"001": nodeAndHost("minikube", ""),                                                             // Scheduled, eventTime only
	"041": nodeAndHost("ip-172-20-2-25.ec2.internal", ""),                                          // Scheduled
	"054": nodeAndHost("docker-desktop", ""),                                                       // Scheduled as an events.k8s.io note
	"055": nodeAndHost("test-pgd-control-plane", ""),                                               // same, deprecated* fields
}

// TestRealCorpus normalizes every event of ../shared/real-corpus/events (real
// clusters' records; SOURCES.md there says where each comes from) with key
// uid u-<file number>: each is accepted unless realRefusals says why not, and
// the expectations above hold. Skipped, saying so, without the corpus.
func TestRealCorpus(t *testing.T) {
	expected := slices.Concat(slices.Collect(maps.Keys(realExpectations)), slices.Collect(maps.Keys(realRefusals)))
	golden.RunRealCorpus(t, "events", expected, func(t *testing.T, name string, raw []byte) bool {
		ev, err := NormalizeEvent("u-"+name, raw)
		if reason, ok := realRefusals[name]; ok {
			if err == nil {
				t.Fatalf("accepted; want refused (%s)", reason)
			}
			return false
		}
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		checkNode(t, ev)
		if ev.FirstTimestamp > ev.Timestamp {
			t.Errorf("first_timestamp %s after timestamp %s", ev.FirstTimestamp, ev.Timestamp)
		}
		if check := realExpectations[name]; check != nil {
			check(t, ev)
		}
		return true
	})
}

// checkNode: a node comes only from a Node object, a reporter on the node
// (kubelet, node-problem-detector) or the scheduler's message.
func checkNode(t *testing.T, ev Event) {
	t.Helper()
	switch {
	case ev.Node == "":
	case ev.Object.Kind == "Node":
		golden.Want(t, "node of a Node event", ev.Node, ev.Object.Name)
	case isNodeReporter(ev.Source.Component):
		golden.Want(t, "node of a node reporter's event", ev.Node, ev.Source.Host)
	case ev.Reason == "Scheduled" || ev.Reason == "Preempted":
		if !strings.Contains(ev.Message, " "+ev.Node) {
			t.Errorf("node %q is not in the scheduler's message %q", ev.Node, ev.Message)
		}
	default:
		t.Errorf("node %q from reporter %q about a %s: nothing names a node", ev.Node, ev.Source.Component, ev.Object.Kind)
	}
}

func class(c Category, s Severity) func(*testing.T, Event) {
	return func(t *testing.T, ev Event) {
		t.Helper()
		if ev.Category != c || ev.Severity != s {
			t.Errorf("%s %q classified %s/%s, want %s/%s", ev.Reason, ev.Message, ev.Category, ev.Severity, c, s)
		}
	}
}

func all(checks ...func(*testing.T, Event)) func(*testing.T, Event) {
	return func(t *testing.T, ev Event) {
		t.Helper()
		for _, c := range checks {
			c(t, ev)
		}
	}
}

func nodeAndHost(node, host string) func(*testing.T, Event) {
	return func(t *testing.T, ev Event) {
		t.Helper()
		golden.Want(t, "node", ev.Node, node)
		golden.Want(t, "source.host", ev.Source.Host, host)
	}
}
