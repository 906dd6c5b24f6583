// Package topology turns Kubernetes objects into the graph's topology
// records (docs/graph.md, "Topology records"): one resource with its node,
// owners, what it selects, its IPs and what it uses. kg-agent run converts
// what its informers see; kg-agent simulate converts the objects of its
// simulated cluster, so both publish the same shapes.
package topology

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kgrca/kgplane/scenario"
)

// Ref names a related resource in the record's namespace.
type Ref struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Record is the value of a state.k8s.topology record.
type Record struct {
	Kind      string            `json:"kind"`
	Namespace string            `json:"namespace,omitempty"`
	Name      string            `json:"name"`
	UID       string            `json:"uid,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Node      string            `json:"node,omitempty"`
	Owners    []Ref             `json:"owners,omitempty"`
	Selects   []Ref             `json:"selects,omitempty"`
	// IPs are a pod's IPs or a Service's cluster IPs: a log that names an IP
	// ("dial tcp 10.96.4.7:5432: connect: connection refused") can be traced
	// to the resource behind it.
	IPs []string `json:"ips,omitempty"`
	// Uses are the PersistentVolumeClaims, ConfigMaps and Secrets a pod
	// mounts or reads.
	Uses []Ref `json:"uses,omitempty"`
}

// Key is the record's key without the client prefix: <kind>/<namespace>/<name>.
func (r Record) Key() string { return Key(r.Kind, r.Namespace, r.Name) }

// Key builds a topology key; cluster-scoped kinds have an empty namespace.
func Key(kind, namespace, name string) string { return kind + "/" + namespace + "/" + name }

// Scenario returns the record as a scenario record for state.k8s.topology.
func (r Record) Scenario() scenario.Record {
	v, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("encoding a topology record: %v", err)) // strings, maps and slices of strings always encode
	}
	return scenario.Record{Topic: scenario.TopicTopology, Key: r.Key(), Value: v}
}

// Tombstone is the record of a deleted resource.
func Tombstone(kind, namespace, name string) scenario.Record {
	return scenario.Record{Topic: scenario.TopicTopology, Key: Key(kind, namespace, name)}
}

func base(kind string, m *metav1.ObjectMeta) Record {
	r := Record{Kind: kind, Namespace: m.Namespace, Name: m.Name, UID: string(m.UID)}
	if len(m.Labels) > 0 {
		r.Labels = m.Labels
	}
	for _, o := range m.OwnerReferences {
		r.Owners = append(r.Owners, Ref{Kind: o.Kind, Name: o.Name})
	}
	return r
}

// Workload is the record of a Deployment, ReplicaSet, StatefulSet,
// DaemonSet, Job or any object whose relations are only its owners.
func Workload(kind string, m *metav1.ObjectMeta) Record { return base(kind, m) }

// Node is the record of a Node (cluster-scoped: no namespace).
func Node(n *corev1.Node) Record {
	r := base("Node", &n.ObjectMeta)
	r.Namespace = ""
	return r
}

// Pod is the record of a Pod: its node, owners, IPs and the claims,
// ConfigMaps and Secrets it uses.
func Pod(p *corev1.Pod) Record {
	r := base("Pod", &p.ObjectMeta)
	r.Node = p.Spec.NodeName
	// A host-network pod's IP is its node's, shared by every such pod there:
	// it identifies no pod, so it is left out.
	if !p.Spec.HostNetwork {
		for _, ip := range p.Status.PodIPs {
			r.IPs = appendNew(r.IPs, ip.IP)
		}
		if p.Status.PodIP != "" {
			r.IPs = appendNew(r.IPs, p.Status.PodIP)
		}
	}
	r.Uses = Uses(&p.Spec, p.Name)
	return r
}

// Uses lists what a pod spec mounts or reads: PersistentVolumeClaims
// (claims and generic ephemeral volumes), ConfigMaps and Secrets (volumes,
// projected volumes, env valueFrom, envFrom, image pull secrets), sorted and
// without duplicates. The projected kube-root-ca.crt that Kubernetes adds to
// every pod with its service account token is left out: every pod of a
// namespace has it, so it would tie them all together and explain nothing.
func Uses(spec *corev1.PodSpec, podName string) []Ref {
	var out []Ref
	add := func(kind, name string) {
		if name == "" {
			return
		}
		ref := Ref{Kind: kind, Name: name}
		if !slices.Contains(out, ref) {
			out = append(out, ref)
		}
	}
	for _, v := range spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			add("PersistentVolumeClaim", v.PersistentVolumeClaim.ClaimName)
		case v.Ephemeral != nil:
			add("PersistentVolumeClaim", podName+"-"+v.Name) // the claim Kubernetes creates for it
		case v.ConfigMap != nil:
			add("ConfigMap", v.ConfigMap.Name)
		case v.Secret != nil:
			add("Secret", v.Secret.SecretName)
		case v.Projected != nil:
			auto := strings.HasPrefix(v.Name, "kube-api-access-") && slices.ContainsFunc(v.Projected.Sources,
				func(s corev1.VolumeProjection) bool { return s.ServiceAccountToken != nil })
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil && !(auto && s.ConfigMap.Name == "kube-root-ca.crt") {
					add("ConfigMap", s.ConfigMap.Name)
				}
				if s.Secret != nil {
					add("Secret", s.Secret.Name)
				}
			}
		}
	}
	containers := slices.Concat(spec.InitContainers, spec.Containers)
	for _, c := range spec.EphemeralContainers {
		containers = append(containers, corev1.Container(c.EphemeralContainerCommon))
	}
	for _, c := range containers {
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				add("ConfigMap", r.Name)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				add("Secret", r.Name)
			}
		}
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				add("ConfigMap", e.ConfigMapRef.Name)
			}
			if e.SecretRef != nil {
				add("Secret", e.SecretRef.Name)
			}
		}
	}
	for _, s := range spec.ImagePullSecrets {
		add("Secret", s.Name)
	}
	slices.SortFunc(out, func(a, b Ref) int { return strings.Compare(a.Kind+"/"+a.Name, b.Kind+"/"+b.Name) })
	return out
}

// ServiceNameLabel is the label that ties an EndpointSlice to its Service.
const ServiceNameLabel = discoveryv1.LabelServiceName

// Service is the record of a Service: its cluster IPs and the pods its
// EndpointSlices list (ready or not: a pod failing its readiness probe is
// still the Service's, which is exactly when the relation matters).
func Service(s *corev1.Service, slices []*discoveryv1.EndpointSlice) Record {
	r := base("Service", &s.ObjectMeta)
	for _, ip := range s.Spec.ClusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			r.IPs = appendNew(r.IPs, ip)
		}
	}
	if ip := s.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone {
		r.IPs = appendNew(r.IPs, ip)
	}
	r.Selects = Selects(slices)
	return r
}

// Selects lists the pods the EndpointSlices point at, sorted, without
// duplicates (a dual-stack Service has one slice per address family).
func Selects(eps []*discoveryv1.EndpointSlice) []Ref {
	var out []Ref
	for _, es := range eps {
		for _, ep := range es.Endpoints {
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" || ep.TargetRef.Name == "" {
				continue
			}
			ref := Ref{Kind: "Pod", Name: ep.TargetRef.Name}
			if !slices.Contains(out, ref) {
				out = append(out, ref)
			}
		}
	}
	slices.SortFunc(out, func(a, b Ref) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
