package embedded

import (
	"testing"
	"time"

	"github.com/kgrca/kgplane/nomad"
)

// noJitter makes the restart delay exact.
func noJitter(int64) int64 { return 0 }

func TestRestartTracker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type exit struct {
		after   time.Duration // since t0
		success bool
		want    decision
	}
	policy := nomad.RestartPolicy{Attempts: 2, Interval: time.Minute, Delay: 15 * time.Second}
	cases := []struct {
		name    string
		policy  nomad.RestartPolicy
		jobType string
		exits   []exit
	}{
		{
			name: "fail mode gives up after the attempts within the interval", policy: withMode(policy, "fail"), jobType: "service",
			exits: []exit{
				{0, false, decision{restart: true, delay: 15 * time.Second}},
				{20 * time.Second, false, decision{restart: true, delay: 15 * time.Second}},
				{40 * time.Second, false, decision{}},
			},
		},
		{
			name: "a new interval starts the count again", policy: withMode(policy, "fail"), jobType: "service",
			exits: []exit{
				{0, false, decision{restart: true, delay: 15 * time.Second}},
				{20 * time.Second, false, decision{restart: true, delay: 15 * time.Second}},
				{61 * time.Second, false, decision{restart: true, delay: 15 * time.Second}},
				{62 * time.Second, false, decision{restart: true, delay: 15 * time.Second}},
				{63 * time.Second, false, decision{}},
			},
		},
		{
			name: "delay mode waits for the end of the interval", policy: withMode(policy, "delay"), jobType: "service",
			exits: []exit{
				{0, false, decision{restart: true, delay: 15 * time.Second}},
				{20 * time.Second, false, decision{restart: true, delay: 15 * time.Second}},
				{40 * time.Second, false, decision{restart: true, delay: 20 * time.Second}},
				// after the wait the interval is over: counted afresh
				{61 * time.Second, false, decision{restart: true, delay: 15 * time.Second}},
			},
		},
		{
			name: "a service task that exits 0 is restarted too", policy: withMode(policy, "fail"), jobType: "service",
			exits: []exit{{0, true, decision{restart: true, delay: 15 * time.Second}}},
		},
		{
			name: "a batch task that exits 0 is complete", policy: withMode(policy, "fail"), jobType: "batch",
			exits: []exit{{0, true, decision{complete: true}}},
		},
		{
			name: "no attempts: never restarted", policy: nomad.RestartPolicy{Attempts: 0, Interval: time.Minute, Delay: time.Second, Mode: "delay"}, jobType: "service",
			exits: []exit{{0, false, decision{}}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRestartTracker(tc.policy, tc.jobType, noJitter)
			for i, e := range tc.exits {
				got := r.next(t0.Add(e.after), e.success)
				got.reason = ""
				if got != e.want {
					t.Fatalf("exit %d at +%s: %+v, want %+v", i+1, e.after, got, e.want)
				}
			}
		})
	}
}

func withMode(p nomad.RestartPolicy, mode string) nomad.RestartPolicy { p.Mode = mode; return p }

func TestRestartJitterIsBounded(t *testing.T) {
	r := newRestartTracker(nomad.RestartPolicy{Attempts: 100, Interval: time.Hour, Delay: 8 * time.Second, Mode: "fail"}, "service",
		func(n int64) int64 { return n - 1 })
	d := r.next(time.Now(), false)
	if d.delay < 8*time.Second || d.delay > 10*time.Second {
		t.Fatalf("delay %s outside [delay, 1.25 delay]", d.delay)
	}
}

func TestRescheduleDelay(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ago := func(ds ...time.Duration) []time.Time {
		var out []time.Time
		for _, d := range ds {
			out = append(out, now.Add(-d))
		}
		return out
	}
	exp := nomad.ReschedulePolicy{Delay: 30 * time.Second, DelayFunction: "exponential", MaxDelay: 10 * time.Minute, Unlimited: true}
	fib := nomad.ReschedulePolicy{Delay: 10 * time.Second, DelayFunction: "fibonacci", MaxDelay: 45 * time.Second, Unlimited: true}
	limited := nomad.ReschedulePolicy{Attempts: 2, Interval: time.Hour, Delay: 5 * time.Second, DelayFunction: "constant"}
	cases := []struct {
		name    string
		p       nomad.ReschedulePolicy
		earlier []time.Time
		want    time.Duration
		ok      bool
	}{
		{"exponential, first", exp, nil, 30 * time.Second, true},
		{"exponential, third", exp, ago(time.Minute, 2*time.Minute), 2 * time.Minute, true},
		{"exponential, capped", exp, ago(1, 2, 3, 4, 5, 6, 7), 10 * time.Minute, true},
		{"fibonacci 1", fib, nil, 10 * time.Second, true},
		{"fibonacci 2", fib, ago(1), 10 * time.Second, true},
		{"fibonacci 3", fib, ago(1, 2), 20 * time.Second, true},
		{"fibonacci 4", fib, ago(1, 2, 3), 30 * time.Second, true},
		{"fibonacci capped", fib, ago(1, 2, 3, 4), 45 * time.Second, true},
		{"limited, within attempts", limited, ago(time.Minute), 5 * time.Second, true},
		{"limited, attempts used up in the interval", limited, ago(time.Minute, 2*time.Minute), 0, false},
		{"limited, old attempts do not count", limited, ago(2*time.Hour, 3*time.Hour), 5 * time.Second, true},
		{"no attempts", nomad.ReschedulePolicy{}, nil, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := rescheduleDelay(tc.p, tc.earlier, now)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("rescheduleDelay = %s, %v; want %s, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestInterpolate(t *testing.T) {
	vars := map[string]string{"NOMAD_PORT_metrics": "23456", "node.unique.name": "box", "A": "${B}", "B": "x"}
	cases := []struct{ in, want string }{
		{":${NOMAD_PORT_metrics}", ":23456"},
		{"${node.unique.name}-${NOMAD_PORT_metrics}", "box-23456"},
		{"${UNKNOWN} stays", "${UNKNOWN} stays"},
		{"${A}", "${B}"}, // one pass, as Nomad: values are not interpolated again
		{"$NOMAD_PORT_metrics and ${ bad } and ${", "$NOMAD_PORT_metrics and ${ bad } and ${"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := interpolate(tc.in, vars); got != tc.want {
			t.Errorf("interpolate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzInterpolate(f *testing.F) {
	for _, s := range []string{":${NOMAD_PORT_metrics}", "${a.b}${", "$${x}}", "plain"} {
		f.Add(s)
	}
	vars := map[string]string{"NOMAD_PORT_metrics": "1", "a.b": "${NOMAD_PORT_metrics}"}
	f.Fuzz(func(t *testing.T, s string) {
		got := interpolate(s, vars)
		if interpolate(s, nil) != s {
			t.Fatalf("with no values, %q changed", s)
		}
		if !runtimeRef.MatchString(s) && got != s {
			t.Fatalf("%q has no reference but became %q", s, got)
		}
	})
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]string{"": "interrupt", "SIGTERM": "terminated", "term": "terminated", "SIGKILL": "killed", "SIGINT": "interrupt"} {
		s, err := parseSignal(in)
		if err != nil || s.String() != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %s", in, s, err, want)
		}
	}
	if _, err := parseSignal("SIGWINCHX"); err == nil {
		t.Error("an unknown signal was accepted")
	}
}
