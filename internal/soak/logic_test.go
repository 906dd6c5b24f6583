package soak

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kgrca/kgplane/workers/eventnorm"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/lognorm"
	"github.com/kgrca/kgplane/workers/normalizer"
)

func TestParseTaskLog(t *testing.T) {
	log := strings.Join([]string{
		"==> 2026-11-30T14:26:51Z kgplane embedded: starting /bin/kg-worker graph-builder (alloc 2d16)",
		`time=2026-11-30T14:27:13.386Z level=WARN msg="dead-lettering record"`,
		"==> 2026-11-30T14:27:13Z kgplane embedded: task exited: exit status 1",
		"==> 2026-11-30T14:27:13Z kgplane embedded: restarting in 16.2s: restart within the policy",
		"==> 2026-11-30T14:27:30Z kgplane embedded: starting /bin/kg-worker graph-builder (alloc 2d16)",
		"==> 2026-11-30T14:27:40Z kgplane embedded: task exited: killed by killed",
		"panic: runtime error: index out of range [3] with length 3",
		"==> 2026-11-30T14:28:00Z kgplane embedded: task exited: exit status 0",
		"==> 2026-11-30T14:29:00Z kgplane embedded: not restarting: exceeded 3 attempts",
		"==> not a time kgplane embedded: task exited: exit status 1",
	}, "\n")
	got := parseTaskLog(strings.NewReader(log))
	var kinds []string
	failures := 0
	for _, e := range got {
		kinds = append(kinds, e.Kind+":"+e.Detail)
		if e.failure() {
			failures++
		}
	}
	want := []string{"start:", "exit:exit status 1", "start:", "exit:killed by killed", "panic:panic: runtime error: index out of range [3] with length 3",
		"exit:exit status 0", "giveup:exceeded 3 attempts"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("parsed %q\nwant %q", kinds, want)
	}
	if failures != 1 {
		t.Errorf("%d failures, want 1 (a signal and a clean exit are no failure)", failures)
	}
	if got[4].At != got[3].At {
		t.Errorf("a panic is dated by the line before it: %v, want %v", got[4].At, got[3].At)
	}
}

func FuzzParseTaskLog(f *testing.F) {
	f.Add([]byte("==> 2026-11-30T14:27:13Z kgplane embedded: task exited: exit status 1\n"))
	f.Add([]byte("panic: x\n==> 2026-11-30T14:27:13Z kgplane embedded: not restarting: y"))
	f.Add([]byte("==>  kgplane embedded: \n\n\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, e := range parseTaskLog(bytes.NewReader(b)) {
			switch e.Kind {
			case "start", "exit", "giveup", "panic":
			default:
				t.Fatalf("unknown kind %q", e.Kind)
			}
		}
	})
}

func TestCrashLoop(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	fail := func(s int) taskEvent {
		return taskEvent{At: t0.Add(time.Duration(s) * time.Second), Kind: "exit", Detail: "exit status 1"}
	}
	outage := []window{{t0.Add(100 * time.Second), t0.Add(200 * time.Second)}}
	tests := []struct {
		name string
		h    taskHistory
		loop bool
	}{
		{"two failures", taskHistory{failures: []taskEvent{fail(1), fail(2)}}, false},
		{"three failures", taskHistory{failures: []taskEvent{fail(1), fail(2), fail(3)}}, true},
		{"three failures in an outage", taskHistory{failures: []taskEvent{fail(110), fail(150), fail(190)}}, false},
		{"two in, two out of an outage", taskHistory{failures: []taskEvent{fail(110), fail(150), fail(10), fail(300)}}, false},
		{"a panic", taskHistory{panics: []taskEvent{{Kind: "panic"}}}, true},
		{"gave up", taskHistory{giveups: []taskEvent{{Kind: "giveup"}}}, true},
	}
	for _, tt := range tests {
		if got, _ := crashLoop(&tt.h, outage); got != tt.loop {
			t.Errorf("%s: crash loop %v, want %v", tt.name, got, tt.loop)
		}
	}
}

func TestCompareGraphs(t *testing.T) {
	dump := func(nodes map[string]string, edges map[string]string) *graphDump {
		g := &graphDump{nodes: nodes, nodeCount: map[string]int{}, edges: edges, edgeCount: map[string]int{}}
		for k := range nodes {
			g.nodeCount[k] = 1
		}
		for k := range edges {
			g.edgeCount[k] = 1
		}
		return g
	}
	want := dump(map[string]string{"Event evt-1": "{a=1}", "Event evt-2": "{a=2}", "Resource Pod/x/y": "{}"},
		map[string]string{"Event evt-1 -[ABOUT{}]-> Resource Pod/x/y": "{}", "Event evt-1 -[CAUSES{rule=\"r\"}]-> Event evt-2": "{confidence=0.9}"})
	got := dump(map[string]string{"Event evt-1": "{a=1}", "Event evt-2": "{a=3}", "Event evt-9": "{}", "Event evt-7": "{}", "Resource Pod/x/y": "{}"},
		map[string]string{"Event evt-1 -[ABOUT{}]-> Resource Pod/x/y": "{}"})
	got.nodeCount["Resource Pod/x/y"] = 2
	got.edgeCount["Event evt-1 -[ABOUT{}]-> Resource Pod/x/y"] = 3
	d := compare(got, want, map[string]string{"Event evt-9": "soak-002"})
	if d.lost() != 1 || len(d.missingEdges) != 1 || !strings.Contains(d.missingEdges[0], "CAUSES") {
		t.Errorf("lost %v %v, want the CAUSES edge", d.missingNodes, d.missingEdges)
	}
	if len(d.changedNodes) != 1 || !strings.HasPrefix(d.changedNodes[0], "Event evt-2") {
		t.Errorf("changed %v, want evt-2", d.changedNodes)
	}
	if len(d.foreignNodes) != 1 || !strings.Contains(d.foreignNodes[0], "soak-002") || !slices.Equal(d.extraNodes, []string{"Event evt-7"}) {
		t.Errorf("foreign %v extra %v, want evt-9 of soak-002 and evt-7", d.foreignNodes, d.extraNodes)
	}
	if d.dups() != 2 {
		t.Errorf("duplicates %v %v, want the resource and the edge", d.dupNodes, d.dupEdges)
	}
	if same := compare(want, want, nil); same.lost()+same.differs()+same.dups()+len(same.foreignNodes) != 0 {
		t.Errorf("a graph differs from itself: %+v", same)
	}
}

func TestCanonicalOrdersAndFormats(t *testing.T) {
	at := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	got := canonical(map[string]any{"b": int64(2), "a": "x", "client": "soak-001", "ts": at, "f": 0.5, "l": []any{"k=v"}, "n": nil},
		map[string]bool{"client": true})
	want := `{a="x", b=2, f=0.5, l=["k=v"], n=null, ts=` + at.String() + `}`
	if got != want {
		t.Errorf("canonical = %s\nwant %s", got, want)
	}
}

func TestScheduleHasEveryFaultInTheLoad(t *testing.T) {
	for _, cfg := range []Config{Full(), Short()} {
		plan := schedule(cfg)
		count := map[string]int{}
		for i, f := range plan {
			count[f.Kind]++
			if f.At < 0 || f.At > cfg.Duration*85/100 {
				t.Errorf("%s at %s: outside the faulted part of %s", f.Kind, f.At, cfg.Duration)
			}
			if i > 0 && f.At < plan[i-1].At {
				t.Errorf("schedule not in time order at %d", i)
			}
		}
		want := map[string]int{faultWorkerKill: cfg.WorkerKills, faultLeaderKill: cfg.LeaderKills}
		if cfg.KafkaOutage > 0 {
			want[faultKafkaOutage] = 1
		}
		if cfg.Neo4jOutage > 0 {
			want[faultNeo4jOutage] = 1
		}
		if cfg.HeartbeatPause {
			want[faultHeartbeatPause] = 1
		}
		if fmt.Sprint(count) != fmt.Sprint(want) {
			t.Errorf("faults %v, want %v", count, want)
		}
		if again := schedule(cfg); !slices.Equal(plan, again) {
			t.Error("the same seed gave another schedule")
		}
	}
}

// Every poison kind reaches every input topic within one cycle, and each
// record is what its kind says: keys that name no live client are not the
// client's, the expected outcomes follow the contract.
func TestPoisonStreamCoversEveryKindInEveryTopic(t *testing.T) {
	clients := []string{"soak-001", "soak-002", "soak-003"}
	g := newPoisonGen(7, clients, 8)
	seen := map[string]bool{}
	now := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	for range len(poisonKinds) * len(inputTopics) {
		p := g.next(now)
		seen[p.Kind+" "+p.Topic] = true
		if p.Partition < 0 || p.Partition >= 8 {
			t.Fatalf("%s: partition %d", p.Kind, p.Partition)
		}
		key, keyErr := kafkaio.ParseKey(p.Key)
		switch p.Kind {
		case "unknown-client":
			if p.Client != "" || p.Expect != expectLeft || keyErr != nil || !strings.HasPrefix(key.Client, "ghost-") || p.Partition != kafkaio.PartitionFor(key.Client, 8) {
				t.Errorf("unknown-client %q on %d: %+v", p.Key, p.Partition, p)
			}
		case "invalid-client-id", "wrong-separator":
			if p.Client != "" || p.Expect != expectDLQ {
				t.Errorf("%s %q names a client or is not expected in the DLQ", p.Kind, p.Key)
			}
			if _, err := kafkaio.KeyClient(p.Key); err == nil {
				t.Errorf("%s %q names a valid client", p.Kind, p.Key)
			}
		case "non-utf8-key", "wrong-separator-bad-rest":
			if keyErr == nil || p.Client == "" || !bytes.HasPrefix(p.Key, []byte(p.Client+"::")) {
				t.Errorf("%s %q: parses (%v) or is not its client's", p.Kind, p.Key, keyErr)
			}
		case "huge-2mib":
			if len(p.Value) < 2<<20 {
				t.Errorf("huge value of %d bytes", len(p.Value))
			}
		case "wrong-partition":
			if p.Topic != kafkaio.TopicTopology && p.Partition == kafkaio.PartitionFor(p.Client, 8) {
				t.Errorf("wrong-partition record on its client's partition")
			}
		case "non-utf8-value":
			if utf8.Valid(p.Value) {
				t.Errorf("non-utf8-value is valid UTF-8")
			}
		case "tombstone-never-seen":
			if p.Value != nil {
				t.Errorf("tombstone with a value")
			}
		}
		if p.Client != "" && p.Kind != "wrong-partition" && p.Partition != kafkaio.PartitionFor(p.Client, 8) {
			t.Errorf("%s of %s on partition %d, not its client's", p.Kind, p.Client, p.Partition)
		}
	}
	for _, k := range poisonKinds {
		for _, topic := range inputTopics {
			if !seen[k+" "+topic] {
				t.Errorf("no %s on %s in one cycle", k, topic)
			}
		}
	}
}

// The valid templates the poison is made from are valid: the real
// normalizers accept the raw ones.
func TestPoisonTemplatesAreValid(t *testing.T) {
	now := time.Now()
	for _, topic := range []string{kafkaio.TopicRawEvents, kafkaio.TopicRawLogs} {
		kv := validRecord(topic, "soak-001", "p000001", now)
		role := map[string]string{kafkaio.TopicRawEvents: kafkaio.RoleEventNormalizer, kafkaio.TopicRawLogs: kafkaio.RoleLogNormalizer}[topic]
		fn := map[string]normalizer.Func{kafkaio.RoleEventNormalizer: eventnormNormalize, kafkaio.RoleLogNormalizer: lognormNormalize}[role]
		if _, _, err := normalizer.Output(role, fn, kafkaio.Record{Topic: topic, Key: kv.key, Value: kv.value}); err != nil {
			t.Errorf("%s template refused: %v", topic, err)
		}
	}
}

func TestRewriteClient(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"soak-001::event::u1", "ref-soak-001::event::u1"},
		{"soak-001", "ref-soak-001"},
		{"soak-001::evt-0123456789abcdef", "ref-soak-001::evt-0123456789abcdef"},
		{"soak-0011::event::u1", "soak-0011::event::u1"},
		{"soak-001:event:u1", "soak-001:event:u1"},
	} {
		if got := string(rewriteClient([]byte(tt.in), "soak-001", "ref-soak-001")); got != tt.want {
			t.Errorf("rewriteClient(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRecoveredTurnsAPanicIntoAnError(t *testing.T) {
	_, _, err := recovered(func(string, []byte) (string, []byte, error) { panic("boom") })("k", nil)
	if err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Fatalf("err %v", err)
	}
	_, _, err = recovered(func(string, []byte) (string, []byte, error) { return "", nil, errors.New("bad") })("k", nil)
	if err == nil || err.Error() != "bad" {
		t.Fatalf("err %v", err)
	}
}

func TestRecordHashMatchesTruncatedLetters(t *testing.T) {
	v := []byte("value")
	if recordHash([]byte("k"), v) == recordHash([]byte("k"), nil) || recordHash([]byte("k"), v) == recordHash([]byte("k2"), v) {
		t.Fatal("different records hash alike")
	}
	if recordHash([]byte("k"), nil) != recordHash([]byte("k"), nil) {
		t.Fatal("a tombstone hashes differently twice")
	}
}

func TestReportFailsOnAnyLossOrLeak(t *testing.T) {
	ok := &Report{Rows: []ClientRow{{Client: "soak-001", Events: 3}}, KeyLevel: map[string]*KeyLevelOutcome{
		"unknown-client": {Expect: expectLeft, Produced: 2, Left: 2}, "invalid-client-id": {Expect: expectDLQ, Produced: 2, DeadLettered: 2}}}
	if f := ok.Failures(); len(f) != 0 {
		t.Fatalf("a clean run fails: %v", f)
	}
	var out strings.Builder
	ok.Write(&out)
	if !strings.Contains(out.String(), "PASSED") || !strings.Contains(out.String(), "soak-001") {
		t.Errorf("report:\n%s", out.String())
	}
	for name, mutate := range map[string]func(r *Report){
		"lost":        func(r *Report) { r.Rows[0].Lost = 1 },
		"foreign":     func(r *Report) { r.Rows[0].Foreign = 1 },
		"dup":         func(r *Report) { r.Rows[0].Dups = 1 },
		"differs":     func(r *Report) { r.Rows[0].Differs = 1 },
		"dlq missing": func(r *Report) { r.Rows[0].DLQMissing = 1 },
		"wrongly":     func(r *Report) { r.Rows[0].WronglyDLQd = 1 },
		"crash loop":  func(r *Report) { r.Rows[0].CrashLoop = true },
		"key level":   func(r *Report) { r.KeyLevel["invalid-client-id"].DeadLettered = 1 },
		"stranger":    func(r *Report) { r.Strangers = map[string]int64{"ghost-1": 3} },
		"cross edge":  func(r *Report) { r.CrossEdges = 1 },
		"fault":       func(r *Report) { r.Faults = []faultLog{{Failed: "no"}} },
		"stall":       func(r *Report) { r.Stalls = []string{"x"} },
		"leftover":    func(r *Report) { r.Leftovers = []string{"1 kg-worker"} },
		"phase":       func(r *Report) { r.BadPhases = []string{"soak-001 stale"} },
		"accepted":    func(r *Report) { r.Accepted = []string{"malformed-json"} },
	} {
		r := &Report{Rows: []ClientRow{{Client: "soak-001"}}, KeyLevel: map[string]*KeyLevelOutcome{
			"invalid-client-id": {Expect: expectDLQ, Produced: 2, DeadLettered: 2}}}
		mutate(r)
		if r.OK() {
			t.Errorf("%s: the report passes", name)
		}
	}
}

var (
	eventnormNormalize normalizer.Func = eventnorm.Normalize
	lognormNormalize   normalizer.Func = lognorm.Normalize
)

// A step holds when the lag ends bounded and not growing and Kafka took the
// rate; the publishers' whole-record rounding (up to one record per client
// per step) is not the system falling behind.
func TestLoadStepHeld(t *testing.T) {
	cfg := LoadConfig{MaxLag: 10 * time.Second}
	step := 45 * time.Second
	for _, tc := range []struct {
		name string
		st   LoadStep
		want bool
	}{
		{"bounded lag, rate acked", LoadStep{Clients: 10, Offered: 100, Acked: 100, LagMid: 300, LagEnd: 200}, true},
		{"lag over 10 s of load", LoadStep{Clients: 10, Offered: 100, Acked: 100, LagMid: 900, LagEnd: 1001}, false},
		{"lag growing over the second half", LoadStep{Clients: 10, Offered: 100, Acked: 100, LagMid: 100, LagEnd: 301}, false},
		{"lag unknown", LoadStep{Clients: 10, Offered: 100, Acked: 100, LagEnd: -1}, false},
		{"Kafka took too little", LoadStep{Clients: 1, Offered: 100, Acked: 80, LagEnd: 10}, false},
		{"100 clients' rounding at 30/s", LoadStep{Clients: 100, Offered: 30, Acked: 26, LagMid: 6, LagEnd: 21}, true},
		{"beyond the rounding", LoadStep{Clients: 100, Offered: 30, Acked: 24, LagMid: 6, LagEnd: 21}, false},
	} {
		if got := held(tc.st, cfg, step); got != tc.want {
			t.Errorf("%s: held %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Nodes key the same in the faulted graph and its reference, whose client
// ids differ: call targets (:Name, :IP) carry the client as a property too.
func TestNodeKeyIgnoresTheClient(t *testing.T) {
	for _, c := range []struct {
		labels []any
		a, b   map[string]any
	}{
		{[]any{"Event"}, map[string]any{"client": "soak-1", "eid": "evt-1"}, map[string]any{"client": "ref-soak-1", "eid": "evt-1"}},
		{[]any{"Resource"}, map[string]any{"client": "soak-1", "rid": "Pod/a/b"}, map[string]any{"client": "ref-soak-1", "rid": "Pod/a/b"}},
		{[]any{"Name"}, map[string]any{"client": "soak-1", "rid": "Service/web/call"}, map[string]any{"client": "ref-soak-1", "rid": "Service/web/call"}},
		{[]any{"IP"}, map[string]any{"client": "soak-1", "ip": "10.0.0.1"}, map[string]any{"client": "ref-soak-1", "ip": "10.0.0.1"}},
	} {
		if ka, kb := nodeKey(c.labels, c.a), nodeKey(c.labels, c.b); ka != kb {
			t.Errorf("%v: %q != %q", c.labels, ka, kb)
		}
	}
	if nodeKey([]any{"IP"}, map[string]any{"client": "x", "ip": "10.0.0.1"}) == nodeKey([]any{"IP"}, map[string]any{"client": "x", "ip": "10.0.0.2"}) {
		t.Error("two IPs share a key")
	}
}

// TestStableAddrNeverRepeatsAPlanesAddress: the probe closes its listener, so
// only the taken set keeps two planes off one port. With every port of the
// stable range taken, the address must come from elsewhere.
func TestStableAddrNeverRepeatsAPlanesAddress(t *testing.T) {
	taken := map[string]bool{}
	for port := 12000; port < 17000; port++ {
		taken[fmt.Sprintf("127.0.0.1:%d", port)] = true
	}
	before := len(taken)
	addr, err := stableAddr(taken)
	if err != nil {
		t.Fatal(err)
	}
	if len(taken) != before {
		// The fallback is an ephemeral port; only stable ones are recorded.
		t.Fatalf("taken grew to %d with the stable range full (got %s)", len(taken), addr)
	}
	for port := 12000; port < 17000; port++ {
		if addr == fmt.Sprintf("127.0.0.1:%d", port) {
			t.Fatalf("stableAddr returned %s, already handed to another plane", addr)
		}
	}

	fresh := map[string]bool{}
	a, _ := stableAddr(fresh)
	if !fresh[a] {
		t.Fatalf("stableAddr did not record %s as taken", a)
	}
}
