package graph

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSignal(t *testing.T) {
	for _, c := range []struct {
		source, reason, severity, message, want string
	}{
		{SourceK8s, "BackOff", "WARNING", "Back-off restarting failed container app in pod web-1", "BackOff"},
		{SourceK8s, "BackOff", "WARNING", `Back-off pulling image "nginx:nope"`, "ImagePullBackOff"},
		{SourceK8s, "Failed", "WARNING", `Failed to pull image "nginx:nope": not found`, "ErrImagePull"},
		{SourceK8s, "Failed", "WARNING", "Error: ErrImagePull", "ErrImagePull"},
		{SourceK8s, "Failed", "WARNING", "Error: ImagePullBackOff", "ImagePullBackOff"},
		{SourceK8s, "Failed", "WARNING", `Error: secret "db-pass" not found`, "CreateContainerConfigError"},
		{SourceK8s, "Failed", "WARNING", `Error: configmap "app" not found`, "CreateContainerConfigError"},
		{SourceK8s, "Failed", "WARNING", "Error: CreateContainerConfigError", "CreateContainerConfigError"},
		{SourceK8s, "Failed", "WARNING", "something else", "Failed"},
		{SourceK8s, "NodeNotReady", "CRITICAL", "Node node-1 status is now: NodeNotReady", "NodeNotReady"},
		{SourceLog, "OOM", "ERROR", "java.lang.OutOfMemoryError", "log:OOM"},
		{SourceLog, "", "ERROR", "boom", "log:ERROR"},
	} {
		if got := Signal(c.source, c.reason, c.severity, c.message); got != c.want {
			t.Errorf("Signal(%s, %s, %q) = %q, want %q", c.source, c.reason, c.message, got, c.want)
		}
	}
}

// The chains the contract names, as (cause, effect, relation) → the rule that
// links them; and pairs that must not link.
func TestRuleTableMatching(t *testing.T) {
	rules := DefaultRules()
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	match := func(cause, effect string, rel Relation, lagS int) []string {
		var names []string
		for _, r := range rules {
			if r.Matches(cause, effect, rel, at(0), at(lagS)) {
				names = append(names, r.Name)
			}
		}
		return names
	}
	for _, c := range []struct {
		cause, effect string
		rel           Relation
		lagS          int
		want          []string
	}{
		{"OOMKilled", "BackOff", RelSame, 5, []string{"oom-backoff"}},
		{"log:OOM", "BackOff", RelSame, 5, []string{"oom-backoff"}},
		{"Unhealthy", "Killing", RelSame, 30, []string{"probe-kill"}},
		{"Killing", "BackOff", RelSame, 30, []string{"kill-backoff"}},
		{"ErrImagePull", "ImagePullBackOff", RelSame, 20, []string{"image-pull-backoff"}},
		{"NodeNotReady", "Evicted", RelNode, 40, []string{"node-not-ready-eviction"}},
		{"Evicted", "FailedScheduling", RelOwner, 10, []string{"eviction-unschedulable-replacement"}},
		{"FailedMount", "CreateContainerConfigError", RelSame, 10, []string{"missing-config-no-start"}},
		{"CreateContainerConfigError", "BackOff", RelSame, 10, []string{"missing-config-no-start"}},
		{"log:CONNECTION_REFUSED", "Unhealthy", RelSame, 10, []string{"dependency-down-readiness"}},
		{"log:DNS", "Unhealthy", RelSelects, 10, []string{"dependency-down-readiness-peers"}},
		{"log:TIMEOUT", "Unhealthy", RelSame, 10, []string{"dependency-down-readiness"}},
		{"EvictionThresholdMet", "Evicted", RelNode, 30, []string{"node-pressure-eviction"}},
		{"NodeHasDiskPressure", "Evicted", RelNode, 30, []string{"node-pressure-eviction"}},
		{"NodeNotReady", "TaintManagerEviction", RelNode, 300, []string{"node-not-ready-eviction"}},
		{"ProvisioningFailed", "FailedScheduling", RelUses, 5, []string{"used-volume-blocks-pod"}},
		{"FailedBinding", "FailedMount", RelUses, 60, []string{"used-volume-blocks-pod"}},
		{"OOMKilled", "log:CONNECTION_REFUSED", RelCalls, 3, []string{"callee-down-caller-errors"}},
		{"BackOff", "log:DNS", RelCalls, 30, []string{"callee-down-caller-errors"}},
		{"Unhealthy", "log:TIMEOUT", RelCalls, 30, []string{"callee-down-caller-errors"}},
		{"Evicted", "log:CONNECTION_REFUSED", RelCalls, 30, []string{"callee-down-caller-errors"}},
		{"TaintManagerEviction", "FailedScheduling", RelOwner, 5, []string{"eviction-unschedulable-replacement"}},
		{"BackOff", "log:ERROR", RelCallsNamed, 30, []string{"callee-down-caller-named-errors"}},
		{"BackOff", "log:ERROR", RelCalls, 30, nil},
		{"FailedAttachVolume", "log:CONNECTION_REFUSED", RelCalls, 30, []string{"callee-down-caller-errors"}},
		{"Error", "BackOff", RelSame, 10, []string{"exit-backoff"}},
		{"Error", "BackoffLimitExceeded", RelManaged, 300, []string{"failed-pods-fail-job"}},
		{"Error", "BackoffLimitExceeded", RelSame, 300, nil},
		{"ScalingReplicaSet", "Killing", RelController, 3, []string{"scale-down-kills"}},
		{"ScalingReplicaSet", "Killing", RelManaged, 3, nil},
		// The new relations only where their rules say.
		{"OOMKilled", "log:CONNECTION_REFUSED", RelSame, 3, nil},
		{"log:CONNECTION_REFUSED", "OOMKilled", RelCalls, 3, nil},
		{"ProvisioningFailed", "FailedScheduling", RelSame, 5, nil},
		{"EvictionThresholdMet", "Evicted", RelSame, 30, nil},
		// Same cause and effect, wrong relation, order or lag.
		{"OOMKilled", "BackOff", RelNode, 5, nil},
		{"BackOff", "OOMKilled", RelSame, 5, nil},
		{"OOMKilled", "BackOff", RelSame, -1, nil},
		{"OOMKilled", "BackOff", RelSame, 601, nil},
		{"OOMKilled", "BackOff", RelSame, 600, []string{"oom-backoff"}},
		{"NodeNotReady", "Evicted", RelSame, 40, nil},
		{"log:CONNECTION_REFUSED", "Unhealthy", RelSame, 121, nil},
		{"Evicted", "FailedScheduling", RelSame, 10, nil},
	} {
		if got := match(c.cause, c.effect, c.rel, c.lagS); !slices.Equal(got, c.want) {
			t.Errorf("%s -(%s, %ds)-> %s: rules %q, want %q", c.cause, c.rel, c.lagS, c.effect, got, c.want)
		}
	}
}

func TestProbesForLooksBothWays(t *testing.T) {
	rules := DefaultRules()
	render := func(ps []probe) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Dir+" "+p.Rule+" "+string(p.Relation)+" "+strings.Join(p.Others, "|"))
		}
		return out
	}
	for _, c := range []struct {
		signal string
		want   []string
	}{
		// Evicted is the effect of NodeNotReady and node pressure, and the cause
		// of FailedScheduling and of its callers' errors.
		{"Evicted", []string{"causes node-not-ready-eviction node NodeNotReady",
			"causes node-pressure-eviction node EvictionThresholdMet|NodeHasInsufficientMemory|NodeHasDiskPressure|NodeHasInsufficientPID",
			"effects eviction-unschedulable-replacement owner FailedScheduling",
			"effects callee-down-caller-errors calls log:CONNECTION_REFUSED|log:DNS|log:TIMEOUT",
			"effects callee-down-caller-named-errors calls-named log:ERROR|log:CRITICAL"}},
		{"BackOff", []string{"causes oom-backoff same OOMKilled|OOMKilling|log:OOM", "causes crash-backoff same log:PANIC|log:CRASH|log:EXCEPTION",
			"causes kill-backoff same Killing", "causes exit-backoff same Error|ContainerCannotRun",
			"effects failed-pods-fail-job managed BackoffLimitExceeded|DeadlineExceeded",
			"causes missing-config-no-start same FailedMount|CreateContainerConfigError",
			"effects callee-down-caller-errors calls log:CONNECTION_REFUSED|log:DNS|log:TIMEOUT",
			"effects callee-down-caller-named-errors calls-named log:ERROR|log:CRITICAL"}},
		{"CreateContainerConfigError", []string{"effects missing-config-no-start same CreateContainerConfigError|BackOff|FailedCreatePodContainer",
			"causes missing-config-no-start same FailedMount|CreateContainerConfigError",
			"causes used-volume-blocks-pod uses ProvisioningFailed|FailedBinding|VolumeResizeFailed",
			"effects callee-down-caller-errors calls log:CONNECTION_REFUSED|log:DNS|log:TIMEOUT",
			"effects callee-down-caller-named-errors calls-named log:ERROR|log:CRITICAL"}},
		// A caller's connection error: effect of its callee, cause of its own
		// and its peers' readiness failures.
		{"log:CONNECTION_REFUSED", []string{
			"causes callee-down-caller-errors calls OOMKilled|OOMKilling|BackOff|Evicted|Unhealthy|Killing|NodeNotReady|TaintManagerEviction|" +
				"log:OOM|log:PANIC|log:CRASH|FailedMount|FailedAttachVolume|FailedScheduling|ErrImagePull|ImagePullBackOff|CreateContainerConfigError",
			"effects callee-down-caller-named-errors calls-named log:ERROR|log:CRITICAL",
			"effects dependency-down-readiness same Unhealthy", "effects dependency-down-readiness-peers selects Unhealthy"}},
		{"ProvisioningFailed", []string{"effects used-volume-blocks-pod uses FailedScheduling|FailedMount|FailedAttachVolume|CreateContainerConfigError|FailedCreatePodContainer"}},
		{"Scheduled", nil},
	} {
		if got := render(probesFor(rules, "evt-x", c.signal)); !slices.Equal(got, c.want) {
			t.Errorf("probes for %s:\n got %q\nwant %q", c.signal, got, c.want)
		}
	}
	for _, p := range probesFor(rules, "evt-x", "NodeNotReady") {
		if p.Rule != "node-not-ready-eviction" {
			continue
		}
		if p.MaxLagMs != 600_000 || p.Confidence != 0.9 || p.EID != "evt-x" {
			t.Errorf("probe %+v: lag, confidence or eid lost", p)
		}
	}
}

func TestRuleTableIsValid(t *testing.T) {
	rules := DefaultRules()
	if err := checkRules(rules); err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		for _, dir := range []string{findCauses, findEffects} {
			if _, err := cypherProbes([]probeKey{{dir, probeRelation(r.Relation)}}); err != nil {
				t.Errorf("rule %s: %v", r.Name, err)
			}
		}
	}
	for _, c := range []struct {
		name  string
		rules []Rule
		want  string
	}{
		{"duplicate", []Rule{rules[0], rules[0]}, "duplicate"},
		{"no effect", []Rule{{Name: "x", Cause: []string{"A"}, MaxLag: time.Second, Confidence: 1}}, "causes and effects"},
		{"no lag", []Rule{{Name: "x", Cause: []string{"A"}, Effect: []string{"B"}, Confidence: 1}}, "max lag"},
		{"confidence", []Rule{{Name: "x", Cause: []string{"A"}, Effect: []string{"B"}, MaxLag: time.Second, Confidence: 2}}, "confidence"},
	} {
		if err := checkRules(c.rules); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to say %q", c.name, err, c.want)
		}
	}
	if _, err := cypherProbes([]probeKey{{findCauses, "cousin"}}); err == nil {
		t.Error("an unknown relation has Cypher")
	}
}

func TestProbeRowsGroupRulesPerRelation(t *testing.T) {
	rows := probeRows(DefaultRules(), "evt-x", "BackOff")
	// calls and calls-named share one walk (one row, two rules).
	if len(rows) != 3 || rows[0].dir != findCauses || rows[0].rel != RelSame || rows[1].dir != findEffects || rows[1].rel != RelManaged ||
		rows[2].rel != RelCalls || len(rows[2].params["rules"].([]map[string]any)) != 2 {
		t.Fatalf("rows: %+v", rows)
	}
	p := rows[0].params
	if got := p["others"].([]string); !slices.Equal(got, []string{"OOMKilled", "OOMKilling", "log:OOM", "log:PANIC", "log:CRASH", "log:EXCEPTION",
		"Killing", "Error", "ContainerCannotRun", "FailedMount", "CreateContainerConfigError"}) {
		t.Errorf("others: %q", got)
	}
	if p["lag_ms"].(int64) != 600_000 || len(p["rules"].([]map[string]any)) != 5 {
		t.Errorf("lag %v, %d rules", p["lag_ms"], len(p["rules"].([]map[string]any)))
	}
	// Unhealthy: cause of probe-kill (same) and of callers' errors (calls and
	// calls-named, one walk), effect of two dependency rules (same and
	// selects): four rows, one per direction and walk.
	var keys []string
	for _, r := range probeRows(DefaultRules(), "evt-x", "Unhealthy") {
		keys = append(keys, r.dir+"/"+string(r.rel))
	}
	if !slices.Equal(keys, []string{"effects/same", "effects/calls", "causes/same", "causes/selects"}) {
		t.Errorf("Unhealthy rows: %q", keys)
	}
}
