package simulate

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kgrca/kgplane/agent/topology"
)

// The simulated cluster: real Kubernetes objects (Nodes, Pods, Services,
// workloads), so their topology records and status events come from the
// same converters kg-agent run uses.

type node struct {
	obj  *corev1.Node
	name string
	ip   string
	down bool
}

type rset struct {
	name, hash, uid string
	image           string
}

type app struct {
	ns, name  string
	lang      string // go, java, python, node, nginx; or the datastore kind
	store     string // "" for a service; postgres, mysql, redis, ... for a datastore
	port      int
	front     bool
	kind      string // Deployment, StatefulSet, DaemonSet
	uid       string
	image     string
	replicas  int
	rs        *rset   // Deployments: the current ReplicaSet
	oldRS     []*rset // Deployments: earlier ReplicaSets
	pods      []*pod
	svc       *service
	calls     []*app
	configMap string // a ConfigMap it mounts ("" none)
	secret    string // a Secret it reads through env ("" none)
	pvc       string // StatefulSets: the claim template name
	probePath string
	system    bool // kube-system: part of every cluster, not an incident namespace's
	// containerName, when set, is the container's name ("app", "server",
	// ...) where a team does not name it after the service.
	containerName string
}

func (a *app) labels() map[string]string {
	l := map[string]string{"app.kubernetes.io/name": a.name}
	if a.system {
		l = map[string]string{"k8s-app": a.name}
		if a.name == "coredns" {
			l = map[string]string{"k8s-app": "kube-dns"}
		}
	}
	if a.store != "" {
		l["app.kubernetes.io/component"] = "database"
	}
	return l
}

func (a *app) container() string {
	switch {
	case a.store != "":
		return a.store
	case a.containerName != "":
		return a.containerName
	}
	return a.name
}

// host is how callers name the app's Service: sometimes the short name,
// sometimes the FQDN, sometimes namespace-qualified.
func (a *app) host(g *rng) string {
	switch g.intn(3) {
	case 0:
		return a.name
	case 1:
		return a.name + "." + a.ns
	}
	return a.name + "." + a.ns + ".svc.cluster.local"
}

func (a *app) livePods() []*pod {
	var out []*pod
	for _, p := range a.pods {
		if !p.deleted {
			out = append(out, p)
		}
	}
	return out
}

type pod struct {
	obj     *corev1.Pod
	app     *app
	rs      *rset
	node    *node
	deleted bool
	ready   bool
	// born, gone and trouble bound when background noise may speak for
	// the pod: after it started, before it was deleted or a fault hit it.
	born, gone, trouble time.Time
}

// fine reports whether p runs untroubled at t.
func (p *pod) fine(t time.Time) bool {
	return p.node != nil && !p.born.IsZero() && !t.Before(p.born) && (p.gone.IsZero() || t.Before(p.gone)) && (p.trouble.IsZero() || t.Before(p.trouble))
}

// hit marks p troubled from t on (the earliest fault wins).
func (p *pod) hit(t time.Time) {
	if p.trouble.IsZero() || t.Before(p.trouble) {
		p.trouble = t
	}
}

func (p *pod) name() string { return p.obj.Name }
func (p *pod) ns() string   { return p.obj.Namespace }
func (p *pod) rid() string  { return "Pod/" + p.obj.Namespace + "/" + p.obj.Name }
func (p *pod) ip() string   { return p.obj.Status.PodIP }

type service struct {
	obj *corev1.Service
	app *app
}

func (s *service) ip() string { return s.obj.Spec.ClusterIP }

func (s *sim) nextRV() string {
	s.rv += int64(s.g.between(1, 40))
	return strconv.FormatInt(s.rv, 10)
}

func (s *sim) podIP() string {
	s.ipSeq++
	return fmt.Sprintf("%d.%d.%d.%d", s.style.podCIDR[0], s.style.podCIDR[1]+s.ipSeq/250%8, s.ipSeq%250+2, s.g.between(2, 250))
}

func (s *sim) serviceIP() string {
	for {
		ip := s.style.svcPrefix + fmt.Sprintf("%d.%d", s.g.between(0, 60), s.g.between(1, 254))
		if ip != s.style.dnsIP && !s.usedSvcIPs[ip] {
			s.usedSvcIPs[ip] = true
			return ip
		}
	}
}

func (s *sim) newNode(i int) *node {
	name := s.style.nodeName(s.g, i, s.clusterName)
	ip := fmt.Sprintf("10.0.%d.%d", s.g.between(1, 190), s.g.between(2, 254))
	obj := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(s.g.uid()), ResourceVersion: s.nextRV(),
		Labels: map[string]string{
			"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"topology.kubernetes.io/zone":      pick(s.g, s.style.zones),
			"node.kubernetes.io/instance-type": pick(s.g, s.style.instances),
		}}}
	return &node{obj: obj, name: name, ip: ip}
}

// newRS makes a ReplicaSet for a Deployment.
func (s *sim) newRS(a *app, image string) *rset {
	h := s.g.suffix(s.g.between(8, 10))
	return &rset{name: a.name + "-" + h, hash: h, uid: s.g.uid(), image: image}
}

func (s *sim) podName(a *app, rs *rset, ordinal int) string {
	switch a.kind {
	case "StatefulSet":
		return fmt.Sprintf("%s-%d", a.name, ordinal)
	case "DaemonSet", "Job":
		return a.name + "-" + s.g.suffix(5)
	}
	return rs.name + "-" + s.g.suffix(5)
}

// newPod creates a pod object of app on n (not yet scheduled when n is nil).
func (s *sim) newPod(a *app, rs *rset, n *node, ordinal int) *pod {
	name := s.podName(a, rs, ordinal)
	labels := a.labels()
	var owner metav1.OwnerReference
	image := a.image
	switch a.kind {
	case "StatefulSet":
		labels["statefulset.kubernetes.io/pod-name"] = name
		labels["controller-revision-hash"] = a.name + "-" + s.g.suffix(10)
		owner = metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: a.name, UID: types.UID(a.uid)}
	case "DaemonSet":
		labels["controller-revision-hash"] = s.g.suffix(10)
		owner = metav1.OwnerReference{APIVersion: "apps/v1", Kind: "DaemonSet", Name: a.name, UID: types.UID(a.uid)}
	case "Job":
		owner = metav1.OwnerReference{APIVersion: "batch/v1", Kind: "Job", Name: a.name, UID: types.UID(a.uid)}
	default:
		labels["pod-template-hash"] = rs.hash
		owner = metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.name, UID: types.UID(rs.uid)}
		image = rs.image
	}
	ctrl := true
	owner.Controller = &ctrl
	c := corev1.Container{Name: a.container(), Image: image,
		Ports: []corev1.ContainerPort{{ContainerPort: int32(a.port), Protocol: corev1.ProtocolTCP}}}
	spec := corev1.PodSpec{Containers: []corev1.Container{c}}
	saVol := "kube-api-access-" + s.g.suffix(5)
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: saVol, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}}}}}})
	if a.configMap != "" {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: a.configMap}}}})
	}
	if a.secret != "" {
		spec.Containers[0].Env = append(spec.Containers[0].Env, corev1.EnvVar{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: a.secret}, Key: "password"}}})
	}
	if a.pvc != "" {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: a.pvc, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: a.pvc + "-" + name}}})
	}
	if a.name == "kube-proxy" {
		spec.HostNetwork = true
	}
	obj := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: a.ns, UID: types.UID(s.g.uid()), ResourceVersion: s.nextRV(),
			Labels: labels, OwnerReferences: []metav1.OwnerReference{owner}},
		Spec: spec,
		Status: corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{{Name: c.Name, Image: image}}},
	}
	p := &pod{obj: obj, app: a, rs: rs}
	if n != nil {
		s.bind(p, n)
	}
	a.pods = append(a.pods, p)
	return p
}

// bind schedules p on n and gives it its IP, running and ready.
func (s *sim) bind(p *pod, n *node) {
	p.node = n
	p.obj.Spec.NodeName = n.name
	ip := n.ip
	if !p.obj.Spec.HostNetwork {
		ip = s.podIP()
	}
	p.obj.Status.PodIP = ip
	p.obj.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	p.obj.Status.HostIP = n.ip
	p.obj.Status.Phase = corev1.PodRunning
	p.obj.Status.ContainerStatuses[0].ContainerID = "containerd://" + s.g.hex(64)
	p.ready = true
}

func (s *sim) newService(a *app) *service {
	ip := s.serviceIP()
	if a.name == "coredns" {
		ip = s.style.dnsIP
	}
	name := a.name
	if a.name == "coredns" {
		name = "kube-dns"
	}
	obj := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: a.ns, UID: types.UID(s.g.uid()),
		ResourceVersion: s.nextRV(), Labels: a.labels()},
		Spec: corev1.ServiceSpec{ClusterIP: ip, ClusterIPs: []string{ip}, Selector: a.labels(),
			Ports: []corev1.ServicePort{{Port: int32(a.port)}}}}
	return &service{obj: obj, app: a}
}

// slices are the Service's EndpointSlices as the EndpointSlice controller
// would keep them: every live pod, ready or not.
func (sv *service) slices() []*discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{}
	for _, p := range sv.app.pods {
		if p.deleted || p.node == nil {
			continue
		}
		ready := p.ready
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{p.ip()},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.ns(), Name: p.name()}})
	}
	return []*discoveryv1.EndpointSlice{es}
}

// topology records of the cluster's objects.

func (s *sim) topoPod(at time.Time, p *pod) {
	s.topo(at, topology.Pod(p.obj).Scenario())
}

func (s *sim) topoService(at time.Time, sv *service) {
	if sv != nil {
		s.topo(at, topology.Service(sv.obj, sv.slices()).Scenario())
	}
}

func (s *sim) topoNode(at time.Time, n *node) { s.topo(at, topology.Node(n.obj).Scenario()) }

func (s *sim) topoWorkload(at time.Time, a *app) {
	m := &metav1.ObjectMeta{Name: a.name, Namespace: a.ns, UID: types.UID(a.uid), Labels: a.labels()}
	s.topo(at, topology.Workload(a.kind, m).Scenario())
}

func (s *sim) topoRS(at time.Time, a *app, rs *rset) {
	m := &metav1.ObjectMeta{Name: rs.name, Namespace: a.ns, UID: types.UID(rs.uid),
		Labels:          map[string]string{"app.kubernetes.io/name": a.name, "pod-template-hash": rs.hash},
		OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: a.name}}}
	s.topo(at, topology.Workload("ReplicaSet", m).Scenario())
}

func (s *sim) deletePod(at time.Time, p *pod) {
	p.deleted = true
	p.gone = at
	s.topo(at, topology.Tombstone("Pod", p.ns(), p.name()))
	s.topoService(at.Add(s.g.dur(300*time.Millisecond, 2*time.Second)), p.app.svc)
}
