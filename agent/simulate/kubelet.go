package simulate

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// What the kubelet, the scheduler and the controllers report while pods
// start, crash, fail probes and are replaced. Identical events (same
// object, reason, message, reporter) are aggregated into one Event object
// with a growing count, as the recorders do; flushEvents publishes them.

type series struct {
	e     ev
	times []time.Time
	order int
}

func (s *sim) occur(e ev, at ...time.Time) {
	k := strings.Join([]string{e.obj.Kind, e.obj.Namespace, e.obj.Name, string(e.obj.UID), e.reason, e.msg, e.comp, e.host}, "|")
	sr, ok := s.series[k]
	if !ok {
		sr = &series{e: e, order: len(s.series)}
		s.series[k] = sr
	}
	sr.times = append(sr.times, at...)
}

func (s *sim) flushEvents() {
	all := make([]*series, 0, len(s.series))
	for _, sr := range s.series {
		all = append(all, sr)
	}
	slices.SortFunc(all, func(a, b *series) int { return a.order - b.order })
	for _, sr := range all {
		s.event(sr.e, sr.times...)
	}
	s.series = map[string]*series{}
}

func (s *sim) pullMessage(image string) string {
	d := s.g.float(0.8, 25)
	return fmt.Sprintf("Successfully pulled image %q in %.3fs (%.3fs including waiting). Image size: %d bytes.", image, d, d+s.g.float(0, 3), s.g.between(20000000, 900000000))
}

// createPod: the owner's controller creates p at `at` (p has no node yet).
func (s *sim) createPod(p *pod, at time.Time) {
	a := p.app
	switch a.kind {
	case "StatefulSet":
		s.occur(controller(objRef("StatefulSet", "apps/v1", a.ns, a.name, a.uid), "statefulset-controller", "SuccessfulCreate",
			fmt.Sprintf("create Pod %s in StatefulSet %s successful", p.name(), a.name), false), at)
	case "Deployment":
		s.occur(controller(objRef("ReplicaSet", "apps/v1", a.ns, p.rs.name, p.rs.uid), "replicaset-controller", "SuccessfulCreate",
			"Created pod: "+p.name(), false), at)
	}
	s.topoPod(at.Add(10*time.Millisecond), p)
}

// startPod: p is scheduled on n at `at` and its container starts. fresh:
// the image is pulled (a new version), else already present. Returns when
// the container is running.
func (s *sim) startPod(p *pod, n *node, at time.Time, fresh bool) time.Time {
	s.bind(p, n)
	p.born = at
	p.obj.ResourceVersion = s.nextRV()
	s.occur(s.scheduler(p, "Scheduled", fmt.Sprintf("Successfully assigned %s/%s to %s", p.ns(), p.name(), n.name), false), at)
	t := at.Add(s.g.dur(300*time.Millisecond, 2*time.Second))
	s.topoPod(t, p)
	image := p.obj.Spec.Containers[0].Image
	if fresh {
		s.occur(kubelet(p, "Pulling", fmt.Sprintf("Pulling image %q", image), false), t)
		t = t.Add(s.g.dur(time.Second, 20*time.Second))
		s.occur(kubelet(p, "Pulled", s.pullMessage(image), false), t)
	} else {
		s.occur(kubelet(p, "Pulled", fmt.Sprintf("Container image %q already present on machine", image), false), t)
	}
	t = t.Add(s.g.dur(100*time.Millisecond, 800*time.Millisecond))
	s.occur(kubelet(p, "Created", "Created container "+p.app.container(), false), t)
	t = t.Add(s.g.dur(100*time.Millisecond, 900*time.Millisecond))
	s.occur(kubelet(p, "Started", "Started container "+p.app.container(), false), t)
	s.topoService(t.Add(s.g.dur(2*time.Second, 12*time.Second)), p.app.svc)
	return t
}

// restart: the kubelet starts p's container again at `at`.
func (s *sim) restart(p *pod, at time.Time) time.Time {
	image := p.obj.Spec.Containers[0].Image
	s.occur(kubelet(p, "Pulled", fmt.Sprintf("Container image %q already present on machine", image), false), at)
	t := at.Add(s.g.dur(100*time.Millisecond, 600*time.Millisecond))
	s.occur(kubelet(p, "Created", "Created container "+p.app.container(), false), t)
	t = t.Add(s.g.dur(100*time.Millisecond, 700*time.Millisecond))
	s.occur(kubelet(p, "Started", "Started container "+p.app.container(), false), t)
	return t
}

func (s *sim) backOffMsg(p *pod) string {
	return fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s(%s)", p.app.container(), p.name(), p.ns(), p.obj.UID)
}

// crash describes how a crash-looping container dies.
type crash struct {
	reason string
	exit   int32
	runFor func(run int) time.Duration
	// before is called with the time of each death: the logs the
	// application writes on its way down.
	before func(p *pod, at time.Time, run int)
}

// crashLoop runs p's container from `start` (already running) through
// crashes and back-off restarts until `until`. It returns the death times.
func (s *sim) crashLoop(p *pod, start, until time.Time, c crash) []time.Time {
	var deaths []time.Time
	backoff := 10 * time.Second
	t := start
	for run := 0; ; run++ {
		die := t.Add(c.runFor(run))
		if die.After(until) {
			break
		}
		if c.before != nil {
			c.before(p, die, run)
		}
		s.terminate(p, die, c.reason, c.exit, die.Sub(t), false)
		deaths = append(deaths, die)
		s.topoPod(die.Add(s.g.dur(100*time.Millisecond, time.Second)), p)
		next := die.Add(backoff + s.g.dur(0, 3*time.Second))
		// The kubelet reports the back-off on its syncs while it waits.
		bo := die.Add(s.g.dur(500*time.Millisecond, 3*time.Second))
		for bo.Before(next) && bo.Before(until) {
			s.occur(kubelet(p, "BackOff", s.backOffMsg(p), true), bo)
			bo = bo.Add(s.g.dur(15*time.Second, 70*time.Second))
		}
		if next.After(until) {
			break
		}
		t = s.restart(p, next)
		backoff = min(2*backoff, 5*time.Minute)
	}
	return deaths
}

// probeFailures: the kubelet's probe of kind (Readiness, Liveness) fails on
// p every period from `from` for n times; returns the failure times.
func (s *sim) probeFailures(p *pod, kind, msg string, from time.Time, n int, period time.Duration) []time.Time {
	var out []time.Time
	t := from
	for range n {
		out = append(out, t)
		t = t.Add(period + s.g.dur(0, 900*time.Millisecond))
	}
	s.occur(kubelet(p, "Unhealthy", kind+" probe failed: "+msg, true), out...)
	if n > 3 {
		p.hit(from)
	}
	return out
}

// readinessMsgs are the kubelet's messages for a readiness probe that fails
// because the application reports itself unready or is too slow to answer.
func (s *sim) readinessMsg(p *pod) string {
	url := fmt.Sprintf("http://%s:%d%s", p.ip(), p.app.port, p.app.probePath)
	return pick(s.g, []string{
		"HTTP probe failed with statuscode: 503",
		"HTTP probe failed with statuscode: 500",
		fmt.Sprintf("Get %q: context deadline exceeded (Client.Timeout exceeded while awaiting headers)", url),
	})
}

// setReady changes p's readiness (the EndpointSlice follows; the Service's
// topology keeps listing it either way).
func (s *sim) setReady(p *pod, ready bool) { p.ready = ready }
