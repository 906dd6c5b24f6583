package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kgrca/kgplane/agent/statusevents"
	"github.com/kgrca/kgplane/agent/topology"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/scenario"
)

// recorder is a Sink that keeps everything, optionally failing first.
type recorder struct {
	mu    sync.Mutex
	recs  []scenario.Record
	fails int
}

func (r *recorder) Publish(ctx context.Context, recs []scenario.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fails > 0 {
		r.fails--
		return fmt.Errorf("kafka: broker not available")
	}
	r.recs = append(r.recs, recs...)
	return nil
}

func (r *recorder) all() []scenario.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]scenario.Record(nil), r.recs...)
}

// topo returns the latest topology record of key (nil value = tombstone)
// and how many were published for it.
func (r *recorder) topo(key string) (rec *scenario.Record, n int) {
	for _, x := range r.all() {
		if x.Topic == scenario.TopicTopology && x.Key == key {
			x := x
			rec, n = &x, n+1
		}
	}
	return rec, n
}

func (r *recorder) events(reason string) []scenario.Record {
	var out []scenario.Record
	for _, x := range r.all() {
		if x.Topic == scenario.TopicEvents && strings.Contains(string(x.Value), `"reason":"`+reason+`"`) {
			out = append(out, x)
		}
	}
	return out
}

func start(t *testing.T, cs *fake.Clientset, sink *recorder) {
	t.Helper()
	w, err := New(Config{Client: cs, Sink: sink, Linger: 5 * time.Millisecond,
		Now: func() time.Time { return time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func decode(t *testing.T, rec *scenario.Record) topology.Record {
	t.Helper()
	var v topology.Record
	if err := json.Unmarshal(rec.Value, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

var ctl = true

func testPod(name, rs string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name), ResourceVersion: "1",
			Labels:          map[string]string{"app": "cart"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: rs, Controller: &ctl}}},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "cart",
			EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cart-db"}}}}}}},
		Status: corev1.PodStatus{PodIP: "10.244.1.7", PodIPs: []corev1.PodIP{{IP: "10.244.1.7"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "cart", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
}

func TestTopologyOfEveryKindAndTombstones(t *testing.T) {
	ns := "shop"
	cs := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", UID: "n1"}},
		testPod("cart-7d9-aaaaa", "cart-7d9"),
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "cart-7d9", Namespace: ns, OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "cart"}}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: ns}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "postgres", Namespace: ns}},
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy", Namespace: "kube-system"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: ns}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.4.7", ClusterIPs: []string{"10.96.4.7"}}},
	)
	sink := &recorder{}
	start(t, cs, sink)
	for _, key := range []string{"Node//node-a", "Pod/shop/cart-7d9-aaaaa", "ReplicaSet/shop/cart-7d9", "Deployment/shop/cart",
		"StatefulSet/shop/postgres", "DaemonSet/kube-system/kube-proxy", "Service/shop/cart"} {
		testutil.Eventually(t, 30*time.Second, "topology of "+key, func() bool { r, _ := sink.topo(key); return r != nil })
	}
	pod, _ := sink.topo("Pod/shop/cart-7d9-aaaaa")
	pv := decode(t, pod)
	if pv.Node != "node-a" || pv.Owners[0].Name != "cart-7d9" || pv.IPs[0] != "10.244.1.7" || pv.Uses[0] != (topology.Ref{Kind: "Secret", Name: "cart-db"}) {
		t.Errorf("pod record %s", pod.Value)
	}
	rs, _ := sink.topo("ReplicaSet/shop/cart-7d9")
	if decode(t, rs).Owners[0].Name != "cart" {
		t.Errorf("replicaset record %s", rs.Value)
	}

	// A Job appears later and is deleted: its record, then its tombstone.
	ctx := context.Background()
	job, err := cs.BatchV1().Jobs(ns).Create(ctx, &jobObj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the job's record", func() bool { r, _ := sink.topo("Job/shop/db-migrate"); return r != nil })
	if err := cs.BatchV1().Jobs(ns).Delete(ctx, job.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "cart-7d9-aaaaa", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"Job/shop/db-migrate", "Pod/shop/cart-7d9-aaaaa"} {
		testutil.Eventually(t, 30*time.Second, "the tombstone of "+key, func() bool { r, _ := sink.topo(key); return r != nil && r.Tombstone() })
	}
}

var jobObj = func() (j batchv1.Job) {
	j.Name, j.Namespace = "db-migrate", "shop"
	j.OwnerReferences = []metav1.OwnerReference{{Kind: "CronJob", Name: "db-migrate-nightly"}}
	return j
}()

func TestServiceSelectsFollowItsEndpointSlices(t *testing.T) {
	ns := "shop"
	ready := true
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "cart-abc12", Namespace: ns, Labels: map[string]string{topology.ServiceNameLabel: "cart"}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.7"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "cart-7d9-aaaaa", Namespace: ns}}}}
	cs := fake.NewClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "cart", Namespace: ns}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.4.7"}}, slice)
	sink := &recorder{}
	start(t, cs, sink)
	selects := func() string {
		r, _ := sink.topo("Service/shop/cart")
		if r == nil {
			return ""
		}
		var names []string
		for _, s := range decode(t, r).Selects {
			names = append(names, s.Name)
		}
		return strings.Join(names, ",")
	}
	testutil.Eventually(t, 30*time.Second, "the service selecting its pod", func() bool { return selects() == "cart-7d9-aaaaa" })
	s2 := slice.DeepCopy()
	s2.Endpoints = append(s2.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.244.2.9"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "cart-7d9-bbbbb"}})
	if _, err := cs.DiscoveryV1().EndpointSlices(ns).Update(context.Background(), s2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the service selecting both pods", func() bool { return selects() == "cart-7d9-aaaaa,cart-7d9-bbbbb" })
	r, _ := sink.topo("Service/shop/cart")
	if ips := decode(t, r).IPs; len(ips) != 1 || ips[0] != "10.96.4.7" {
		t.Errorf("service ips %v", ips)
	}
}

func TestStatusTransitionsBecomeEventsOnceWithDeterministicUIDs(t *testing.T) {
	p := testPod("cart-7d9-aaaaa", "cart-7d9")
	cs := fake.NewClientset(p)
	sink := &recorder{}
	start(t, cs, sink)
	testutil.Eventually(t, 30*time.Second, "the pod's record", func() bool { r, _ := sink.topo("Pod/shop/cart-7d9-aaaaa"); return r != nil })
	ctx := context.Background()
	oom := p.DeepCopy()
	oom.ResourceVersion = "2"
	finished := metav1.NewTime(time.Date(2026, 11, 30, 9, 59, 0, 0, time.UTC))
	oom.Status.ContainerStatuses[0].RestartCount = 1
	oom.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
		ContainerID: "containerd://c1", Reason: "OOMKilled", ExitCode: 137, FinishedAt: finished}
	if _, err := cs.CoreV1().Pods("shop").UpdateStatus(ctx, oom, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "an OOMKilled event", func() bool { return len(sink.events("OOMKilled")) == 1 })
	// A status update that changes nothing about terminations: no new event,
	// and no new topology record either (its value did not change).
	_, before := sink.topo("Pod/shop/cart-7d9-aaaaa")
	again := oom.DeepCopy()
	again.ResourceVersion = "3"
	again.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	if _, err := cs.CoreV1().Pods("shop").UpdateStatus(ctx, again, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// An event about something else marks when the update has been processed.
	if _, err := cs.CoreV1().Events("shop").Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "marker", Namespace: "shop", UID: "m1", ResourceVersion: "9"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "x", Namespace: "shop"}, Reason: "Marker"}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the marker", func() bool { return len(sink.events("Marker")) == 1 })
	if n := len(sink.events("OOMKilled")); n != 1 {
		t.Errorf("%d OOMKilled events after an unrelated update, want 1", n)
	}
	if _, after := sink.topo("Pod/shop/cart-7d9-aaaaa"); after != before {
		t.Errorf("%d pod records after a status-only update, want %d", after, before)
	}
	// The uid is what a fresh agent computes for the same termination.
	got := sink.events("OOMKilled")[0]
	want := statusevents.Events(nil, oom, time.Now())[0]
	if got.Key != string(want.UID) {
		t.Errorf("event key %s, want the deterministic %s", got.Key, want.UID)
	}
}

func TestEventsOfBothAPIsArePublishedOnce(t *testing.T) {
	core := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "cart.1", Namespace: "shop", UID: "e1", ResourceVersion: "5",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "cart", Namespace: "shop"}, Reason: "BackOff", Message: "Back-off restarting failed container", Count: 3, Type: "Warning"}
	// The same object seen through events.k8s.io, and one only seen there.
	same := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "cart.1", Namespace: "shop", UID: "e1", ResourceVersion: "5"},
		Regarding: core.InvolvedObject, Reason: "BackOff", Note: core.Message, Type: "Warning"}
	only := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "cart.2", Namespace: "shop", UID: "e2", ResourceVersion: "6"},
		Regarding: core.InvolvedObject, Reason: "FailedScheduling", Note: "0/3 nodes are available", Type: "Warning",
		EventTime: metav1.NewMicroTime(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC))}
	cs := fake.NewClientset(core, same, only)
	sink := &recorder{fails: 2} // Kafka refuses the first two batches
	start(t, cs, sink)
	testutil.Eventually(t, 30*time.Second, "both events", func() bool {
		return len(sink.events("BackOff")) >= 1 && len(sink.events("FailedScheduling")) == 1
	})
	if n := len(sink.events("BackOff")); n != 1 {
		t.Errorf("the event seen through both APIs was published %d times", n)
	}
	b := string(sink.events("BackOff")[0].Value)
	if strings.Contains(b, "managedFields") || !strings.Contains(b, `"kind":"Event"`) {
		t.Errorf("published event %s: want its kind and no managedFields", b)
	}
	if v := string(sink.events("FailedScheduling")[0].Value); !strings.Contains(v, `"apiVersion":"events.k8s.io/v1"`) {
		t.Errorf("events.k8s.io event published as %s", v)
	}
	// An update (new resourceVersion, count 4) is published.
	up := core.DeepCopy()
	up.ResourceVersion, up.Count = "7", 4
	if _, err := cs.CoreV1().Events("shop").Update(context.Background(), up, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the updated event", func() bool { return len(sink.events("BackOff")) == 2 })
}

func TestNewNeedsAClientAndASink(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted an empty config")
	}
}
