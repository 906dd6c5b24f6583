package simulate

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kgrca/kgplane/scenario"
)

// A fault plays one incident in a namespace from onset and says what caused
// it (the ground truth) and what an operator would ask about.
type fault struct {
	name    string
	summary string
	// local faults stay inside their namespace, so one can run as a second,
	// concurrent incident elsewhere without touching the first.
	local bool
	run   func(s *sim, ns *namespace, onset time.Time) truth
}

type truth struct {
	root    scenario.Answer
	also    []scenario.Answer
	symptom string
}

func answer(rid string, signals ...string) scenario.Answer {
	return scenario.Answer{RID: rid, Signals: slices.Clone(signals)}
}

// also lists every pod but the first with the same signals.
func siblings(ps []*pod, signals ...string) []scenario.Answer {
	var out []scenario.Answer
	for _, p := range ps[1:] {
		out = append(out, answer(p.rid(), signals...))
	}
	return out
}

// crashSignals are what a crash at start-up can show as: the log's
// signature or severity (by language) and the agent's termination event.
var crashSignals = []string{"log:PANIC", "log:EXCEPTION", "log:CRASH", "log:CRITICAL", "log:ERROR", "Error"}

func (s *sim) incidentLength() time.Duration { return s.g.dur(6*time.Minute, 14*time.Minute) }

// pickApp is a service of ns (not a datastore) matching ok, preferring the
// ones with callers when callers is set.
func (s *sim) pickApp(ns *namespace, ok func(*app) bool) *app {
	var c []*app
	for _, a := range ns.apps {
		if a.store == "" && ok(a) {
			c = append(c, a)
		}
	}
	if len(c) == 0 {
		return pick(s.g, ns.apps)
	}
	return pick(s.g, c)
}

func (s *sim) callersOf(t *app) []*app {
	var out []*app
	for _, a := range s.allApps() {
		if slices.Contains(a.calls, t) {
			out = append(out, a)
		}
	}
	return out
}

var faults = []fault{
	{"oom-kill-loop", "a container exceeds its memory limit and is OOM-killed again and again (CrashLoopBackOff)", true, oomKillLoop},
	{"image-pull-failure", "a rollout points at an image that cannot be pulled (missing tag, private registry): ErrImagePull, ImagePullBackOff", true, imagePullFailure},
	{"node-failure", "a node stops reporting: NodeNotReady, its pods are evicted, some replacements cannot be scheduled", false, nodeFailure},
	{"missing-secret-configmap", "a rollout references a Secret or ConfigMap that does not exist: CreateContainerConfigError or FailedMount", true, missingConfigRef},
	{"liveness-probe-failure", "a hung application fails its liveness probe and is killed and restarted", true, livenessFailure},
	{"database-down", "a database crashes; its dependents log connection refused and fail readiness", true, databaseDown},
	{"bad-config-crashloop", "a bad ConfigMap value makes the service crash at start (stack trace, exit code 1, CrashLoopBackOff)", true, badConfigCrashloop},
	{"dns-outage", "CoreDNS crashes; callers across namespaces fail to resolve names and fail readiness", false, dnsOutage},
	{"pvc-unbound", "a PersistentVolumeClaim cannot be provisioned or attached; the pod that needs it stays Pending", true, pvcUnbound},
	{"node-pressure-eviction", "a node runs low on memory or disk; the kubelet evicts pods", false, nodePressure},
	{"dependency-unavailable", "an upstream service's pods all crash-loop (or are scaled to zero); callers get connection refused and fail readiness", true, dependencyUnavailable},
	{"job-backoff-limit", "a Job's pod fails on every attempt until the Job hits its backoff limit", true, jobBackoffLimit},
	{"bad-rollout", "a new version crashes at start (or never becomes ready) while the old ReplicaSet keeps serving; the rollout is stuck", true, badRollout},
}

// ---------------------------------------------------------------------------

func oomKillLoop(s *sim, ns *namespace, onset time.Time) truth {
	a := s.pickApp(ns, func(a *app) bool { return a.lang != "nginx" })
	if s.g.chance(0.15) && len(ns.stores) > 0 {
		if st := pick(s.g, ns.stores); st.store == "redis" || st.store == "mongodb" {
			a = st
		}
	}
	pods := a.livePods()
	if s.g.chance(0.6) || len(pods) == 1 {
		pods = pickN(s.g, pods, 1)
	}
	until := onset.Add(s.incidentLength())
	leak := s.g.chance(0.5)
	logsOOM := s.g.chance(0.6)
	for i, p := range pods {
		first := onset.Add(time.Duration(i) * s.g.dur(5*time.Second, 90*time.Second))
		if leak {
			for k, t := 0, first.Add(-s.g.dur(2*time.Minute, 5*time.Minute)); t.Before(first); k++ {
				s.log(p, t, s.memoryWarnLine(p, t, 80+min(k*3, 19)))
				t = t.Add(s.g.dur(20*time.Second, 70*time.Second))
			}
		}
		start := first.Add(-s.g.dur(10*time.Second, 40*time.Second))
		s.crashLoop(p, start, until, crash{reason: "OOMKilled", exit: 137,
			runFor: func(run int) time.Duration {
				if run == 0 {
					return first.Sub(start)
				}
				return s.g.dur(15*time.Second, 3*time.Minute)
			},
			before: func(p *pod, at time.Time, run int) {
				if logsOOM && s.g.chance(0.8) {
					s.log(p, at.Add(-s.g.dur(50*time.Millisecond, 900*time.Millisecond)), s.oomLine(p, at))
				}
			}})
	}
	if len(pods) == len(a.livePods()) && a.svc != nil {
		s.callersComplain(a, onset.Add(20*time.Second), until, false)
	}
	sig := []string{"OOMKilled", "log:OOM"}
	return truth{root: answer(pods[0].rid(), sig...), also: siblings(pods, sig...), symptom: pods[0].rid()}
}

// callersComplain: the callers of t log connection refused while t is
// down, and (readiness=true) fail their readiness probes. It returns the
// pods that failed readiness.
func (s *sim) callersComplain(t *app, from, until time.Time, readiness bool) []*pod {
	var unready []*pod
	for _, c := range s.callersOf(t) {
		for _, p := range c.livePods() {
			for tm := from.Add(s.g.dur(0, 20*time.Second)); tm.Before(until); tm = tm.Add(s.g.dur(8*time.Second, 60*time.Second)) {
				s.log(p, tm, s.connRefusedLine(p, tm, t))
			}
			if readiness {
				n := int(until.Sub(from)/(10*time.Second)) - s.g.between(0, 6)
				s.probeFailures(p, "Readiness", s.readinessMsg(p), from.Add(s.g.dur(5*time.Second, 40*time.Second)), max(3, n), 10*time.Second)
				s.setReady(p, false)
				unready = append(unready, p)
			}
		}
	}
	return unready
}

// rollout starts a new ReplicaSet of a with image and returns its first
// `surge` pods, created and scheduled (not started).
func (s *sim) rollout(a *app, image string, at time.Time, surge int) []*pod {
	rs := s.newRS(a, image)
	a.oldRS = append(a.oldRS, a.rs)
	old := a.rs
	a.rs = rs
	s.topoRS(at, a, rs)
	s.occur(controller(objRef("Deployment", "apps/v1", a.ns, a.name, a.uid), "deployment-controller", "ScalingReplicaSet",
		fmt.Sprintf("Scaled up replica set %s from 0 to %d", rs.name, surge), false), at)
	_ = old
	var out []*pod
	for i := range surge {
		p := s.newPod(a, rs, nil, i)
		s.createPod(p, at.Add(s.g.dur(50*time.Millisecond, 400*time.Millisecond)))
		out = append(out, p)
	}
	return out
}

func imagePullFailure(s *sim, ns *namespace, onset time.Time) truth {
	a := s.pickApp(ns, func(a *app) bool { return a.kind == "Deployment" })
	bad := bumpVersion(s.g, a.image)
	var why string
	switch s.g.intn(3) {
	case 0:
		why = fmt.Sprintf("rpc error: code = NotFound desc = failed to pull and unpack image %q: failed to resolve reference %q: %s: not found", "docker.io/"+bad, "docker.io/"+bad, "docker.io/"+bad)
		bad = "docker.io/" + bad[len(s.registry)+1:]
	case 1:
		why = fmt.Sprintf("failed to pull and unpack image %q: failed to resolve reference %q: pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed", bad, bad)
	default:
		why = fmt.Sprintf("rpc error: code = NotFound desc = failed to pull and unpack image %q: failed to resolve reference %q: %s: not found", bad, bad, bad)
	}
	until := onset.Add(s.incidentLength())
	pods := s.rollout(a, bad, onset, s.g.between(1, 2))
	for _, p := range pods {
		p.obj.Spec.Containers[0].Image = bad
		n := s.nodes[s.g.intn(len(s.nodes))]
		at := onset.Add(s.g.dur(200*time.Millisecond, 2*time.Second))
		s.bind(p, n)
		s.occur(s.scheduler(p, "Scheduled", fmt.Sprintf("Successfully assigned %s/%s to %s", p.ns(), p.name(), n.name), false), at)
		s.topoPod(at.Add(300*time.Millisecond), p)
		backoff := 10 * time.Second
		for t := at.Add(s.g.dur(500*time.Millisecond, 2*time.Second)); t.Before(until); {
			s.occur(kubelet(p, "Pulling", fmt.Sprintf("Pulling image %q", bad), false), t)
			t = t.Add(s.g.dur(300*time.Millisecond, 3*time.Second))
			s.occur(kubelet(p, "Failed", fmt.Sprintf("Failed to pull image %q: %s", bad, why), true), t)
			s.occur(kubelet(p, "Failed", "Error: ErrImagePull", true), t.Add(5*time.Millisecond))
			next := t.Add(backoff)
			for bo := t.Add(s.g.dur(time.Second, 4*time.Second)); bo.Before(next) && bo.Before(until); bo = bo.Add(s.g.dur(10*time.Second, 40*time.Second)) {
				s.occur(kubelet(p, "BackOff", fmt.Sprintf("Back-off pulling image %q", bad), false), bo)
				s.occur(kubelet(p, "Failed", "Error: ImagePullBackOff", true), bo.Add(3*time.Millisecond))
			}
			t = next
			backoff = min(2*backoff, 5*time.Minute)
		}
	}
	sig := []string{"ErrImagePull", "ImagePullBackOff"}
	return truth{root: answer(pods[0].rid(), sig...), also: siblings(pods, sig...), symptom: pods[0].rid()}
}

func nodeFailure(s *sim, ns *namespace, onset time.Time) truth {
	// The node that runs the most of the namespace's service pods.
	count := map[*node]int{}
	for _, a := range ns.apps {
		for _, p := range a.livePods() {
			if a.kind == "Deployment" {
				count[p.node]++
			}
		}
	}
	var n *node
	for _, c := range s.nodes {
		if n == nil || count[c] > count[n] {
			n = c
		}
	}
	if count[n] == 0 { // make sure something of ns runs there
		a := s.pickApp(ns, func(a *app) bool { return a.kind == "Deployment" })
		p := a.livePods()[0]
		p.node, p.obj.Spec.NodeName = n, n.name
	}
	n.down = true
	until := onset.Add(s.incidentLength())
	notReady := onset.Add(s.g.dur(38*time.Second, 55*time.Second))
	s.occur(controller(nodeRef(n, false), "node-controller", "NodeNotReady", fmt.Sprintf("Node %s status is now: NodeNotReady", n.name), false), notReady)
	victims := s.podsOn(n)
	evict := notReady.Add(5*time.Minute + s.g.dur(0, 20*time.Second))
	if s.g.chance(0.4) { // a shorter toleration set on the workloads
		evict = notReady.Add(s.g.dur(30*time.Second, 2*time.Minute))
	}
	var stuck []*pod
	others := 0
	for _, c := range s.nodes {
		if !c.down {
			others++
		}
	}
	res := pick(s.g, []string{"memory", "cpu"})
	for _, v := range victims {
		s.occur(controller(podRef(v, false), "node-controller", "NodeNotReady", "Node is not ready", true), notReady.Add(s.g.dur(10*time.Millisecond, 400*time.Millisecond)))
		s.setReady(v, false)
		v.hit(onset)
		if v.app.kind == "DaemonSet" {
			continue // tolerates unreachable nodes
		}
		at := evict.Add(s.g.dur(0, 2*time.Second))
		s.occur(controller(podRef(v, false), "taint-eviction-controller", "TaintManagerEviction", "Marking for deletion Pod "+v.ns()+"/"+v.name(), false), at)
		if v.app.kind == "StatefulSet" {
			continue // not replaced while its old pod still exists
		}
		// The pod stays Terminating (its kubelet cannot confirm); the
		// ReplicaSet replaces it at once.
		r := s.newPod(v.app, v.app.rs, nil, 0)
		s.createPod(r, at.Add(s.g.dur(100*time.Millisecond, time.Second)))
		if v.app.ns == ns.name && (len(stuck) == 0 || s.g.chance(0.5)) {
			stuck = append(stuck, r)
			msg := fmt.Sprintf("0/%d nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, %d Insufficient %s. preemption: 0/%d nodes are available: 1 Preemption is not helpful for scheduling, %d No preemption victims found for incoming pod.",
				len(s.nodes), others, res, len(s.nodes), others)
			var ts []time.Time
			for t := at.Add(s.g.dur(time.Second, 3*time.Second)); t.Before(until); t = t.Add(s.g.dur(30*time.Second, 2*time.Minute)) {
				ts = append(ts, t)
			}
			s.occur(s.scheduler(r, "FailedScheduling", msg, true), ts...)
			continue
		}
		s.startPod(r, s.otherNode(n), at.Add(s.g.dur(time.Second, 5*time.Second)), false)
	}
	if len(stuck) == 0 {
		panic("node-failure: no replacement in the incident namespace") // the node was chosen for its pods of ns
	}
	return truth{root: answer("Node//"+n.name, "NodeNotReady"), symptom: stuck[0].rid()}
}

func missingConfigRef(s *sim, ns *namespace, onset time.Time) truth {
	a := s.pickApp(ns, func(a *app) bool { return a.kind == "Deployment" })
	kind := pick(s.g, []string{"Secret", "ConfigMap"})
	name := a.name + pick(s.g, []string{"-credentials", "-config-v2", "-api-keys", "-settings", "-tls", "-env"})
	mount := s.g.chance(0.45)
	until := onset.Add(s.incidentLength())
	pods := s.rollout(a, a.image, onset, s.g.between(1, 2))
	for _, p := range pods {
		c := &p.obj.Spec.Containers[0]
		switch {
		case mount && kind == "Secret":
			p.obj.Spec.Volumes = append(p.obj.Spec.Volumes, corev1.Volume{Name: "extra", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name}}})
		case mount:
			p.obj.Spec.Volumes = append(p.obj.Spec.Volumes, corev1.Volume{Name: "extra", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}})
		case kind == "Secret":
			c.Env = append(c.Env, corev1.EnvVar{Name: "API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "api-key"}}})
		default:
			c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}})
		}
		n := s.nodes[s.g.intn(len(s.nodes))]
		at := onset.Add(s.g.dur(200*time.Millisecond, 2*time.Second))
		s.bind(p, n)
		p.ready = false
		s.occur(s.scheduler(p, "Scheduled", fmt.Sprintf("Successfully assigned %s/%s to %s", p.ns(), p.name(), n.name), false), at)
		s.topoPod(at.Add(300*time.Millisecond), p)
		lower := map[string]string{"Secret": "secret", "ConfigMap": "configmap"}[kind]
		if mount {
			var ts []time.Time
			backoff := 500 * time.Millisecond
			for t := at.Add(s.g.dur(100*time.Millisecond, time.Second)); t.Before(until); t = t.Add(backoff) {
				ts = append(ts, t)
				backoff = min(2*backoff, 2*time.Minute+2*time.Second)
			}
			s.occur(kubelet(p, "FailedMount", fmt.Sprintf("MountVolume.SetUp failed for volume %q : %s %q not found", "extra", lower, name), true), ts...)
			var to []time.Time
			for t := at.Add(2*time.Minute + s.g.dur(0, 10*time.Second)); t.Before(until); t = t.Add(2*time.Minute + s.g.dur(0, 15*time.Second)) {
				to = append(to, t)
			}
			s.occur(kubelet(p, "FailedMount", fmt.Sprintf("Unable to attach or mount volumes: unmounted volumes=[extra], unattached volumes=[], failed to process volumes=[extra]: timed out waiting for the condition"), true), to...)
			continue
		}
		image := c.Image
		var ts []time.Time
		for t := at.Add(s.g.dur(500*time.Millisecond, 2*time.Second)); t.Before(until); t = t.Add(s.g.dur(10*time.Second, 75*time.Second)) {
			ts = append(ts, t)
		}
		s.occur(kubelet(p, "Pulled", fmt.Sprintf("Container image %q already present on machine", image), false), ts...)
		for i := range ts {
			ts[i] = ts[i].Add(30 * time.Millisecond)
		}
		s.occur(kubelet(p, "Failed", fmt.Sprintf("Error: %s %q not found", lower, name), true), ts...)
	}
	sig := []string{"CreateContainerConfigError", "FailedMount"}
	also := append(siblings(pods, sig...), answer(kind+"/"+ns.name+"/"+name, sig...))
	return truth{root: answer(pods[0].rid(), sig...), also: also, symptom: pods[0].rid()}
}

func livenessFailure(s *sim, ns *namespace, onset time.Time) truth {
	a := s.pickApp(ns, func(a *app) bool { return a.lang != "nginx" })
	pods := a.livePods()
	if s.g.chance(0.6) || len(pods) == 1 {
		pods = pickN(s.g, pods, 1)
	}
	until := onset.Add(s.incidentLength())
	period := time.Duration(pick(s.g, []int{5, 10, 10, 15})) * time.Second
	threshold := pick(s.g, []int{3, 3, 5})
	for i, p := range pods {
		hang := onset.Add(time.Duration(i) * s.g.dur(10*time.Second, 2*time.Minute))
		url := fmt.Sprintf("http://%s:%d%s", p.ip(), a.port, pick(s.g, []string{"/healthz", "/livez", "/actuator/health/liveness", "/health"}))
		msg := pick(s.g, []string{
			fmt.Sprintf("Get %q: context deadline exceeded (Client.Timeout exceeded while awaiting headers)", url),
			fmt.Sprintf("Get %q: context deadline exceeded (Client.Timeout exceeded while awaiting headers)", url),
			"HTTP probe failed with statuscode: 500",
		})
		warns := []string{"request queue full (512 pending); rejecting", "worker pool exhausted: 200/200 busy", "event loop blocked for 4210ms", "waiting for lock on 'orders' held for 31s"}
		t := hang
		backoff := 10 * time.Second
		for t.Before(until) {
			s.log(p, t.Add(-s.g.dur(time.Second, 20*time.Second)), s.format(p, t, lvWarn, pick(s.g, warns)))
			fails := s.probeFailures(p, "Liveness", msg, t, threshold, period)
			if s.g.chance(0.7) {
				s.probeFailures(p, "Readiness", msg, t.Add(s.g.dur(time.Second, 4*time.Second)), threshold, period)
			}
			kill := fails[len(fails)-1].Add(s.g.dur(10*time.Millisecond, 300*time.Millisecond))
			s.occur(kubelet(p, "Killing", fmt.Sprintf("Container %s failed liveness probe, will be restarted", a.container()), false), kill)
			grace := s.g.dur(2*time.Second, 30*time.Second)
			s.terminate(p, kill.Add(grace), "Error", pick(s.g, []int32{137, 143}), kill.Add(grace).Sub(hang), false)
			next := kill.Add(grace).Add(s.g.dur(500*time.Millisecond, 2*time.Second))
			if s.g.chance(0.5) { // restarted too often: back-off first
				for bo := next; bo.Before(next.Add(backoff)); bo = bo.Add(s.g.dur(15*time.Second, 50*time.Second)) {
					s.occur(kubelet(p, "BackOff", s.backOffMsg(p), true), bo)
				}
				next = next.Add(backoff)
				backoff = min(2*backoff, 5*time.Minute)
			}
			if next.After(until) {
				break
			}
			started := s.restart(p, next)
			hang = started.Add(s.g.dur(20*time.Second, 3*time.Minute))
			t = hang
		}
	}
	sig := []string{"Unhealthy", "Killing"}
	return truth{root: answer(pods[0].rid(), sig...), also: siblings(pods, sig...), symptom: pods[0].rid()}
}

// storeCrash makes a datastore's pod(s) crash-loop from onset in one of
// the ways databases go down; it returns the pods and their signals.
func (s *sim) storeCrash(st *app, onset, until time.Time) ([]*pod, []string) {
	pods := st.livePods()[:1]
	p := pods[0]
	mode := s.g.intn(3)
	var c crash
	var sig []string
	switch mode {
	case 0: // out of memory
		sig = []string{"OOMKilled", "log:OOM", "BackOff"}
		c = crash{reason: "OOMKilled", exit: 137, runFor: func(run int) time.Duration { return s.g.dur(20*time.Second, 2*time.Minute) },
			before: func(p *pod, at time.Time, run int) {
				if s.g.chance(0.5) {
					s.log(p, at.Add(-s.g.dur(100*time.Millisecond, 2*time.Second)), s.oomLine(p, at))
				}
			}}
	case 1: // disk full
		sig = []string{"Error", "log:PANIC", "log:CRITICAL", "log:ERROR", "BackOff"}
		c = crash{reason: "Error", exit: pick(s.g, []int32{1, 2, 134}), runFor: func(run int) time.Duration { return s.g.dur(3*time.Second, 40*time.Second) },
			before: func(p *pod, at time.Time, run int) {
				s.log(p, at.Add(-s.g.dur(10*time.Millisecond, 500*time.Millisecond)), s.diskFullLine(p, at))
			}}
	default: // corrupted data, the process aborts at start
		sig = []string{"Error", "log:PANIC", "log:CRITICAL", "log:ERROR", "log:CRASH", "BackOff"}
		c = crash{reason: "Error", exit: pick(s.g, []int32{1, 134, 139}), runFor: func(run int) time.Duration { return s.g.dur(2*time.Second, 15*time.Second) },
			before: func(p *pod, at time.Time, run int) {
				s.log(p, at.Add(-s.g.dur(10*time.Millisecond, 300*time.Millisecond)), s.corruptLine(p, at))
			}}
	}
	start := onset.Add(-s.g.dur(5*time.Second, time.Minute))
	first := true
	c0 := c.runFor
	c.runFor = func(run int) time.Duration {
		if first {
			first = false
			return onset.Sub(start)
		}
		return c0(run)
	}
	s.crashLoop(p, start, until, c)
	if s.g.chance(0.5) {
		s.probeFailures(p, "Readiness", pick(s.g, []string{"command \"pg_isready -U app\" timed out", "HTTP probe failed with statuscode: 503", fmt.Sprintf("dial tcp %s:%d: connect: connection refused", p.ip(), st.port)}), onset.Add(s.g.dur(time.Second, 10*time.Second)), s.g.between(3, 12), 10*time.Second)
	}
	return pods, sig
}

func (s *sim) diskFullLine(p *pod, at time.Time) logLine {
	switch p.app.store {
	case "postgres":
		return s.format(p, at, lvFatal, fmt.Sprintf("could not write to file \"pg_wal/xlogtemp.%d\": No space left on device", s.g.between(30, 900)))
	case "mysql":
		return s.format(p, at, lvError, "[InnoDB] Operating system error number 28 in a file operation. Error number 28 means 'No space left on device'")
	case "redis":
		return s.format(p, at, lvError, "Write error saving DB on disk: No space left on device")
	}
	return s.format(p, at, lvFatal, "No space left on device")
}

func (s *sim) corruptLine(p *pod, at time.Time) logLine {
	switch p.app.store {
	case "postgres":
		return logLine{text: fmt.Sprintf("%s UTC [1] PANIC:  could not locate a valid checkpoint record", at.UTC().Format("2006-01-02 15:04:05.000")), stderr: true}
	case "mysql":
		return s.format(p, at, lvError, "[InnoDB] Database page corruption on disk or a failed file read of tablespace app/orders page [page id: space=12, page number=4031]. You may have to recover from a backup.")
	case "redis":
		return s.format(p, at, lvError, "Bad file format reading the append only file appendonly.aof.1.incr.aof: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>")
	case "mongodb":
		return s.format(p, at, lvFatal, "Fatal assertion: WiredTiger metadata corruption detected")
	}
	return s.format(p, at, lvFatal, "fatal error: unexpected signal during runtime execution\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a2b1c]")
}

func databaseDown(s *sim, ns *namespace, onset time.Time) truth {
	st := pick(s.g, ns.stores)
	until := onset.Add(s.incidentLength())
	pods, sig := s.storeCrash(st, onset, until)
	unready := s.callersComplain(st, onset.Add(s.g.dur(time.Second, 15*time.Second)), until, true)
	symptom := ""
	if len(unready) > 0 {
		symptom = pick(s.g, unready).rid()
	}
	// Fronts whose backends went unready report it, and some fail their
	// own readiness (a readiness check that includes the backends).
	var hit []*app
	for _, p := range unready {
		if !slices.Contains(hit, p.app) {
			hit = append(hit, p.app)
		}
	}
	for _, f := range ns.fronts() {
		if !slices.ContainsFunc(f.calls, func(b *app) bool { return slices.Contains(hit, b) }) {
			continue
		}
		fails := s.g.chance(0.5)
		for _, p := range f.livePods() {
			for t := onset.Add(s.g.dur(20*time.Second, time.Minute)); t.Before(until); t = t.Add(s.g.dur(10*time.Second, 50*time.Second)) {
				b := pick(s.g, hit)
				s.log(p, t, s.format(p, t, lvError, fmt.Sprintf("upstream %s returned 503 Service Unavailable for %s", b.name, pick(s.g, routePool)), "upstream", b.host(s.g), "status", "503"))
			}
			if fails {
				s.probeFailures(p, "Readiness", "HTTP probe failed with statuscode: 503", onset.Add(s.g.dur(40*time.Second, 90*time.Second)), s.g.between(6, 30), 10*time.Second)
				symptom = p.rid()
			}
		}
	}
	if symptom == "" {
		symptom = s.callersOf(st)[0].livePods()[0].rid()
	}
	return truth{root: answer(pods[0].rid(), sig...), symptom: symptom}
}

func badConfigCrashloop(s *sim, ns *namespace, onset time.Time) truth {
	a := s.pickApp(ns, func(a *app) bool { return a.kind == "Deployment" && a.lang != "nginx" && a.configMap != "" })
	live := !s.g.chance(0.6) // the service reloads its config in place instead of a rollout restart
	if a.configMap == "" {
		// Its pods mount no ConfigMap yet: a rollout adds one.
		a.configMap = a.name + "-config"
		live = false
	}
	until := onset.Add(s.incidentLength())
	var pods []*pod
	if live {
		pods = a.livePods()
	} else {
		pods = s.rollout(a, a.image, onset, s.g.between(1, 2))
		for _, p := range pods {
			s.startPod(p, s.nodes[s.g.intn(len(s.nodes))], onset.Add(s.g.dur(300*time.Millisecond, 2*time.Second)), false)
		}
	}
	exit := pick(s.g, []int32{1, 1, 2, 255})
	for i, p := range pods {
		start := onset.Add(time.Duration(i)*s.g.dur(time.Second, 20*time.Second) + 3*time.Second)
		s.crashLoop(p, start, until, crash{reason: "Error", exit: exit,
			runFor: func(run int) time.Duration { return s.g.dur(400*time.Millisecond, 4*time.Second) },
			before: func(p *pod, at time.Time, run int) {
				for _, l := range s.crashLines(p, at.Add(-s.g.dur(20*time.Millisecond, 200*time.Millisecond)), true) {
					s.log(p, at, l)
				}
			}})
	}
	sig := crashSignals
	also := append(siblings(pods, sig...), answer("ConfigMap/"+ns.name+"/"+a.configMap, sig...))
	symptom := pods[0].rid()
	if live && a.svc != nil {
		if unready := s.callersComplain(a, onset.Add(10*time.Second), until, s.g.chance(0.6)); len(unready) > 0 {
			symptom = unready[0].rid()
		}
	}
	return truth{root: answer(pods[0].rid(), sig...), also: also, symptom: symptom}
}

func dnsOutage(s *sim, ns *namespace, onset time.Time) truth {
	until := onset.Add(s.incidentLength())
	dns := s.dns.livePods()
	mode := s.g.intn(3)
	var c crash
	var sig []string
	switch mode {
	case 0:
		sig = []string{"Error", "log:CRITICAL", "BackOff"}
		c = crash{reason: "Error", exit: 1, runFor: func(int) time.Duration { return s.g.dur(time.Second, 5*time.Second) },
			before: func(p *pod, at time.Time, run int) {
				s.log(p, at, s.format(p, at, lvFatal, fmt.Sprintf("plugin/loop: Loop (127.0.0.1:%d -> :53) detected for zone \".\", see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO %d.%d.\"", s.g.between(30000, 60000), s.g.between(1e8, 9e8), s.g.between(1e8, 9e8))))
			}}
	case 1:
		sig = []string{"OOMKilled", "BackOff"}
		c = crash{reason: "OOMKilled", exit: 137, runFor: func(int) time.Duration { return s.g.dur(10*time.Second, 90*time.Second) }}
	default:
		sig = []string{"Error", "log:ERROR", "log:CRITICAL", "BackOff"}
		c = crash{reason: "Error", exit: 1, runFor: func(int) time.Duration { return s.g.dur(300*time.Millisecond, 2*time.Second) },
			before: func(p *pod, at time.Time, run int) {
				s.log(p, at, s.format(p, at, lvError, fmt.Sprintf("Error during parsing: Unknown directive '%s'", pick(s.g, []string{"proxy", "upstream", "forwrad"}))))
			}}
	}
	for i, p := range dns {
		start := onset.Add(time.Duration(i) * s.g.dur(time.Second, 30*time.Second))
		s.crashLoop(p, start.Add(-s.g.dur(time.Second, 5*time.Second)), until, c)
	}
	// Callers: every service of the incident namespace that calls
	// anything, and some elsewhere; some fail readiness.
	var symptom string
	for _, other := range s.namespaces {
		if other != ns && !s.g.chance(0.5) {
			continue
		}
		for _, a := range other.apps {
			if len(a.calls) == 0 {
				continue
			}
			readiness := a.front || s.g.chance(0.5)
			for _, p := range a.livePods() {
				for t := onset.Add(s.g.dur(5*time.Second, 40*time.Second)); t.Before(until); t = t.Add(s.g.dur(6*time.Second, 50*time.Second)) {
					s.log(p, t, s.dnsFailLine(p, t, pick(s.g, a.calls)))
				}
				if readiness {
					s.probeFailures(p, "Readiness", s.readinessMsg(p), onset.Add(s.g.dur(20*time.Second, 80*time.Second)), s.g.between(5, 40), 10*time.Second)
					if other == ns && (symptom == "" || a.front) {
						symptom = p.rid()
					}
				}
			}
		}
	}
	if symptom == "" {
		symptom = ns.apps[0].livePods()[0].rid()
	}
	return truth{root: answer(dns[0].rid(), sig...), also: siblings(dns, sig...), symptom: symptom}
}
