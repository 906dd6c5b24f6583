package topology

import (
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kgrca/kgplane/workers/graph"
)

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "cart-7d9f8-x2x4q", Namespace: "shop", UID: "u1",
			Labels:          map[string]string{"app": "cart", "pod-template-hash": "7d9f8"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "cart-7d9f8"}}},
		Spec: corev1.PodSpec{
			NodeName: "node-a",
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "cart-data"}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cart-config"}}}},
				{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "cart-tls"}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
				{Name: "bundle", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "ca-bundle"}}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "client-cert"}}}}}}},
				{Name: "kube-api-access-9xk2p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}}}}}},
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			InitContainers: []corev1.Container{{Name: "migrate", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db-credentials"}}}}}},
			Containers: []corev1.Container{{Name: "cart", Env: []corev1.EnvVar{
				{Name: "PLAIN", Value: "x"},
				{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db-credentials"}, Key: "password"}}},
				{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cart-env"}, Key: "mode"}}},
				{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			}, EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cart-env"}}}}}},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry-cred"}},
		},
		Status: corev1.PodStatus{PodIP: "10.244.1.7", PodIPs: []corev1.PodIP{{IP: "10.244.1.7"}, {IP: "fd00::7"}}},
	}
}

func TestPod(t *testing.T) {
	got := Pod(testPod())
	want := Record{Kind: "Pod", Namespace: "shop", Name: "cart-7d9f8-x2x4q", UID: "u1",
		Labels: map[string]string{"app": "cart", "pod-template-hash": "7d9f8"}, Node: "node-a",
		Owners: []Ref{{"ReplicaSet", "cart-7d9f8"}}, IPs: []string{"10.244.1.7", "fd00::7"},
		Uses: []Ref{{"ConfigMap", "ca-bundle"}, {"ConfigMap", "cart-config"}, {"ConfigMap", "cart-env"},
			{"PersistentVolumeClaim", "cart-7d9f8-x2x4q-scratch"}, {"PersistentVolumeClaim", "cart-data"},
			{"Secret", "cart-tls"}, {"Secret", "client-cert"}, {"Secret", "db-credentials"}, {"Secret", "registry-cred"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if got.Key() != "Pod/shop/cart-7d9f8-x2x4q" {
		t.Errorf("key %s", got.Key())
	}
}

func TestHostNetworkPodHasNoIPs(t *testing.T) {
	p := testPod()
	p.Spec.HostNetwork = true
	if ips := Pod(p).IPs; ips != nil {
		t.Errorf("host-network pod ips %v", ips)
	}
}

func TestServiceSelectsWhatItsEndpointSlicesList(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: "shop", UID: "s1"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.4.7", ClusterIPs: []string{"10.96.4.7", "fd00:96::7"}}}
	ready, notReady := true, false
	slices := []*discoveryv1.EndpointSlice{
		{Endpoints: []discoveryv1.Endpoint{
			{TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "cart-b"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}},
			{TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "cart-a"}, Conditions: discoveryv1.EndpointConditions{Ready: &notReady}},
			{Addresses: []string{"192.0.2.1"}}, // no target: an external endpoint
		}},
		{Endpoints: []discoveryv1.Endpoint{{TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "cart-b"}}}}, // the IPv6 slice
	}
	got := Service(svc, slices)
	if !reflect.DeepEqual(got.Selects, []Ref{{"Pod", "cart-a"}, {"Pod", "cart-b"}}) || !reflect.DeepEqual(got.IPs, []string{"10.96.4.7", "fd00:96::7"}) {
		t.Errorf("service %+v", got)
	}
	headless := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"}, Spec: corev1.ServiceSpec{ClusterIP: "None", ClusterIPs: []string{"None"}}}
	if ips := Service(headless, nil).IPs; ips != nil {
		t.Errorf("headless service ips %v", ips)
	}
}

func TestNodeIsClusterScoped(t *testing.T) {
	n := Node(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Namespace: "ignored", UID: "n1"}})
	if n.Key() != "Node//node-a" || n.Namespace != "" {
		t.Errorf("node %+v", n)
	}
}

// The graph builder reads what the agent writes: every field it knows
// decodes to the same value, and the tombstone is a null value.
func TestRecordsDecodeAsTheGraphBuilderReadsThem(t *testing.T) {
	rec := Pod(testPod()).Scenario()
	var g graph.TopologyRecord
	if err := json.Unmarshal(rec.Value, &g); err != nil {
		t.Fatal(err)
	}
	if g.Kind != "Pod" || g.Namespace != "shop" || g.Node != "node-a" || len(g.Owners) != 1 || g.Owners[0].Name != "cart-7d9f8" || g.UID != "u1" {
		t.Errorf("graph reads %+v", g)
	}
	var raw map[string]any
	_ = json.Unmarshal(rec.Value, &raw)
	for _, f := range []string{"ips", "uses"} {
		if raw[f] == nil {
			t.Errorf("record lacks %s: %s", f, rec.Value)
		}
	}
	if ts := Tombstone("Pod", "shop", "x"); ts.Value != nil || ts.Key != "Pod/shop/x" {
		t.Errorf("tombstone %+v", ts)
	}
	w := Workload("ReplicaSet", &metav1.ObjectMeta{Name: "cart-7d9f8", Namespace: "shop",
		OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "cart"}}})
	if w.Key() != "ReplicaSet/shop/cart-7d9f8" || w.Owners[0] != (Ref{"Deployment", "cart"}) {
		t.Errorf("workload %+v", w)
	}
}
