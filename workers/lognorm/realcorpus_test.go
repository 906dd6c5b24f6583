package lognorm

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/kgrca/kgplane/internal/golden"
)

// realRefusals lists the real log records that must be dead-lettered: the
// text the error must contain and why SPEC.md / docs/normalization.md
// justify it. Every other record of the corpus must be accepted.
var realRefusals = map[string]struct{ err, why string }{
	"015": {"no kubernetes pod metadata",
		"Fluent Bit with only the kubernetes_namespace map: a normalized log names its pod (SPEC: namespace, pod, container); docs: Rejected"},
	"016": {"log record has no timestamp",
		"Fluent Bit's internal record, whose time is outside it: a normalized log has a timestamp (SPEC); docs: Rejected"},
}

// realExpectations are what the real records must normalize to, beyond
// being accepted (file base name → check).
var realExpectations = map[string]func(t *testing.T, l Log){
	// klog fatal lines ending in "connect: network is unreachable".
	"003": sigSev(SignatureNetworkUnreachable, SeverityCritical),
	"007": sigSev(SignatureNetworkUnreachable, SeverityCritical),
	"002": sigSev(SignatureTimeout, SeverityError), // klog E, i/o timeout
	"005": sigSev("", SeverityWarning),             // klog W
	"010": sigSev("", SeverityInfo),                // logfmt level=info
	"009": sigSev("", SeverityInfo),                // CoreDNS [INFO]
	// Vector: a JSON line's message field.
	"011": func(t *testing.T, l Log) {
		golden.Want(t, "message", l.Message, "3irbVba4Sf8qFC2i78UfjVzwUGzBu3m3AnbMbSTXkkyqTcAaLtuL6S39hAVfqx")
		golden.Want(t, "severity", l.Severity, SeverityInfo)
	},
	// Vector: message parsed into an object by a remap, read as JSON.
	"012": func(t *testing.T, l Log) {
		if !strings.HasPrefix(l.Message, `{"connection":{"cbct_freshness":183,`) || !strings.HasSuffix(l.Message, `"user":{"email":"xxx@xxx.com","id":"113312"}}`) {
			t.Errorf("message %q is not the object as compact JSON in its order", l.Message)
		}
		golden.Want(t, "pod", l.Pod, "twingate-passionate-wallaby-connector-65b6f7757c-nfhx4")
		golden.Want(t, "node", l.Node, "gke-no-autopilot-test-default-pool-a021ca6b-q4z2")
		golden.Want(t, "timestamp", l.Timestamp, "2023-09-15T12:03:47.692712516Z")
	},
	// Fluent Bit Merge_Log On, Keep_Log On: the log line.
	"013": func(t *testing.T, l Log) {
		golden.Want(t, "message", l.Message, `{"message_id": 1, "word": "eagers"}`)
	},
	// Fluent Bit Merge_Log On + Keep_Log Off: the app's fields are the record.
	"014": func(t *testing.T, l Log) {
		golden.Want(t, "message", l.Message, `{"message_id":1,"word":"eagers"}`)
		golden.Want(t, "severity", l.Severity, SeverityInfo)
		golden.Want(t, "pod", l.Pod, "json-logs-no-keep")
		golden.Want(t, "node", l.Node, "minikube")
		golden.Want(t, "pod_uid", l.PodUID, "5ac76e2f-17d2-11e8-b34e-080027749cbc")
		golden.Want(t, "timestamp", l.Timestamp, "2018-02-22T13:14:50.773975651Z")
	},
}

// TestRealCorpus normalizes every log record of ../shared/real-corpus/logs
// (real shippers' output; SOURCES.md there says where each comes from) with
// key uid u-<file number>: each is accepted unless realRefusals says why not,
// and the expectations above hold. Skipped, saying so, without the corpus.
func TestRealCorpus(t *testing.T) {
	expected := slices.Concat(slices.Collect(maps.Keys(realExpectations)), slices.Collect(maps.Keys(realRefusals)))
	golden.RunRealCorpus(t, "logs", expected, func(t *testing.T, name string, raw []byte) bool {
		l, err := NormalizeLog("u-"+name, raw)
		if r, ok := realRefusals[name]; ok {
			if err == nil || !strings.Contains(err.Error(), r.err) {
				t.Fatalf("error %v; want one containing %q (%s)", err, r.err, r.why)
			}
			return false
		}
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		if l.Namespace == "" || l.Pod == "" || l.Timestamp == "" {
			t.Errorf("namespace %q pod %q timestamp %q", l.Namespace, l.Pod, l.Timestamp)
		}
		if check := realExpectations[name]; check != nil {
			check(t, l)
		}
		return true
	})
}

func sigSev(sig Signature, sev Severity) func(*testing.T, Log) {
	return func(t *testing.T, l Log) {
		t.Helper()
		if l.Signature != sig || l.Severity != sev {
			t.Errorf("%q: signature %q severity %s, want %q %s", l.Message, l.Signature, l.Severity, sig, sev)
		}
	}
}
