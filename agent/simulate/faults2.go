package simulate

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kgrca/kgplane/agent/topology"
	"github.com/kgrca/kgplane/scenario"
)

func pvcUnbound(s *sim, ns *namespace, onset time.Time) truth {
	st := pick(s.g, ns.stores)
	until := onset.Add(s.incidentLength())
	if s.g.chance(0.35) && len(st.livePods()) > 0 {
		return multiAttach(s, st, onset, until)
	}
	// The StatefulSet is scaled up; the new replica's claim cannot be provisioned.
	ordinal := len(st.pods)
	st.replicas++
	p := s.newPod(st, nil, nil, ordinal)
	claim := st.pvc + "-" + p.name()
	s.occur(controller(objRef("StatefulSet", "apps/v1", st.ns, st.name, st.uid), "statefulset-controller", "SuccessfulCreate",
		fmt.Sprintf("create Claim %s Pod %s in StatefulSet %s success", claim, p.name(), st.name), false), onset)
	s.createPod(p, onset.Add(s.g.dur(20*time.Millisecond, 300*time.Millisecond)))
	pvcRef := objRef("PersistentVolumeClaim", "v1", st.ns, claim, s.g.uid())
	var ts []time.Time
	for t := onset.Add(s.g.dur(500*time.Millisecond, 3*time.Second)); t.Before(until); t = t.Add(s.g.dur(15*time.Second, 2*time.Minute)) {
		ts = append(ts, t)
	}
	sig := []string{"ProvisioningFailed", "FailedBinding"}
	sc := pick(s.g, []string{"fast-ssd", "gp3", "premium-rwo", "standard-rwo", "managed-csi-premium"})
	switch s.g.intn(3) {
	case 0:
		s.occur(controller(pvcRef, "persistentvolume-controller", "ProvisioningFailed", fmt.Sprintf("storageclass.storage.k8s.io %q not found", sc), true), ts...)
	case 1:
		prov := pick(s.g, []string{"ebs.csi.aws.com", "pd.csi.storage.gke.io", "disk.csi.azure.com"})
		s.occur(controller(pvcRef, "persistentvolume-controller", "ExternalProvisioning",
			fmt.Sprintf("Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.", prov), false), ts...)
		var fs []time.Time
		for _, t := range ts {
			fs = append(fs, t.Add(s.g.dur(time.Second, 10*time.Second)))
		}
		s.occur(controller(pvcRef, prov+"_"+prov[:3]+"-csi-controller-"+s.g.suffix(5), "ProvisioningFailed",
			fmt.Sprintf("failed to provision volume with StorageClass %q: rpc error: code = ResourceExhausted desc = %s", sc,
				pick(s.g, []string{"Could not create volume: VolumeLimitExceeded: You have exceeded your maximum gp3 storage limit of 50 TiB in this region", "Quota 'SSD_TOTAL_GB' exceeded. Limit: 4096.0 in region europe-west4.", "Operation could not be completed as it results in exceeding approved StandardSSDStorage quota"})), true), fs...)
	default:
		s.occur(controller(pvcRef, "persistentvolume-controller", "FailedBinding", "no persistent volumes available for this claim and no storage class is set", true), ts...)
	}
	var ps []time.Time
	for t := onset.Add(s.g.dur(time.Second, 4*time.Second)); t.Before(until); t = t.Add(s.g.dur(30*time.Second, 5*time.Minute)) {
		ps = append(ps, t)
	}
	s.occur(s.scheduler(p, "FailedScheduling", fmt.Sprintf("0/%d nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/%d nodes are available: %d Preemption is not helpful for scheduling.", len(s.nodes), len(s.nodes), len(s.nodes)), true), ps...)
	return truth{root: answer("PersistentVolumeClaim/"+st.ns+"/"+claim, sig...), symptom: p.rid()}
}

// multiAttach: a datastore pod is recreated on another node while its
// volume is still attached to the old one.
func multiAttach(s *sim, st *app, onset, until time.Time) truth {
	old := st.livePods()[0]
	s.occur(kubelet(old, "Killing", "Stopping container "+st.container(), false), onset)
	s.deletePod(onset.Add(s.g.dur(5*time.Second, 30*time.Second)), old)
	p := s.newPod(st, nil, nil, 0)
	p.obj.Name = old.name() // a StatefulSet pod keeps its name
	s.createPod(p, onset.Add(s.g.dur(31*time.Second, 40*time.Second)))
	at := onset.Add(s.g.dur(41*time.Second, 45*time.Second))
	s.bind(p, s.otherNode(old.node))
	p.ready = false
	s.occur(s.scheduler(p, "Scheduled", fmt.Sprintf("Successfully assigned %s/%s to %s", p.ns(), p.name(), p.node.name), false), at)
	s.topoPod(at.Add(200*time.Millisecond), p)
	vol := "pvc-" + s.g.uid()
	var ts []time.Time
	for t := at.Add(s.g.dur(time.Second, 3*time.Second)); t.Before(until); t = t.Add(s.g.dur(20*time.Second, 2*time.Minute)) {
		ts = append(ts, t)
	}
	s.occur(controller(podRef(p, false), "attachdetach-controller", "FailedAttachVolume",
		fmt.Sprintf("Multi-Attach error for volume %q Volume is already exclusively attached to one node and can't be attached to another", vol), true), ts...)
	var ms []time.Time
	for t := at.Add(2*time.Minute + s.g.dur(0, 10*time.Second)); t.Before(until); t = t.Add(2*time.Minute + s.g.dur(0, 20*time.Second)) {
		ms = append(ms, t)
	}
	s.occur(kubelet(p, "FailedMount", fmt.Sprintf("Unable to attach or mount volumes: unmounted volumes=[%s], unattached volumes=[%s %s]: timed out waiting for the condition", st.pvc, st.pvc, p.obj.Spec.Volumes[0].Name), true), ms...)
	sig := []string{"FailedAttachVolume", "FailedMount"}
	symptom := p.rid()
	if unready := s.callersComplain(st, onset.Add(s.g.dur(10*time.Second, 30*time.Second)), until, s.g.chance(0.5)); len(unready) > 0 && s.g.chance(0.5) {
		symptom = unready[0].rid()
	}
	return truth{root: answer(p.rid(), sig...), also: []scenario.Answer{answer("PersistentVolumeClaim/"+st.ns+"/"+st.pvc+"-"+p.name(), sig...)}, symptom: symptom}
}

func nodePressure(s *sim, ns *namespace, onset time.Time) truth {
	// The node with the most pods of the namespace; a hog there.
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
	until := onset.Add(s.incidentLength())
	disk := s.g.chance(0.4)
	var victims []*pod
	for _, p := range s.podsOn(n) {
		if p.app.kind == "Deployment" {
			victims = append(victims, p)
		}
	}
	if len(victims) < 2 { // bring a second service pod there
		a := s.pickApp(ns, func(a *app) bool { return a.kind == "Deployment" })
		p := s.newPod(a, a.rs, nil, 0)
		s.createPod(p, onset.Add(-s.g.dur(3*time.Minute, 5*time.Minute)))
		s.startPod(p, n, onset.Add(-s.g.dur(2*time.Minute, 3*time.Minute)), false)
		victims = append(victims, p)
	}
	shuffle(s.g, victims)
	hog := victims[0]
	var sig []string
	kubeletNode := func(reason, msg string, warning bool, at ...time.Time) {
		s.occur(ev{obj: nodeRef(n, true), reason: reason, msg: msg, warning: warning, comp: "kubelet", host: n.name, instance: n.name}, at...)
	}
	res := "memory"
	if disk {
		res = "ephemeral-storage"
		sig = []string{"NodeHasDiskPressure", "EvictionThresholdMet", "FreeDiskSpaceFailed", "ImageGCFailed"}
		for t := onset.Add(-s.g.dur(time.Minute, 3*time.Minute)); t.Before(until); t = t.Add(5 * time.Minute) {
			kubeletNode("FreeDiskSpaceFailed", fmt.Sprintf("Failed to garbage collect required amount of images. Attempted to free %d bytes, but only found 0 bytes eligible to free.", s.g.between(2e9, 9e9)), true, t)
			kubeletNode("ImageGCFailed", fmt.Sprintf("Failed to garbage collect required amount of images. Attempted to free %d bytes, but only found 0 bytes eligible to free.", s.g.between(2e9, 9e9)), true, t.Add(time.Millisecond))
		}
		kubeletNode("NodeHasDiskPressure", fmt.Sprintf("Node %s status is now: NodeHasDiskPressure", n.name), false, onset)
		s.log(hog, onset.Add(-time.Minute), s.format(hog, onset.Add(-time.Minute), lvWarn, "spooling upload buffer to /tmp: 11.2 GiB"))
	} else {
		sig = []string{"NodeHasInsufficientMemory", "EvictionThresholdMet"}
		kubeletNode("NodeHasInsufficientMemory", fmt.Sprintf("Node %s status is now: NodeHasInsufficientMemory", n.name), false, onset)
		for k, t := 0, onset.Add(-s.g.dur(2*time.Minute, 4*time.Minute)); t.Before(onset); k++ {
			s.log(hog, t, s.memoryWarnLine(hog, t, 70+min(4*k, 29)))
			t = t.Add(s.g.dur(20*time.Second, 50*time.Second))
		}
	}
	// The kubelet evicts the hog first, then others while pressure lasts.
	nEvict := s.g.between(2, min(4, len(victims)))
	t := onset.Add(s.g.dur(5*time.Second, 20*time.Second))
	var evicted []*pod
	for i, v := range victims[:nEvict] {
		var msg string
		if disk {
			msg = fmt.Sprintf("The node was low on resource: ephemeral-storage. Threshold quantity: %d, available: %dKi. ", s.g.between(4e9, 1e10), s.g.between(1e6, 3e6))
			if i == 0 {
				msg += fmt.Sprintf("Container %s was using %dKi, request is 0, has larger consumption of ephemeral-storage. ", v.app.container(), s.g.between(8e6, 2e7))
			}
		} else {
			msg = fmt.Sprintf("The node was low on resource: memory. Threshold quantity: 100Mi, available: %dKi. ", s.g.between(40000, 99000))
			if i == 0 {
				msg += fmt.Sprintf("Container %s was using %dKi, request is %dMi, has larger consumption of memory. ", v.app.container(), s.g.between(1200000, 4000000), pick(s.g, []int{128, 256, 512}))
			} else {
				msg += fmt.Sprintf("Container %s was using %dKi, request is %dMi, has larger consumption of memory. ", v.app.container(), s.g.between(300000, 700000), pick(s.g, []int{256, 512}))
			}
		}
		s.occur(kubelet(v, "Evicted", msg, true), t)
		s.occur(kubelet(v, "Killing", "Stopping container "+v.app.container(), false), t.Add(s.g.dur(10*time.Millisecond, 200*time.Millisecond)))
		s.terminate(v, t.Add(s.g.dur(time.Second, 30*time.Second)), "Error", 137, s.g.dur(time.Hour, 48*time.Hour), true)
		v.obj.Status.Phase = corev1.PodFailed
		v.obj.Status.Reason = "Evicted"
		v.deleted = true // no longer an endpoint; the failed pod object stays
		s.topoService(t.Add(s.g.dur(time.Second, 3*time.Second)), v.app.svc)
		r := s.newPod(v.app, v.app.rs, nil, 0)
		s.createPod(r, t.Add(s.g.dur(200*time.Millisecond, 2*time.Second)))
		s.startPod(r, s.otherNode(n), t.Add(s.g.dur(3*time.Second, 10*time.Second)), false)
		evicted = append(evicted, v)
		t = t.Add(s.g.dur(15*time.Second, 90*time.Second))
	}
	// The kubelet keeps reporting the threshold until the pressure is gone.
	recovered := t.Add(s.g.dur(time.Minute, 3*time.Minute))
	var ets []time.Time
	for t := onset.Add(s.g.dur(time.Second, 10*time.Second)); t.Before(recovered) && t.Before(until); t = t.Add(s.g.dur(10*time.Second, 50*time.Second)) {
		ets = append(ets, t)
	}
	kubeletNode("EvictionThresholdMet", "Attempting to reclaim "+res, true, ets...)
	if recovered.Before(until) {
		if disk {
			kubeletNode("NodeHasNoDiskPressure", fmt.Sprintf("Node %s status is now: NodeHasNoDiskPressure", n.name), false, recovered)
		} else {
			kubeletNode("NodeHasSufficientMemory", fmt.Sprintf("Node %s status is now: NodeHasSufficientMemory", n.name), false, recovered)
		}
	}
	symptom := evicted[len(evicted)-1]
	for _, v := range evicted[1:] {
		if v.app.ns == ns.name {
			symptom = v
			break
		}
	}
	return truth{root: answer("Node//"+n.name, sig...), also: []scenario.Answer{answer(hog.rid(), "Evicted")}, symptom: symptom.rid()}
}

func dependencyUnavailable(s *sim, ns *namespace, onset time.Time) truth {
	b := s.pickApp(ns, func(a *app) bool { return !a.front && len(s.callersOf(a)) > 0 })
	until := onset.Add(s.incidentLength())
	pods := b.livePods()
	var root scenario.Answer
	var also []scenario.Answer
	if s.g.chance(0.15) {
		// Scaled to zero by mistake.
		dep := objRef("Deployment", "apps/v1", b.ns, b.name, b.uid)
		s.occur(controller(dep, "deployment-controller", "ScalingReplicaSet", fmt.Sprintf("Scaled down replica set %s from %d to 0", b.rs.name, len(pods)), false), onset)
		for _, p := range pods {
			at := onset.Add(s.g.dur(50*time.Millisecond, time.Second))
			s.occur(controller(objRef("ReplicaSet", "apps/v1", b.ns, b.rs.name, b.rs.uid), "replicaset-controller", "SuccessfulDelete", "Deleted pod: "+p.name(), false), at)
			s.occur(kubelet(p, "Killing", "Stopping container "+b.container(), false), at.Add(s.g.dur(100*time.Millisecond, time.Second)))
			s.deletePod(at.Add(s.g.dur(2*time.Second, 30*time.Second)), p)
		}
		root = answer("Deployment/"+b.ns+"/"+b.name, "ScalingReplicaSet")
		also = []scenario.Answer{answer("ReplicaSet/"+b.ns+"/"+b.rs.name, "SuccessfulDelete")}
	} else {
		oom := s.g.chance(0.35)
		config := s.g.chance(0.5) // a bad config rather than a bug
		sig := crashSignals
		c := crash{reason: "Error", exit: pick(s.g, []int32{1, 2, 134}), runFor: func(int) time.Duration { return s.g.dur(500*time.Millisecond, 20*time.Second) },
			before: func(p *pod, at time.Time, run int) {
				for _, l := range s.crashLines(p, at.Add(-s.g.dur(20*time.Millisecond, 200*time.Millisecond)), config) {
					s.log(p, at, l)
				}
			}}
		if oom {
			sig = []string{"OOMKilled", "log:OOM"}
			c = crash{reason: "OOMKilled", exit: 137, runFor: func(int) time.Duration { return s.g.dur(10*time.Second, 90*time.Second) }}
		}
		sig = append(sig[:len(sig):len(sig)], "BackOff")
		for i, p := range pods {
			start := onset.Add(time.Duration(i) * s.g.dur(time.Second, 20*time.Second))
			s.crashLoop(p, start.Add(-s.g.dur(time.Second, 10*time.Second)), until, c)
		}
		root = answer(pods[0].rid(), sig...)
		also = siblings(pods, sig...)
	}
	unready := s.callersComplain(b, onset.Add(s.g.dur(5*time.Second, 25*time.Second)), until, s.g.chance(0.7))
	symptom := ""
	for _, p := range unready {
		if symptom == "" || p.app.front {
			symptom = p.rid()
		}
	}
	if symptom == "" {
		symptom = s.callersOf(b)[0].livePods()[0].rid()
	}
	return truth{root: root, also: also, symptom: symptom}
}

func jobBackoffLimit(s *sim, ns *namespace, onset time.Time) truth {
	name := pick(s.g, jobPool)
	lang := pick(s.g, []string{"python", "python", "go", "java", "node"})
	jobApp := &app{ns: ns.name, name: name, lang: lang, kind: "Job", uid: s.g.uid(), image: imageName(s.g, s.registry, name), port: 8080, probePath: "/"}
	var owner []metav1.OwnerReference
	if s.g.chance(0.6) {
		cron := name
		jobApp.name = fmt.Sprintf("%s-%d", cron, onset.Unix()/60)
		owner = []metav1.OwnerReference{{Kind: "CronJob", Name: cron}}
		s.occur(controller(objRef("CronJob", "batch/v1", ns.name, cron, s.g.uid()), "cronjob-controller", "SuccessfulCreate", "Created job "+jobApp.name, false), onset)
	}
	s.topo(onset.Add(50*time.Millisecond), topology.Workload("Job", &metav1.ObjectMeta{Name: jobApp.name, Namespace: ns.name, UID: types.UID(jobApp.uid), OwnerReferences: owner}).Scenario())
	limit := pick(s.g, []int{2, 3, 4, 6})
	jobRef := objRef("Job", "batch/v1", ns.name, jobApp.name, jobApp.uid)
	t := onset.Add(s.g.dur(100*time.Millisecond, time.Second))
	var pods []*pod
	dbErr := s.g.chance(0.4)
	bugOrConfig := s.g.chance(0.5)
	backoff := 10 * time.Second
	var lastDie time.Time
	for i := 0; i <= limit; i++ {
		p := s.newPod(jobApp, nil, nil, i)
		p.obj.Name = jobApp.name + "-" + s.g.suffix(5)
		p.obj.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: jobApp.name, UID: types.UID(jobApp.uid)}}
		p.obj.Labels = map[string]string{"batch.kubernetes.io/job-name": jobApp.name, "job-name": jobApp.name}
		p.obj.Spec.RestartPolicy = corev1.RestartPolicyNever
		s.occur(controller(jobRef, "job-controller", "SuccessfulCreate", "Created pod: "+p.name(), false), t)
		s.topoPod(t.Add(20*time.Millisecond), p)
		started := s.startPod(p, s.nodes[s.g.intn(len(s.nodes))], t.Add(s.g.dur(200*time.Millisecond, 2*time.Second)), i == 0)
		die := started.Add(s.g.dur(2*time.Second, 90*time.Second))
		if die.Sub(started) > 5*time.Second {
			s.log(p, started.Add(time.Second), s.format(p, started.Add(time.Second), lvInfo, pick(s.g, []string{"processing batch 1", "connected; reading input", "loaded 1 migration to apply"})))
		}
		if dbErr && lang == "python" {
			s.log(p, die.Add(-100*time.Millisecond), s.format(p, die, lvError, "migration failed", "stack", pyTrace([]string{"/app/migrate.py\", line 44, in run\n    cur.execute(stmt)"},
				"psycopg2.errors.UndefinedTable: relation \"users_v2\" does not exist\nLINE 1: INSERT INTO users_v2 (id, email) SELECT id, email FROM users")))
		} else {
			for _, l := range s.crashLines(p, die.Add(-100*time.Millisecond), bugOrConfig) {
				s.log(p, die, l)
			}
		}
		s.terminate(p, die, "Error", pick(s.g, []int32{1, 1, 2}), die.Sub(started), true)
		p.obj.Status.Phase = corev1.PodFailed
		s.topoPod(die.Add(s.g.dur(100*time.Millisecond, time.Second)), p)
		pods = append(pods, p)
		lastDie = die
		t = die.Add(backoff + s.g.dur(0, 2*time.Second))
		backoff = min(2*backoff, 6*time.Minute)
	}
	s.occur(controller(jobRef, "job-controller", "BackoffLimitExceeded", "Job has reached the specified backoff limit", true), lastDie.Add(s.g.dur(500*time.Millisecond, 3*time.Second)))
	sig := crashSignals
	return truth{root: answer(pods[0].rid(), sig...), also: siblings(pods, sig...), symptom: "Job/" + ns.name + "/" + jobApp.name}
}

func badRollout(s *sim, ns *namespace, onset time.Time) truth {
	a := s.pickApp(ns, func(a *app) bool { return a.kind == "Deployment" && a.lang != "nginx" })
	image := bumpVersion(s.g, a.image)
	until := onset.Add(s.incidentLength())
	pods := s.rollout(a, image, onset, s.g.between(1, 2))
	neverReady := s.g.chance(0.25)
	var sig []string
	for i, p := range pods {
		started := s.startPod(p, s.nodes[s.g.intn(len(s.nodes))], onset.Add(time.Duration(i)*s.g.dur(100*time.Millisecond, time.Second)+s.g.dur(300*time.Millisecond, 2*time.Second)), true)
		if neverReady {
			// The new version listens on another port: readiness never passes.
			p.ready = false
			s.log(p, started.Add(time.Second), s.format(p, started.Add(time.Second), lvInfo, fmt.Sprintf("listening on :%d", a.port+1)))
			n := int(until.Sub(started) / (10 * time.Second))
			s.probeFailures(p, "Readiness", fmt.Sprintf("Get \"http://%s:%d%s\": dial tcp %s:%d: connect: connection refused", p.ip(), a.port, a.probePath, p.ip(), a.port), started.Add(s.g.dur(5*time.Second, 15*time.Second)), n, 10*time.Second)
			sig = []string{"Unhealthy"}
			continue
		}
		sig = crashSignals
		s.crashLoop(p, started, until, crash{reason: "Error", exit: pick(s.g, []int32{1, 2, 134}),
			runFor: func(int) time.Duration { return s.g.dur(time.Second, 8*time.Second) },
			before: func(p *pod, at time.Time, run int) {
				for _, l := range s.crashLines(p, at.Add(-s.g.dur(20*time.Millisecond, 200*time.Millisecond)), false) {
					s.log(p, at, l)
				}
			}})
	}
	also := append(siblings(pods, sig...), answer("Deployment/"+a.ns+"/"+a.name, "ScalingReplicaSet"))
	symptom := pods[0].rid()
	if s.g.chance(0.5) {
		symptom = "Deployment/" + a.ns + "/" + a.name
	}
	return truth{root: answer(pods[0].rid(), sig...), also: also, symptom: symptom}
}
