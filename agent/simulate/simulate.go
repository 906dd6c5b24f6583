// Package simulate generates realistic fault scenarios of a Kubernetes
// cluster as kg-agent would publish them: the Kubernetes Events (core/v1 or
// events.k8s.io/v1, with real kubelet, scheduler and controller wording,
// aggregated counts and series), the container logs a Vector or Fluent Bit
// shipper sends (with multi-line stack traces), the topology records of
// kg-agent run (with ips and uses) and its container status events, all in
// the order they would arrive. Each scenario carries its ground truth: the
// root cause (rid and signals as the graph stores them), the answers that
// are equally right, and the resource an operator would ask about.
//
// Everything follows from a seed: names (a pool of service names with
// Kubernetes-style ReplicaSet hashes and pod suffixes), namespaces, nodes,
// replica counts, repeats, timings and lags, the event API and log shipper,
// background noise and an optional second incident elsewhere. The same seed
// gives the same file, byte for byte.
package simulate

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/kgrca/kgplane/scenario"
)

// Options tune one generated scenario.
type Options struct {
	// Seed decides everything; the same seed gives the same scenario.
	Seed int64
	// Noise scales the background (routine churn, unrelated warnings,
	// request logs): 0 none, 1 a typical busy cluster, 2 twice that.
	Noise float64
	// Second adds a second, unrelated incident in another namespace at
	// about the same time; the header keeps the first.
	Second bool
	// Base is when the scenario starts; zero: a time derived from the seed
	// (in 2026). Timestamps inside are offsets from it.
	Base time.Time
	// End, when set, places the scenario so that it ends at End instead
	// (Base is ignored): a live client publishes what has just happened,
	// never times in the future.
	End time.Time
}

// Info describes a scenario.
type Info struct {
	Name    string
	Summary string
}

// List returns the scenarios, sorted by name.
func List() []Info {
	out := make([]Info, 0, len(faults))
	for _, f := range faults {
		out = append(out, Info{f.name, f.summary})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns the scenario names, sorted.
func Names() []string {
	var out []string
	for _, i := range List() {
		out = append(out, i.Name)
	}
	return out
}

func lookup(name string) (fault, bool) {
	for _, f := range faults {
		if f.name == name {
			return f, true
		}
	}
	return fault{}, false
}

// ErrUnknown is returned for a scenario name that does not exist.
var ErrUnknown = errors.New("unknown scenario")

// Generate builds the scenario name with opt.
func Generate(name string, opt Options) (*scenario.File, error) {
	f, ok := lookup(name)
	if !ok {
		return nil, fmt.Errorf("%w %q (kg-agent simulate --list shows them: %v)", ErrUnknown, name, Names())
	}
	if opt.Noise < 0 {
		return nil, fmt.Errorf("noise %v: must be >= 0", opt.Noise)
	}
	if !opt.End.IsZero() {
		// One seed draws the same scenario from any explicit base: generate
		// it once to learn its length, then again that much before End.
		probe := opt
		probe.Base, probe.End = opt.End, time.Time{}
		_, last := f.generate(name, probe)
		opt.Base, opt.End = opt.End.Add(-last.Sub(opt.End)), time.Time{}
	}
	file, _ := f.generate(name, opt)
	return file, nil
}

// generate builds the scenario; last is when its last record arrives.
func (f fault) generate(name string, opt Options) (file *scenario.File, last time.Time) {
	s := newSim(opt.Seed)
	base := opt.Base
	if base.IsZero() {
		base = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC).Add(s.g.dur(0, 320*24*time.Hour)).Truncate(time.Second)
	}
	nNS := 2 + s.g.intn(2)
	if opt.Second {
		nNS++
	}
	s.build(base, nNS)
	onset := base.Add(s.g.dur(2*time.Minute, 6*time.Minute))
	ns := s.incidentNamespace()
	tr := f.run(s, ns, onset)
	if opt.Second {
		var others []fault
		for _, o := range faults {
			if o.local && o.name != f.name {
				others = append(others, o)
			}
		}
		o := pick(s.g, others)
		o.run(s, s.incidentNamespace(), onset.Add(s.g.dur(-3*time.Minute, 5*time.Minute)))
	}
	end := s.last.Add(s.g.dur(30*time.Second, 2*time.Minute))
	s.noise(base, end, opt.Noise)
	s.flushEvents()
	if s.g.chance(0.2) {
		s.lateStart = onset.Add(s.g.dur(-time.Minute, 90*time.Second))
	}
	h := scenario.Header{Scenario: name, RootCause: tr.root, Symptom: scenario.Symptom{RID: tr.symptom}, AlsoCorrect: tr.also}
	recs, last := s.records()
	return &scenario.File{Header: h, Records: recs}, last
}

// Variant is one file of an evaluation set.
type Variant struct {
	Scenario string
	Index    int
	Options  Options
}

// FileName is the variant's file name in a set: <scenario>-<index>.jsonl.
func (v Variant) FileName() string { return fmt.Sprintf("%s-%02d.jsonl", v.Scenario, v.Index) }

// Set plans an evaluation set: variants of every scenario (or of names),
// each with noise and its own seed derived from seed; every third one has a
// second concurrent incident.
func Set(names []string, variants int, seed int64, noise float64) ([]Variant, error) {
	if len(names) == 0 {
		names = Names()
	}
	for _, n := range names {
		if _, ok := lookup(n); !ok {
			return nil, fmt.Errorf("%w %q", ErrUnknown, n)
		}
	}
	if variants <= 0 {
		return nil, errors.New("variants must be positive")
	}
	var out []Variant
	for i, n := range slices.Sorted(slices.Values(names)) {
		for k := range variants {
			vs := seed*1_000_003 + int64(i)*10_007 + int64(k)*101 + 7
			out = append(out, Variant{Scenario: n, Index: k + 1, Options: Options{Seed: vs, Noise: noise, Second: (k+i)%3 == 2}})
		}
	}
	return out, nil
}
