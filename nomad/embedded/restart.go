package embedded

import (
	"time"

	"github.com/kgrca/kgplane/nomad"
)

// restartJitter is the share of the restart delay Nomad adds at random, so
// tasks that failed together do not restart in lockstep.
const restartJitter = 0.25

// restartTracker decides, after a task exited, whether and when it is
// restarted in place: Nomad's RestartTracker rules
// (client/allocrunner/taskrunner/restarts), rewritten here because that code
// lives in Nomad's agent, not in its API module.
type restartTracker struct {
	policy nomad.RestartPolicy
	// restartOnSuccess: a service task is restarted whatever its exit code; a
	// batch task that succeeded is complete.
	restartOnSuccess bool
	count            int
	start            time.Time
	// rand returns a number in [0, n); it makes the jitter testable.
	rand func(n int64) int64
}

// decision is what happens to a task that exited.
type decision struct {
	restart bool
	delay   time.Duration
	// complete is true for a batch task that succeeded: not a failure.
	complete bool
	reason   string
}

func newRestartTracker(p nomad.RestartPolicy, jobType string, rnd func(int64) int64) *restartTracker {
	return &restartTracker{policy: p, restartOnSuccess: jobType != "batch" && jobType != "sysbatch", rand: rnd}
}

// next is called when the task exited at now, successfully or not.
func (r *restartTracker) next(now time.Time, success bool) decision {
	if success && !r.restartOnSuccess {
		return decision{complete: true, reason: "exited successfully"}
	}
	if r.policy.Attempts <= 0 {
		return decision{reason: "the restart policy allows no restarts"}
	}
	if end := r.start.Add(r.policy.Interval); now.After(end) {
		r.count, r.start = 0, now
	}
	r.count++
	if r.count > r.policy.Attempts {
		if r.policy.Mode != "delay" {
			return decision{reason: "exceeded the restart policy's attempts in its interval (mode fail)"}
		}
		// Delay mode: wait for the interval to end, then count again.
		return decision{restart: true, delay: r.start.Add(r.policy.Interval).Sub(now), reason: "exceeded the attempts; waiting for the interval to end (mode delay)"}
	}
	d := r.policy.Delay
	if d <= 0 {
		d = 1
	}
	return decision{restart: true, delay: d + time.Duration(float64(r.rand(int64(d)))*restartJitter), reason: "restart within the policy"}
}

// rescheduleDelay is how long a failed allocation waits before its
// replacement starts (its attempt-th reschedule, from 1), and whether the
// policy allows it at all given the earlier reschedules' times: Nomad's
// reschedule rules, on one machine (the "elsewhere" is here again).
func rescheduleDelay(p nomad.ReschedulePolicy, earlier []time.Time, now time.Time) (time.Duration, bool) {
	if !p.Unlimited {
		if p.Attempts <= 0 {
			return 0, false
		}
		n := 0
		for _, t := range earlier {
			if now.Sub(t) <= p.Interval {
				n++
			}
		}
		if n >= p.Attempts {
			return 0, false
		}
	}
	attempt := len(earlier) + 1
	d := p.Delay
	switch p.DelayFunction {
	case "exponential":
		for i := 1; i < attempt && (p.MaxDelay <= 0 || d < p.MaxDelay); i++ {
			d *= 2
		}
	case "fibonacci":
		prev, cur := time.Duration(0), p.Delay
		for i := 1; i < attempt && (p.MaxDelay <= 0 || cur < p.MaxDelay); i++ {
			prev, cur = cur, prev+cur
		}
		d = cur
	}
	if p.MaxDelay > 0 && d > p.MaxDelay {
		d = p.MaxDelay
	}
	return d, true
}
