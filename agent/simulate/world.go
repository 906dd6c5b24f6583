package simulate

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// sim is one scenario being generated: the cluster, its clock and the
// records published so far.
type sim struct {
	g           *rng
	style       clusterStyle
	clusterName string
	cpName      string
	k8sVersion  string
	registry    string

	eventAPI    int
	shipper     int
	fluentCRI   bool
	fluentMerge bool
	multiline   bool
	logLag      [2]time.Duration
	lateStart   time.Time

	rv         int64
	ipSeq      int
	usedSvcIPs map[string]bool
	digests    map[string]string
	podLag     map[types.UID]time.Duration
	appPrefix  string

	nodes      []*node
	namespaces []*namespace
	system     *namespace
	dns        *app

	series map[string]*series

	out  []timed
	seq  int
	last time.Time
}

type namespace struct {
	name   string
	apps   []*app // services, fronts first
	stores []*app
	taken  bool // an incident already uses it
}

func (n *namespace) fronts() []*app {
	var out []*app
	for _, a := range n.apps {
		if a.front {
			out = append(out, a)
		}
	}
	return out
}

func (n *namespace) backends() []*app {
	var out []*app
	for _, a := range n.apps {
		if !a.front {
			out = append(out, a)
		}
	}
	return out
}

func newSim(seed int64) *sim {
	g := newRNG(seed, 1)
	s := &sim{g: g, usedSvcIPs: map[string]bool{}, digests: map[string]string{}, series: map[string]*series{}, podLag: map[types.UID]time.Duration{}}
	s.style = pick(g, styles)
	s.clusterName = pick(g, clusterNames)
	s.cpName = s.style.cpNode
	if s.cpName == "" {
		s.cpName = "control-plane-" + g.hex(6)
	}
	s.k8sVersion = pick(g, s.style.k8sVersion)
	s.registry = pick(g, registryPool)
	s.eventAPI = g.weighted(0.6, 0.25, 0.15)
	s.shipper = g.weighted(0.55, 0.45)
	s.fluentCRI = g.chance(0.6)
	s.fluentMerge = g.chance(0.5)
	s.multiline = g.chance(0.8)
	lo := g.dur(300*time.Millisecond, 2*time.Second)
	s.logLag = [2]time.Duration{lo, lo + g.dur(time.Second, 8*time.Second)}
	s.rv = int64(g.between(100000, 90000000))
	return s
}

// build creates the cluster: nodes, kube-system, an incident-ready
// namespace layout (fronts calling backends calling datastores) in each of
// nNS namespaces, everything running and ready at base.
func (s *sim) build(base time.Time, nNS int) {
	for i := range s.g.between(3, 7) {
		s.nodes = append(s.nodes, s.newNode(i))
	}
	s.system = &namespace{name: "kube-system", taken: true}
	s.dns = s.addApp(s.system, appSpec{name: "coredns", lang: "coredns", port: 53}, "Deployment", 2)
	s.dns.image = "registry.k8s.io/coredns/coredns:v1.11.3"
	s.dns.rs.image = s.dns.image
	s.dns.configMap = "coredns"
	proxy := s.addApp(s.system, appSpec{name: "kube-proxy", lang: "kube-proxy", port: 10249}, "DaemonSet", len(s.nodes))
	proxy.image = "registry.k8s.io/kube-proxy:" + s.k8sVersion[:7]
	nsNames := pickN(s.g, namespacePool, nNS)
	// Some clusters suffix their namespaces with the environment, some
	// teams prefix their services with the product's name.
	if s.g.chance(0.3) {
		env := pick(s.g, []string{"-prod", "-production", "-live", "-eu", "-v2"})
		for i := range nsNames {
			nsNames[i] += env
		}
	}
	if s.g.chance(0.25) {
		s.appPrefix = pick(s.g, []string{"acme-", "shop-", "kx-", "web-", "svc-", "core-"})
	}
	fronts := pickN(s.g, frontPool, len(frontPool))
	backs := pickN(s.g, backendPool, len(backendPool))
	stores := pickN(s.g, storePool, len(storePool))
	for _, name := range nsNames {
		ns := &namespace{name: name}
		s.namespaces = append(s.namespaces, ns)
		var nf, nb, nst int
		nf = s.g.between(1, 2)
		nb = s.g.between(2, 4)
		nst = s.g.between(1, 2)
		var fs, bs, ss []*app
		for range nf {
			fs = append(fs, s.addApp(ns, fronts[0], "Deployment", s.g.between(2, 4)))
			fronts = append(fronts[1:], fronts[0])
		}
		for range nb {
			bs = append(bs, s.addApp(ns, backs[0], "Deployment", s.g.between(1, 3)))
			backs = append(backs[1:], backs[0])
		}
		for range nst {
			st := stores[0]
			stores = append(stores[1:], stores[0])
			a := s.addApp(ns, appSpec{name: st.name, lang: st.kind, port: st.port}, "StatefulSet", 1)
			a.store, a.image, a.pvc = st.kind, st.image, "data"
			if st.kind == "redis" || st.kind == "rabbitmq" {
				a.replicas = s.g.between(1, 3)
			}
			ss = append(ss, a)
			ns.stores = append(ns.stores, a)
		}
		// Calls: every front calls 1-3 backends, every backend 0-2 other
		// backends and at least one datastore is called by two or more.
		for _, f := range fs {
			f.calls = pickN(s.g, bs, s.g.between(1, min(3, len(bs))))
		}
		for i, b := range bs {
			if i+1 < len(bs) && s.g.chance(0.4) {
				b.calls = append(b.calls, bs[i+1])
			}
			b.calls = append(b.calls, pick(s.g, ss))
		}
		for _, st := range ss {
			callers := 0
			for _, b := range bs {
				if slices.Contains(b.calls, st) {
					callers++
				}
			}
			for _, b := range bs {
				if callers >= 2 {
					break
				}
				if !slices.Contains(b.calls, st) {
					b.calls = append(b.calls, st)
					callers++
				}
			}
		}
		for _, a := range slices.Concat(fs, bs) {
			if s.g.chance(0.6) {
				a.configMap = a.name + "-config"
			}
			if slices.ContainsFunc(a.calls, func(c *app) bool { return c.store != "" }) && s.g.chance(0.7) {
				a.secret = a.name + "-db"
			}
		}
	}
	// Place every replica and publish the initial state.
	for _, a := range s.allApps() {
		n := a.replicas
		if a.kind == "DaemonSet" {
			for i, nd := range s.nodes {
				s.newPod(a, a.rs, nd, i)
			}
			continue
		}
		for i := range n {
			s.newPod(a, a.rs, s.nodes[s.g.intn(len(s.nodes))], i)
		}
		if a.kind != "DaemonSet" {
			a.svc = s.newService(a)
		}
	}
	for _, a := range s.allApps() {
		for _, p := range a.pods {
			p.born = base.Add(-s.g.dur(time.Hour, 40*24*time.Hour))
		}
	}
	s.snapshot(base)
}

func (s *sim) addApp(ns *namespace, spec appSpec, kind string, replicas int) *app {
	name := spec.name
	if ns.name != "kube-system" {
		name = s.appPrefix + name
	}
	a := &app{ns: ns.name, name: name, lang: spec.lang, port: spec.port, front: spec.front, kind: kind,
		uid: s.g.uid(), replicas: replicas, probePath: pick(s.g, []string{"/healthz", "/ready", "/health", "/actuator/health/readiness", "/readyz"}),
		system: ns.name == "kube-system"}
	a.image = imageName(s.g, s.registry, spec.name)
	if !a.system && s.g.chance(0.2) {
		a.containerName = pick(s.g, []string{"app", "server", "main", "api", "service"})
	}
	if kind == "Deployment" {
		a.rs = s.newRS(a, a.image)
	}
	ns.apps = append(ns.apps, a)
	return a
}

func (s *sim) allApps() []*app {
	out := slices.Clone(s.system.apps)
	for _, ns := range s.namespaces {
		out = append(out, ns.apps...)
	}
	return out
}

// snapshot publishes the topology an agent's informers list at start.
func (s *sim) snapshot(at time.Time) {
	for _, n := range s.nodes {
		s.topoNode(at, n)
	}
	for _, a := range s.allApps() {
		s.topoWorkload(at, a)
		if a.rs != nil {
			s.topoRS(at, a, a.rs)
		}
		for _, p := range a.pods {
			s.topoPod(at, p)
		}
		s.topoService(at, a.svc)
	}
}

// incidentNamespace takes a namespace no incident uses yet.
func (s *sim) incidentNamespace() *namespace {
	for _, i := range s.g.r.Perm(len(s.namespaces)) {
		if ns := s.namespaces[i]; !ns.taken {
			ns.taken = true
			return ns
		}
	}
	panic("no free namespace") // build makes one per incident
}

// otherNode is a node other than not (and not down).
func (s *sim) otherNode(not *node) *node {
	var ok []*node
	for _, n := range s.nodes {
		if n != not && !n.down {
			ok = append(ok, n)
		}
	}
	return pick(s.g, ok)
}

// podsOn are the live pods on n.
func (s *sim) podsOn(n *node) []*pod {
	var out []*pod
	for _, a := range s.allApps() {
		for _, p := range a.pods {
			if p.node == n && !p.deleted {
				out = append(out, p)
			}
		}
	}
	return out
}

// snapshotPod copies a pod's object before a status change.
func snapshotPod(p *pod) *corev1.Pod { return p.obj.DeepCopy() }

// terminate records a container termination in p's status (restarted
// unless final) and publishes the agent's status event for it.
func (s *sim) terminate(p *pod, at time.Time, reason string, exit int32, runFor time.Duration, final bool) {
	old := snapshotPod(p)
	cs := &p.obj.Status.ContainerStatuses[0]
	t := &corev1.ContainerStateTerminated{ExitCode: exit, Reason: reason, ContainerID: cs.ContainerID,
		StartedAt: metav1.NewTime(at.Add(-runFor).Truncate(time.Second)), FinishedAt: metav1.NewTime(at.Truncate(time.Second))}
	if final {
		cs.State = corev1.ContainerState{Terminated: t}
	} else {
		cs.LastTerminationState = corev1.ContainerState{Terminated: t}
		cs.RestartCount++
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
		cs.ContainerID = "containerd://" + s.g.hex(64)
	}
	cs.Ready = false
	p.ready = false
	p.hit(at)
	p.obj.ResourceVersion = s.nextRV()
	s.statusEvents(old, p, at.Add(s.g.dur(300*time.Millisecond, 2*time.Second)))
}

func (s *sim) describe() string {
	return fmt.Sprintf("%s cluster %q, %d nodes, %d namespaces", s.style.name, s.clusterName, len(s.nodes), len(s.namespaces))
}
