package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kgrca/kgplane/scenario"
	"github.com/kgrca/kgplane/workers/eventnorm"
	"github.com/kgrca/kgplane/workers/graph"
	"github.com/kgrca/kgplane/workers/lognorm"
)

// view is what the graph will hold of a scenario file: the signals on each
// resource (after the real normalizers and the graph's signal rule) and the
// resources topology names.
type view struct {
	signals  map[string]map[string]int // rid -> signal -> occurrences
	warnings map[string]int            // rid -> Warning events and high-signal logs
	topology map[string]bool           // rids with a topology record (or named in uses)
	first    map[string]time.Time      // rid|signal -> first occurrence
	events   int
	logs     int
}

func clusterScoped(kind string) bool {
	return kind == "Node" || kind == "PersistentVolume" || kind == "StorageClass"
}

func rid(kind, ns, name string) string {
	if clusterScoped(kind) {
		ns = ""
	}
	return kind + "/" + ns + "/" + name
}

func normalize(t *testing.T, f *scenario.File) *view {
	t.Helper()
	v := &view{signals: map[string]map[string]int{}, warnings: map[string]int{}, topology: map[string]bool{}, first: map[string]time.Time{}}
	add := func(r, sig, ts string, warn bool) {
		if v.signals[r] == nil {
			v.signals[r] = map[string]int{}
		}
		v.signals[r][sig]++
		if warn {
			v.warnings[r]++
		}
		at, _ := time.Parse(time.RFC3339Nano, ts)
		if old, ok := v.first[r+"|"+sig]; !ok || at.Before(old) {
			v.first[r+"|"+sig] = at
		}
	}
	for _, rec := range f.Records {
		switch rec.Topic {
		case scenario.TopicEvents:
			e, err := eventnorm.NormalizeEvent(rec.Key, rec.Value)
			if err != nil {
				t.Fatalf("line %d: the event normalizer refuses %s: %v", rec.Line, rec.Value, err)
			}
			v.events++
			add(rid(e.Object.Kind, e.Object.Namespace, e.Object.Name), graph.Signal(graph.SourceK8s, e.Reason, string(e.Severity), e.Message), e.Timestamp, e.Type == "Warning")
		case scenario.TopicLogs:
			l, err := lognorm.NormalizeLog(rec.Key, rec.Value)
			if err != nil {
				t.Fatalf("line %d: the log normalizer refuses %s: %v", rec.Line, rec.Value, err)
			}
			v.logs++
			if l.Signature == "" && (l.Severity == "INFO") {
				continue // low signal: not in the graph
			}
			add(rid("Pod", l.Namespace, l.Pod), graph.Signal(graph.SourceLog, string(l.Signature), string(l.Severity), l.Message), l.Timestamp, true)
		case scenario.TopicTopology:
			v.topology[rec.Key] = true
			if rec.Value == nil {
				continue
			}
			var tr struct {
				Namespace string `json:"namespace"`
				Uses      []struct{ Kind, Name string }
			}
			if err := json.Unmarshal(rec.Value, &tr); err != nil {
				t.Fatalf("line %d: topology %s: %v", rec.Line, rec.Value, err)
			}
			for _, u := range tr.Uses {
				v.topology[rid(u.Kind, tr.Namespace, u.Name)] = true
			}
		}
	}
	return v
}

func generate(t *testing.T, name string, opt Options) (*scenario.File, []byte) {
	t.Helper()
	f, err := Generate(name, opt)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := scenario.Write(&buf, f); err != nil {
		t.Fatal(err)
	}
	back, err := scenario.Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("%s seed %d: the written file does not read back: %v", name, opt.Seed, err)
	}
	return back, buf.Bytes()
}

// Every scenario, over several seeds, with and without noise and a second
// incident: the file is valid, the normalizers take every record, the
// ground truth names resources the file talks about, and the root cause's
// signal really occurs on the root cause's resource.
func TestEveryScenarioIsValidAndItsGroundTruthHolds(t *testing.T) {
	seeds := 8
	if testing.Short() {
		seeds = 3
	}
	for _, info := range List() {
		t.Run(info.Name, func(t *testing.T) {
			for seed := int64(1); seed <= int64(seeds); seed++ {
				opt := Options{Seed: seed, Noise: float64(seed % 3), Second: seed%2 == 0}
				f, _ := generate(t, info.Name, opt)
				v := normalize(t, f)
				h := f.Header
				ctx := fmt.Sprintf("seed %d (noise %v, second %v)", seed, opt.Noise, opt.Second)
				if h.Scenario != info.Name {
					t.Errorf("%s: header names %q", ctx, h.Scenario)
				}
				root := h.RootCause
				if !slices.ContainsFunc(root.Signals, func(s string) bool { return v.signals[root.RID][s] > 0 }) {
					t.Errorf("%s: none of the root cause's signals %v occurs on %s; it has %v", ctx, root.Signals, root.RID, v.signals[root.RID])
				}
				if !v.topology[root.RID] && len(v.signals[root.RID]) == 0 {
					t.Errorf("%s: root cause %s is nowhere in the file", ctx, root.RID)
				}
				for _, a := range h.AlsoCorrect {
					if !v.topology[a.RID] && len(v.signals[a.RID]) == 0 {
						t.Errorf("%s: also_correct %s is nowhere in the file", ctx, a.RID)
					}
				}
				if v.warnings[h.Symptom.RID] == 0 && !strings.HasPrefix(h.Symptom.RID, "Deployment/") {
					t.Errorf("%s: the symptom %s shows no warning (signals %v)", ctx, h.Symptom.RID, v.signals[h.Symptom.RID])
				}
				if !v.topology[h.Symptom.RID] && len(v.signals[h.Symptom.RID]) == 0 {
					t.Errorf("%s: symptom %s is nowhere in the file", ctx, h.Symptom.RID)
				}
			}
		})
	}
}

func TestSameSeedSameFile(t *testing.T) {
	for _, name := range Names() {
		opt := Options{Seed: 42, Noise: 1, Second: true}
		_, a := generate(t, name, opt)
		_, b := generate(t, name, opt)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two runs with seed 42 differ", name)
		}
	}
}

// facts sums up what differs between two seeds of one scenario.
type facts struct {
	names    map[string]bool // pod names
	records  int
	events   int
	logs     int
	span     time.Duration
	rootRID  string
	shape    string // event API and log shipper seen
	firstSig time.Time
}

func factsOf(t *testing.T, f *scenario.File) facts {
	t.Helper()
	fx := facts{names: map[string]bool{}, records: len(f.Records), rootRID: f.Header.RootCause.RID}
	var lo, hi time.Time
	for _, r := range f.Records {
		switch r.Topic {
		case scenario.TopicEvents:
			fx.events++
			e, err := eventnorm.NormalizeEvent(r.Key, r.Value)
			if err != nil {
				t.Fatal(err)
			}
			at, _ := time.Parse(time.RFC3339Nano, e.Timestamp)
			if lo.IsZero() || at.Before(lo) {
				lo = at
			}
			if at.After(hi) {
				hi = at
			}
			if strings.Contains(string(r.Value), `"regarding"`) {
				fx.shape += "E"
			}
		case scenario.TopicLogs:
			fx.logs++
			if strings.Contains(string(r.Value), `"source_type"`) {
				fx.shape += "V"
			}
		case scenario.TopicTopology:
			if strings.HasPrefix(r.Key, "Pod/") {
				fx.names[r.Key] = true
			}
		}
	}
	fx.span = hi.Sub(lo)
	return fx
}

// Variety: across seeds the same scenario differs in names, sizes,
// timings and shapes, so a ranking cannot key on one template.
func TestSeedsVaryTheScenario(t *testing.T) {
	for _, name := range Names() {
		var all []facts
		for seed := int64(100); seed < 106; seed++ {
			f, _ := generate(t, name, Options{Seed: seed, Noise: 1})
			all = append(all, factsOf(t, f))
		}
		distinct := func(key func(facts) string) int {
			m := map[string]bool{}
			for _, f := range all {
				m[key(f)] = true
			}
			return len(m)
		}
		if n := distinct(func(f facts) string { return f.rootRID }); n < 5 {
			t.Errorf("%s: only %d distinct root causes over 6 seeds", name, n)
		}
		if n := distinct(func(f facts) string { return fmt.Sprint(f.events) }); n < 4 {
			t.Errorf("%s: only %d distinct event counts over 6 seeds", name, n)
		}
		if n := distinct(func(f facts) string { return f.span.Round(time.Second).String() }); n < 5 {
			t.Errorf("%s: only %d distinct time spans over 6 seeds", name, n)
		}
		shared := 0
		for k := range all[0].names {
			if all[1].names[k] {
				shared++
			}
		}
		if shared > len(all[0].names)/2 {
			t.Errorf("%s: seeds 100 and 101 share %d of %d pod names", name, shared, len(all[0].names))
		}
	}
}

func TestShapesVaryAcrossSeeds(t *testing.T) {
	seen := map[string]bool{}
	for seed := int64(1); seed <= 30; seed++ {
		f, _ := generate(t, "oom-kill-loop", Options{Seed: seed, Noise: 1})
		fx := factsOf(t, f)
		ev := "core/v1"
		if strings.Contains(fx.shape, "E") {
			ev = "events.k8s.io/v1"
		}
		lg := "fluent-bit"
		if strings.Contains(fx.shape, "V") {
			lg = "vector"
		}
		seen[ev] = true
		seen[lg] = true
	}
	for _, want := range []string{"core/v1", "events.k8s.io/v1", "vector", "fluent-bit"} {
		if !seen[want] {
			t.Errorf("30 seeds never produced %s records", want)
		}
	}
}

func TestNoiseScalesTheBackground(t *testing.T) {
	quiet, _ := generate(t, "image-pull-failure", Options{Seed: 9, Noise: 0})
	busy, _ := generate(t, "image-pull-failure", Options{Seed: 9, Noise: 2})
	q, b := factsOf(t, quiet), factsOf(t, busy)
	if q.logs != 0 {
		t.Errorf("noise 0 still has %d log records", q.logs)
	}
	if b.events <= q.events || b.logs == 0 {
		t.Errorf("noise 2: %d events, %d logs; noise 0: %d events", b.events, b.logs, q.events)
	}
	if quiet.Header.RootCause.RID != busy.Header.RootCause.RID {
		t.Errorf("noise changed the incident: %s vs %s", quiet.Header.RootCause.RID, busy.Header.RootCause.RID)
	}
}

func TestSecondFaultAddsAnIncidentElsewhere(t *testing.T) {
	for seed := int64(1); seed <= 5; seed++ {
		one, _ := generate(t, "oom-kill-loop", Options{Seed: seed, Noise: 0})
		two, _ := generate(t, "oom-kill-loop", Options{Seed: seed, Noise: 0, Second: true})
		w1, w2 := normalize(t, one).warnings, normalize(t, two).warnings
		rootNS := strings.Split(two.Header.RootCause.RID, "/")[1]
		elsewhere := 0
		for r, n := range w2 {
			if ns := strings.Split(r, "/")[1]; ns != rootNS && w1[r] == 0 {
				elsewhere += n
			}
		}
		if elsewhere == 0 {
			t.Errorf("seed %d: the second fault added no warnings outside %s", seed, rootNS)
		}
	}
}

func TestUnknownScenarioAndBadOptions(t *testing.T) {
	if _, err := Generate("nope", Options{}); err == nil || !strings.Contains(err.Error(), "oom-kill-loop") {
		t.Errorf("unknown name: %v (want the list of names)", err)
	}
	if _, err := Generate("oom-kill-loop", Options{Noise: -1}); err == nil {
		t.Error("negative noise accepted")
	}
	if _, err := Set([]string{"nope"}, 2, 1, 1); err == nil {
		t.Error("Set accepted an unknown name")
	}
	plan, err := Set(nil, 3, 1, 1)
	if err != nil || len(plan) != 3*len(faults) {
		t.Fatalf("Set: %d variants, %v", len(plan), err)
	}
	seeds, seconds := map[int64]bool{}, 0
	for _, v := range plan {
		seeds[v.Options.Seed] = true
		if v.Options.Second {
			seconds++
		}
	}
	if len(seeds) != len(plan) || seconds == 0 || seconds == len(plan) {
		t.Errorf("Set: %d distinct seeds for %d variants, %d with a second fault", len(seeds), len(plan), seconds)
	}
}

func TestExplicitBaseTime(t *testing.T) {
	base := time.Date(2030, 5, 1, 8, 0, 0, 0, time.UTC)
	f, _ := generate(t, "node-failure", Options{Seed: 3, Noise: 1, Base: base})
	for _, r := range f.Records {
		if r.Topic != scenario.TopicEvents {
			continue
		}
		e, _ := eventnorm.NormalizeEvent(r.Key, r.Value)
		at, _ := time.Parse(time.RFC3339Nano, e.Timestamp)
		if at.Before(base.Add(-time.Second)) || at.After(base.Add(45*time.Minute)) {
			t.Fatalf("event at %s outside [base, base+45m]", at)
		}
	}
}

// A live client (End: now) publishes what has just happened: no event or
// log is dated after End, and the scenario ends close to it.
func TestEndPlacesTheScenarioBeforeIt(t *testing.T) {
	end := time.Date(2030, 5, 1, 8, 0, 0, 0, time.UTC)
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			f, err := Generate(name, Options{Seed: 5, Noise: 1, End: end})
			if err != nil {
				t.Fatal(err)
			}
			var latest time.Time
			for _, r := range f.Records {
				var ts string
				switch r.Topic {
				case scenario.TopicEvents:
					e, err := eventnorm.NormalizeEvent(r.Key, r.Value)
					if err != nil {
						t.Fatalf("event %s: %v", r.Key, err)
					}
					ts = e.Timestamp
				case scenario.TopicLogs:
					l, err := lognorm.NormalizeLog(r.Key, r.Value)
					if err != nil {
						t.Fatalf("log %s: %v", r.Key, err)
					}
					ts = l.Timestamp
				default:
					continue
				}
				at, err := time.Parse(time.RFC3339Nano, ts)
				if err != nil {
					t.Fatal(err)
				}
				if at.After(end) {
					t.Fatalf("%s %s is dated %s, after the end %s", r.Topic, r.Key, at, end)
				}
				if at.After(latest) {
					latest = at
				}
			}
			if latest.Before(end.Add(-5 * time.Minute)) {
				t.Errorf("the last record is at %s, more than 5 minutes before the end %s", latest, end)
			}
		})
	}
}

// Order varies: usually a pod's topology arrives before its events, but an
// agent that started during the incident publishes some events first.
func TestTopologySometimesArrivesAfterEvents(t *testing.T) {
	before, after := 0, 0
	for seed := int64(1); seed <= 25; seed++ {
		f, _ := generate(t, "oom-kill-loop", Options{Seed: seed, Noise: 0})
		root := f.Header.RootCause.RID
		topoAt, eventAt := -1, -1
		for i, r := range f.Records {
			if r.Topic == scenario.TopicTopology && r.Key == root && topoAt < 0 {
				topoAt = i
			}
			if r.Topic == scenario.TopicEvents && eventAt < 0 && strings.Contains(string(r.Value), `"name":"`+strings.Split(root, "/")[2]+`"`) {
				eventAt = i
			}
		}
		if topoAt < eventAt {
			before++
		} else {
			after++
		}
	}
	if before == 0 || after == 0 {
		t.Errorf("over 25 seeds the root pod's topology came first %d times and after its first event %d times; want both", before, after)
	}
}

// Crashes print stack traces: some records carry a whole multi-line trace
// (a shipper that joins them), some files have them line by line.
func TestStackTracesAreMultiLine(t *testing.T) {
	joined, split := 0, 0
	for seed := int64(1); seed <= 12; seed++ {
		f, _ := generate(t, "bad-config-crashloop", Options{Seed: seed, Noise: 0})
		for _, r := range f.Records {
			if r.Topic != scenario.TopicLogs {
				continue
			}
			l, err := lognorm.NormalizeLog(r.Key, r.Value)
			if err != nil {
				t.Fatal(err)
			}
			if l.StackTrace != "" {
				joined++
			}
			if strings.HasPrefix(strings.TrimSpace(l.Message), "at ") || strings.HasPrefix(l.Message, "\tat ") || strings.HasPrefix(l.Message, "goroutine ") {
				split++
			}
		}
	}
	if joined == 0 || split == 0 {
		t.Errorf("%d records with a whole stack trace, %d trace lines on their own; want both", joined, split)
	}
}
