package simulate

import (
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kgrca/kgplane/agent/topology"
)

// Background noise: what a cluster does besides the incident. Routine
// churn (scaling, rollouts, jobs, readiness blips that recover, request
// logs) everywhere, and unrelated warnings in namespaces no incident uses
// (a transient probe failure, one crash and back-off, a DNS timeout that
// recovers, a pod that waits for room). level scales it; 0 is none.
func (s *sim) noise(from, to time.Time, level float64) {
	if level <= 0 {
		return
	}
	span := to.Sub(from)
	s.noiseEvents(from, to, level)
	// Request and housekeeping logs of every running pod, last: the churn
	// above decided which pods exist when.
	for _, a := range s.allApps() {
		for _, p := range a.pods {
			if p.node == nil {
				continue
			}
			every := s.g.dur(40*time.Second, 150*time.Second)
			n := int(level * float64(span) / float64(every))
			for range n {
				t := from.Add(s.g.dur(0, span))
				if p.fine(t) {
					if s.g.chance(0.07) {
						s.log(p, t, s.warnLine(p, t))
					} else {
						s.log(p, t, s.infoLine(p, t))
					}
				}
			}
		}
	}
}

func (s *sim) noiseEvents(from, to time.Time, level float64) {
	span := to.Sub(from)
	quiet := s.quietNamespaces()
	count := func(base float64) int { return int(math.Round(level * base * s.g.float(0.5, 1.5))) }
	at := func() time.Time { return from.Add(s.g.dur(30*time.Second, max(span-time.Minute, 31*time.Second))) }
	for range count(1.5) {
		s.noiseScale(pick(s.g, s.churnApps()), at())
	}
	for range count(0.7) {
		if a := s.churnApps(); len(a) > 0 {
			s.noiseRollout(pick(s.g, a), at())
		}
	}
	for range count(0.8) {
		s.noiseCronJob(pick(s.g, s.namespaces), at())
	}
	for range count(2) {
		if t := at(); s.fineAt(s.servicePods(quiet), t) != nil {
			s.noiseReadinessBlip(s.fineAt(s.servicePods(quiet), t), t)
		}
	}
	if len(quiet) == 0 {
		return
	}
	for range count(1) {
		if t := at(); s.fineAt(s.servicePods(quiet), t) != nil {
			s.noiseLivenessBlip(s.fineAt(s.servicePods(quiet), t), t)
		}
	}
	for range count(1) {
		if t := at(); s.fineAt(s.servicePods(quiet), t) != nil {
			s.noiseCrashOnce(s.fineAt(s.servicePods(quiet), t), t)
		}
	}
	for range count(1.2) {
		if t := at(); s.fineAt(s.servicePods(quiet), t) != nil {
			s.noiseDNSTimeout(s.fineAt(s.servicePods(quiet), t), t)
		}
	}
	for range count(0.6) {
		s.noisePending(pick(s.g, quiet), at())
	}
	for range count(0.6) {
		s.noiseMountRetry(pick(s.g, quiet), at())
	}
}

// fineAt picks a pod of ps that runs untroubled at t (nil when none does).
func (s *sim) fineAt(ps []*pod, t time.Time) *pod {
	var ok []*pod
	for _, p := range ps {
		if p.fine(t) && p.fine(t.Add(3*time.Minute)) {
			ok = append(ok, p)
		}
	}
	if len(ok) == 0 {
		return nil
	}
	return pick(s.g, ok)
}

func (s *sim) quietNamespaces() []*namespace {
	var out []*namespace
	for _, ns := range s.namespaces {
		if !ns.taken {
			out = append(out, ns)
		}
	}
	return out
}

// churnApps are Deployments no incident touches.
func (s *sim) churnApps() []*app {
	var out []*app
	for _, ns := range s.quietNamespaces() {
		for _, a := range ns.apps {
			if a.kind == "Deployment" {
				out = append(out, a)
			}
		}
	}
	if len(out) == 0 {
		for _, ns := range s.namespaces {
			for _, a := range ns.apps {
				if a.kind == "Deployment" && a.front {
					out = append(out, a)
				}
			}
		}
	}
	return out
}

func (s *sim) servicePods(nss []*namespace) []*pod {
	var out []*pod
	for _, ns := range nss {
		for _, a := range ns.apps {
			if a.store == "" {
				out = append(out, a.livePods()...)
			}
		}
	}
	if len(out) == 0 {
		out = s.dns.livePods()
	}
	return out
}

func (s *sim) noiseScale(a *app, t time.Time) {
	hpa := objRef("HorizontalPodAutoscaler", "autoscaling/v2", a.ns, a.name, s.g.uid())
	cur := len(a.livePods())
	if cur > 1 && s.g.chance(0.4) {
		s.occur(controller(hpa, "horizontal-pod-autoscaler", "SuccessfulRescale", fmt.Sprintf("New size: %d; reason: All metrics below target", cur-1), false), t)
		s.occur(controller(objRef("Deployment", "apps/v1", a.ns, a.name, a.uid), "deployment-controller", "ScalingReplicaSet", fmt.Sprintf("Scaled down replica set %s from %d to %d", a.rs.name, cur, cur-1), false), t.Add(100*time.Millisecond))
		p := a.livePods()[cur-1]
		s.occur(controller(objRef("ReplicaSet", "apps/v1", a.ns, a.rs.name, a.rs.uid), "replicaset-controller", "SuccessfulDelete", "Deleted pod: "+p.name(), false), t.Add(200*time.Millisecond))
		s.occur(kubelet(p, "Killing", "Stopping container "+a.container(), false), t.Add(s.g.dur(300*time.Millisecond, time.Second)))
		s.deletePod(t.Add(s.g.dur(2*time.Second, 30*time.Second)), p)
		return
	}
	s.occur(controller(hpa, "horizontal-pod-autoscaler", "SuccessfulRescale", fmt.Sprintf("New size: %d; reason: cpu resource utilization (percentage of request) above target", cur+1), false), t)
	s.occur(controller(objRef("Deployment", "apps/v1", a.ns, a.name, a.uid), "deployment-controller", "ScalingReplicaSet", fmt.Sprintf("Scaled up replica set %s from %d to %d", a.rs.name, cur, cur+1), false), t.Add(100*time.Millisecond))
	p := s.newPod(a, a.rs, nil, cur)
	s.createPod(p, t.Add(200*time.Millisecond))
	s.startPod(p, s.otherNode(nil), t.Add(s.g.dur(300*time.Millisecond, 2*time.Second)), false)
}

func (s *sim) noiseRollout(a *app, t time.Time) {
	old := a.livePods()
	oldRS := a.rs
	image := bumpVersion(s.g, a.image)
	rs := s.newRS(a, image)
	a.oldRS, a.rs = append(a.oldRS, a.rs), rs
	s.topoRS(t, a, rs)
	dep := objRef("Deployment", "apps/v1", a.ns, a.name, a.uid)
	for i, o := range old {
		s.occur(controller(dep, "deployment-controller", "ScalingReplicaSet", fmt.Sprintf("Scaled up replica set %s from %d to %d", rs.name, i, i+1), false), t)
		p := s.newPod(a, rs, nil, i)
		s.createPod(p, t.Add(100*time.Millisecond))
		ready := s.startPod(p, s.otherNode(nil), t.Add(s.g.dur(300*time.Millisecond, 2*time.Second)), i == 0)
		t = ready.Add(s.g.dur(3*time.Second, 20*time.Second))
		s.occur(controller(dep, "deployment-controller", "ScalingReplicaSet", fmt.Sprintf("Scaled down replica set %s from %d to %d", oldRS.name, len(old)-i, len(old)-i-1), false), t)
		s.occur(controller(objRef("ReplicaSet", "apps/v1", a.ns, oldRS.name, oldRS.uid), "replicaset-controller", "SuccessfulDelete", "Deleted pod: "+o.name(), false), t.Add(50*time.Millisecond))
		s.occur(kubelet(o, "Killing", "Stopping container "+a.container(), false), t.Add(s.g.dur(200*time.Millisecond, time.Second)))
		s.deletePod(t.Add(s.g.dur(2*time.Second, 30*time.Second)), o)
	}
}

func (s *sim) noiseCronJob(ns *namespace, t time.Time) {
	name := pick(s.g, jobPool)
	jobName := fmt.Sprintf("%s-%d", name, t.Unix()/60)
	a := &app{ns: ns.name, name: jobName, lang: pick(s.g, []string{"python", "go"}), kind: "Job", uid: s.g.uid(), image: imageName(s.g, s.registry, name), port: 8080, probePath: "/"}
	s.occur(controller(objRef("CronJob", "batch/v1", ns.name, name, s.g.uid()), "cronjob-controller", "SuccessfulCreate", "Created job "+jobName, false), t)
	s.topo(t.Add(30*time.Millisecond), topology.Workload("Job", &metav1.ObjectMeta{Name: jobName, Namespace: ns.name, UID: types.UID(a.uid),
		OwnerReferences: []metav1.OwnerReference{{Kind: "CronJob", Name: name}}}).Scenario())
	p := s.newPod(a, nil, nil, 0)
	p.obj.Spec.RestartPolicy = corev1.RestartPolicyNever
	jobRef := objRef("Job", "batch/v1", ns.name, jobName, a.uid)
	s.occur(controller(jobRef, "job-controller", "SuccessfulCreate", "Created pod: "+p.name(), false), t.Add(100*time.Millisecond))
	s.topoPod(t.Add(120*time.Millisecond), p)
	started := s.startPod(p, s.otherNode(nil), t.Add(s.g.dur(300*time.Millisecond, 2*time.Second)), false)
	end := started.Add(s.g.dur(5*time.Second, 3*time.Minute))
	s.log(p, started.Add(time.Second), s.format(p, started.Add(time.Second), lvInfo, "processing batch"))
	s.log(p, end.Add(-time.Second), s.format(p, end.Add(-time.Second), lvInfo, fmt.Sprintf("done: %d records in %s", s.g.between(10, 90000), end.Sub(started).Round(time.Second))))
	s.terminate(p, end, "Completed", 0, end.Sub(started), true)
	s.topoPod(end.Add(300*time.Millisecond), p)
	s.occur(controller(jobRef, "job-controller", "Completed", "Job completed", false), end.Add(s.g.dur(500*time.Millisecond, 3*time.Second)))
	s.occur(controller(objRef("CronJob", "batch/v1", ns.name, name, s.g.uid()), "cronjob-controller", "SawCompletedJob", "Saw completed job: "+jobName+", condition: Complete", false), end.Add(s.g.dur(3*time.Second, 6*time.Second)))
}

func (s *sim) noiseReadinessBlip(p *pod, t time.Time) {
	s.probeFailures(p, "Readiness", s.readinessMsg(p), t, s.g.between(1, 3), 10*time.Second)
}

func (s *sim) noiseLivenessBlip(p *pod, t time.Time) {
	url := fmt.Sprintf("http://%s:%d/healthz", p.ip(), p.app.port)
	s.probeFailures(p, "Liveness", fmt.Sprintf("Get %q: context deadline exceeded (Client.Timeout exceeded while awaiting headers)", url), t, 1, 10*time.Second)
}

func (s *sim) noiseCrashOnce(p *pod, t time.Time) {
	if p.obj.Status.ContainerStatuses[0].RestartCount > 0 {
		return
	}
	reason, exit := "Error", pick(s.g, []int32{1, 2, 143})
	if s.g.chance(0.3) {
		reason, exit = "OOMKilled", 137
	}
	s.terminate(p, t, reason, exit, s.g.dur(time.Hour, 72*time.Hour), false)
	p.hit(t)
	s.occur(kubelet(p, "BackOff", s.backOffMsg(p), true), t.Add(s.g.dur(500*time.Millisecond, 3*time.Second)))
	s.restart(p, t.Add(s.g.dur(10*time.Second, 13*time.Second)))
	p.ready = true
}

func (s *sim) noiseDNSTimeout(p *pod, t time.Time) {
	target := p.app.name
	if len(p.app.calls) > 0 {
		target = pick(s.g, p.app.calls).host(s.g)
	}
	msg := fmt.Sprintf("lookup %s on %s:53: read udp %s:%d->%s:53: i/o timeout; retrying", target, s.style.dnsIP, p.ip(), s.g.between(30000, 60000), s.style.dnsIP)
	s.log(p, t, s.format(p, t, lvWarn, msg))
	s.log(p, t.Add(s.g.dur(time.Second, 5*time.Second)), s.format(p, t, lvInfo, "retry succeeded"))
}

// noisePending: a new pod waits for room until another one leaves.
func (s *sim) noisePending(ns *namespace, t time.Time) {
	var apps []*app
	for _, a := range ns.apps {
		if a.kind == "Deployment" {
			apps = append(apps, a)
		}
	}
	if len(apps) == 0 {
		return
	}
	a := pick(s.g, apps)
	cur := len(a.livePods())
	s.occur(controller(objRef("Deployment", "apps/v1", a.ns, a.name, a.uid), "deployment-controller", "ScalingReplicaSet", fmt.Sprintf("Scaled up replica set %s from %d to %d", a.rs.name, cur, cur+1), false), t)
	p := s.newPod(a, a.rs, nil, cur)
	s.createPod(p, t.Add(100*time.Millisecond))
	var ts []time.Time
	wait := s.g.dur(20*time.Second, 2*time.Minute)
	for x := t.Add(time.Second); x.Before(t.Add(wait)); x = x.Add(s.g.dur(10*time.Second, 40*time.Second)) {
		ts = append(ts, x)
	}
	n := len(s.nodes)
	s.occur(s.scheduler(p, "FailedScheduling", fmt.Sprintf("0/%d nodes are available: %d Insufficient cpu. preemption: 0/%d nodes are available: %d No preemption victims found for incoming pod.", n, n, n, n), true), ts...)
	s.startPod(p, s.otherNode(nil), t.Add(wait), false)
}

// noiseMountRetry: a new pod's ConfigMap volume is not synced at once.
func (s *sim) noiseMountRetry(ns *namespace, t time.Time) {
	var apps []*app
	for _, a := range ns.apps {
		if a.kind == "Deployment" && a.configMap != "" {
			apps = append(apps, a)
		}
	}
	if len(apps) == 0 {
		return
	}
	a := pick(s.g, apps)
	cur := len(a.livePods())
	p := s.newPod(a, a.rs, nil, cur)
	s.occur(controller(objRef("Deployment", "apps/v1", a.ns, a.name, a.uid), "deployment-controller", "ScalingReplicaSet", fmt.Sprintf("Scaled up replica set %s from %d to %d", a.rs.name, cur, cur+1), false), t)
	s.createPod(p, t.Add(100*time.Millisecond))
	n := s.otherNode(nil)
	started := t.Add(s.g.dur(time.Second, 3*time.Second))
	s.bind(p, n)
	s.occur(kubelet(p, "FailedMount", `MountVolume.SetUp failed for volume "config" : failed to sync configmap cache: timed out waiting for the condition`, true), started.Add(s.g.dur(time.Second, 3*time.Second)))
	p.node, p.obj.Spec.NodeName = nil, ""
	s.startPod(p, n, started, false)
}
