package graph

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

func TestDecodeEvent(t *testing.T) {
	e := ev{name: "e1", at: 3 * time.Second, reason: "Failed", message: "Error: ErrImagePull", kind: "Pod",
		namespace: "shop", objName: "web-1", host: "node-7", count: 4}
	d, err := decode("acme", DefaultTopics(), e.record("acme"))
	if err != nil {
		t.Fatal(err)
	}
	got := *d.event
	want := eventRow{EID: e.id(), Source: SourceK8s, Reason: "Failed", Signal: "ErrImagePull", Type: "Warning", Severity: "WARNING",
		Category: "OTHER", Message: "Error: ErrImagePull", TsMs: t0.Add(3 * time.Second).UnixMilli(), Count: 4,
		Res: resource{RID: "Pod/shop/web-1", Kind: "Pod", Namespace: "shop", Name: "web-1"}, UID: "uid-web-1", Node: "node-7"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n %+v\nwant\n %+v", got, want)
	}
	// A Node's namespace is dropped: one identity whatever the event claims.
	n := ev{name: "n1", reason: "NodeNotReady", kind: "Node", namespace: "default", objName: "node-7", host: "node-7"}
	d, err = decode("acme", DefaultTopics(), n.record("acme"))
	if err != nil {
		t.Fatal(err)
	}
	if d.event.Res.RID != "Node//node-7" || d.event.Node != "" {
		t.Fatalf("node event: rid %q node %q", d.event.Res.RID, d.event.Node)
	}
}

func TestDecodeLog(t *testing.T) {
	l := lg{name: "l1", namespace: "shop", pod: "web-1", node: "node-7", severity: "warn", signature: "", message: "slow"}
	d, err := decode("acme", DefaultTopics(), l.record("acme"))
	if err != nil {
		t.Fatal(err)
	}
	if e := d.event; e.Source != SourceLog || e.Signal != "log:WARN" || e.Res.RID != "Pod/shop/web-1" || e.Node != "node-7" || e.Type != "Log" {
		t.Fatalf("decoded %+v", e)
	}
	for _, c := range []struct {
		severity, signature string
		written             bool
	}{
		{"INFO", "", false}, {"DEBUG", "", false}, {"", "", false},
		{"INFO", "DNS", true}, {"WARNING", "", true}, {"ERROR", "", true}, {"CRITICAL", "", true},
	} {
		l := lg{name: "l-" + c.severity + c.signature, namespace: "shop", pod: "web-1", severity: c.severity, signature: c.signature}
		_, err := decode("acme", DefaultTopics(), l.record("acme"))
		if written := err == nil; written != c.written || (!written && !errors.Is(err, errLowSignal)) {
			t.Errorf("severity %q signature %q: err %v, want written=%v", c.severity, c.signature, err, c.written)
		}
	}
}

func TestDecodeTopology(t *testing.T) {
	ns := "kube-system"
	rec := topo("acme", &TopologyRecord{Kind: "Pod", Namespace: "shop", Name: "web-1", UID: "u1", Node: "node-7",
		Labels:  map[string]string{"b": "2", "a": "1"},
		Owners:  []Ref{{Kind: "ReplicaSet", Name: "web-5f"}, {Kind: "Node", Name: "node-7"}},
		Selects: []Ref{{Kind: "ConfigMap", Namespace: &ns, Name: "dns"}}}, "Pod", "shop", "web-1", time.Second)
	d, err := decode("acme", DefaultTopics(), rec)
	if err != nil {
		t.Fatal(err)
	}
	var rels []string
	for _, r := range d.topo.Rels {
		rels = append(rels, r.Type+" "+r.Target.RID)
	}
	want := []string{"RUNS_ON Node//node-7", "OWNED_BY ReplicaSet/shop/web-5f", "OWNED_BY Node//node-7", "SELECTS ConfigMap/kube-system/dns"}
	if !slices.Equal(rels, want) || !slices.Equal(d.topo.Labels, []string{"a=1", "b=2"}) || d.topo.UID != "u1" ||
		d.topo.TsMs != t0.Add(time.Second).UnixMilli() || d.topo.Tombstone {
		t.Fatalf("decoded %+v, rels %q", d.topo, rels)
	}
	d, err = decode("acme", DefaultTopics(), topo("acme", nil, "Pod", "shop", "web-1", 0))
	if err != nil || !d.topo.Tombstone || d.topo.Res.RID != "Pod/shop/web-1" {
		t.Fatalf("tombstone: %+v, %v", d.topo, err)
	}
}

func TestDecodeSkipsOtherClientsAndUnknownTopics(t *testing.T) {
	r := ev{name: "x", reason: "BackOff", kind: "Pod", namespace: "a", objName: "p"}.record("other-client")
	if _, err := decode("acme", DefaultTopics(), r); !errors.Is(err, errOtherClient) {
		t.Fatalf("other client's record: %v", err)
	}
	r = ev{name: "x", reason: "BackOff", kind: "Pod", namespace: "a", objName: "p"}.record("acme")
	r.Topic = "raw.k8s.events"
	if _, err := decode("acme", DefaultTopics(), r); err == nil || !strings.Contains(err.Error(), "not an input") {
		t.Fatalf("unknown topic: %v", err)
	}
}

func TestTruncateKeepsUTF8(t *testing.T) {
	s := strings.Repeat("é", 3000) // 6000 bytes
	got := truncate(s, MaxMessageBytes)
	if len(got) > MaxMessageBytes || !strings.HasSuffix(got, truncatedMark) || !utf8Valid(got) {
		t.Fatalf("truncate: %d bytes, valid=%v", len(got), utf8Valid(got))
	}
	if truncate("short", 10) != "short" {
		t.Fatal("short strings change")
	}
	if got := truncate("a\xffb", 10); got != "a\uFFFDb" {
		t.Fatalf("invalid UTF-8 kept: %q", got)
	}
}

func TestPermanentErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&neo4j.Neo4jError{Code: "Neo.ClientError.Statement.TypeError"}, true},
		{&neo4j.Neo4jError{Code: "Neo.ClientError.Schema.ConstraintValidationFailed"}, true},
		{&neo4j.Neo4jError{Code: "Neo.TransientError.Transaction.DeadlockDetected"}, false},
		{&neo4j.Neo4jError{Code: "Neo.ClientError.Security.Unauthorized"}, false},
		{&neo4j.Neo4jError{Code: "Neo.ClientError.Database.DatabaseNotFound"}, false},
		{&neo4j.ConnectivityError{}, false},
		{errors.New("connection reset"), false},
		{&neo4j.UsageError{Message: "unsupported type"}, true},
	} {
		if got := permanent(c.err); got != c.want {
			t.Errorf("permanent(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestStopOnClientError(t *testing.T) {
	var stop errStop
	if !errors.As(stopOnClientError(&neo4j.Neo4jError{Code: "Neo.ClientError.Security.Forbidden"}), &stop) {
		t.Error("a forbidden CREATE DATABASE is retried")
	}
	if errors.As(stopOnClientError(&neo4j.ConnectivityError{}), &stop) {
		t.Error("an unreachable Neo4j stops the start")
	}
}

func FuzzDecode(f *testing.F) {
	ns := "x"
	for _, r := range []kafkaio.Record{
		ev{name: "a", reason: "BackOff", kind: "Pod", namespace: "a", objName: "p", host: "n"}.record("acme"),
		lg{name: "b", namespace: "a", pod: "p", severity: "ERROR", signature: "OOM"}.record("acme"),
		topo("acme", &TopologyRecord{Kind: "Service", Namespace: "a", Name: "s", Selects: []Ref{{Kind: "Pod", Namespace: &ns, Name: "p"}}}, "Service", "a", "s", 0),
		topo("acme", nil, "Node", "", "n", 0),
	} {
		f.Add(uint8(slices.Index(fuzzTopics, r.Topic)), string(r.Key), r.Value, r.Value == nil)
	}
	f.Fuzz(func(t *testing.T, topic uint8, key string, value []byte, tombstone bool) {
		if tombstone {
			value = nil
		}
		fuzzCheck(t, kafkaio.Record{Topic: fuzzTopics[int(topic)%len(fuzzTopics)], Key: []byte(key), Value: value, Timestamp: t0})
	})
}

var fuzzTopics = []string{kafkaio.TopicEventsNormalized, kafkaio.TopicLogsNormalized, kafkaio.TopicTopology}

// FuzzDecodeTopology fuzzes the topology value behind a valid key, where the
// decoder's validation of kinds, names, owners and selects lives.
func FuzzDecodeTopology(f *testing.F) {
	ns := "kube-system"
	for _, rec := range []*TopologyRecord{
		{Kind: "Pod", Namespace: "a", Name: "p", UID: "u", Node: "n1", Labels: map[string]string{"app": "x"},
			Owners: []Ref{{Kind: "ReplicaSet", Name: "rs"}}, Selects: []Ref{{Kind: "ConfigMap", Namespace: &ns, Name: "c"}}},
		{Kind: "Pod", Namespace: "a", Name: "p"},
	} {
		f.Add(topo("acme", rec, "Pod", "a", "p", 0).Value)
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		fuzzCheck(t, kafkaio.Record{Topic: kafkaio.TopicTopology, Key: []byte("acme::topology::Pod/a/p"), Value: value, Timestamp: t0})
	})
}

// fuzzCheck decodes one record and checks what an accepted record promises.
func fuzzCheck(t *testing.T, rec kafkaio.Record) {
	t.Helper()
	key := string(rec.Key)
	d, err := decode("acme", DefaultTopics(), rec)
	if err != nil {
		if d.event != nil || d.topo != nil {
			t.Fatalf("error %v with a row", err)
		}
		return
	}
	// Whatever is accepted is a well-formed identity of this client.
	check := func(r resource) {
		if strings.Count(r.RID, "/") != 2 || r.RID != r.Kind+"/"+r.Namespace+"/"+r.Name || checkKind(r.Kind) != nil || r.Name == "" {
			t.Fatalf("bad resource %+v", r)
		}
	}
	switch {
	case d.event != nil:
		check(d.event.Res)
		if len(d.event.Message) > MaxMessageBytes || !utf8Valid(d.event.Message) {
			t.Fatalf("message of %d bytes", len(d.event.Message))
		}
		if !strings.HasPrefix(key, "acme::") {
			t.Fatalf("accepted key %q", key)
		}
	case d.topo != nil:
		check(d.topo.Res)
		for _, r := range d.topo.Rels {
			check(r.Target)
		}
	default:
		t.Fatal("no error and no row")
	}
}

// TestLogCategory: a log's category follows its signature's family, the
// normalizer's NETWORK_UNREACHABLE included.
func TestLogCategory(t *testing.T) {
	for sig, want := range map[string]string{"OOM": "OOM", "CONNECTION_REFUSED": "NETWORK", "DNS": "NETWORK", "TIMEOUT": "NETWORK",
		"NETWORK_UNREACHABLE": "NETWORK", "PANIC": "CRASH", "CRASH": "CRASH", "EXCEPTION": "CRASH", "": "OTHER"} {
		if got := logCategory(sig); got != want {
			t.Errorf("logCategory(%q) = %q, want %q", sig, got, want)
		}
	}
}
