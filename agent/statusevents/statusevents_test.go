package statusevents

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kgrca/kgplane/workers/eventnorm"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func pod(restarts int32, last, cur *corev1.ContainerStateTerminated) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "cart-7d9f8-x2x4q", Namespace: "shop", UID: "p-uid-1", ResourceVersion: "42"},
		Spec:       corev1.PodSpec{NodeName: "node-a"},
	}
	cs := corev1.ContainerStatus{Name: "cart", RestartCount: restarts}
	if last != nil {
		cs.LastTerminationState.Terminated = last
	}
	if cur != nil {
		cs.State.Terminated = cur
	} else {
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0)}
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
	return p
}

func term(id, reason string, code int32, finished time.Time) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{ContainerID: id, Reason: reason, ExitCode: code,
		StartedAt: metav1.NewTime(finished.Add(-3 * time.Minute)), FinishedAt: metav1.NewTime(finished)}
}

func TestEventsForStatusTransitions(t *testing.T) {
	oom1 := term("containerd://a1", "OOMKilled", 137, t0)
	oom2 := term("containerd://a2", "OOMKilled", 137, t0.Add(time.Minute))
	errExit := term("containerd://b1", "Error", 1, t0)
	clean := term("containerd://c1", "Completed", 0, t0)
	cases := []struct {
		name     string
		old, cur *corev1.Pod
		reasons  []string
	}{
		{"first OOM kill", pod(0, nil, nil), pod(1, oom1, nil), []string{"OOMKilled"}},
		{"resync: nothing new", pod(1, oom1, nil), pod(1, oom1, nil), nil},
		{"next OOM kill", pod(1, oom1, nil), pod(2, oom2, nil), []string{"OOMKilled"}},
		{"initial list shows the last one", nil, pod(2, oom2, nil), []string{"OOMKilled"}},
		{"error exit while terminated", pod(0, nil, nil), pod(0, nil, errExit), []string{"Error"}},
		{"the same termination moves to lastState", pod(0, nil, errExit), pod(1, errExit, nil), nil},
		{"a clean exit is no fault", pod(0, nil, nil), pod(0, nil, clean), nil},
		{"restart without a termination to show", pod(1, oom1, nil), pod(2, oom1, nil), []string{ReasonRestarted}},
		{"no pod", pod(0, nil, nil), nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs := Events(c.old, c.cur, t0.Add(time.Hour))
			var got []string
			for _, e := range evs {
				got = append(got, e.Reason)
			}
			if strings.Join(got, ",") != strings.Join(c.reasons, ",") {
				t.Fatalf("reasons %v, want %v", got, c.reasons)
			}
		})
	}
}

func TestEventUIDIsDeterministicAcrossResyncsAndRestarts(t *testing.T) {
	errExit := term("containerd://b1", "Error", 1, t0)
	// Seen while terminated, by one agent; after the restart, by a fresh agent.
	a := Events(pod(0, nil, nil), pod(0, nil, errExit), t0)
	b := Events(nil, pod(1, errExit, nil), t0.Add(time.Hour))
	if len(a) != 1 || len(b) != 1 || a[0].UID != b[0].UID {
		t.Fatalf("uids %v / %v: the same termination must keep its uid", a, b)
	}
	other := Events(nil, pod(2, term("containerd://b2", "Error", 1, t0.Add(time.Minute)), nil), t0)
	if other[0].UID == a[0].UID {
		t.Error("a different termination got the same uid")
	}
}

func TestEventIsARealisticEventTheNormalizerAccepts(t *testing.T) {
	oom := term("containerd://a1", "OOMKilled", 137, t0)
	oom.Message = "memory limit exceeded"
	evs := Events(nil, pod(3, oom, nil), t0)
	raw, err := json.Marshal(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	n, err := eventnorm.NormalizeEvent(string(evs[0].UID), raw)
	if err != nil {
		t.Fatalf("normalizer refuses %s: %v", raw, err)
	}
	if n.Reason != "OOMKilled" || n.Category != "OOM" || n.Object.Name != "cart-7d9f8-x2x4q" || n.Object.Kind != "Pod" ||
		n.Node != "node-a" || n.Timestamp != "2026-11-30T10:00:00Z" || n.Type != "Warning" {
		t.Errorf("normalized %+v", n)
	}
	for _, want := range []string{"exit code 137", "after running 3m0s", "restart count 3", "memory limit exceeded"} {
		if !strings.Contains(n.Message, want) {
			t.Errorf("message %q lacks %q", n.Message, want)
		}
	}
	if !strings.Contains(string(raw), `"kind":"Event"`) || !strings.Contains(string(raw), `"fieldPath":"spec.containers{cart}"`) {
		t.Errorf("raw event lacks its type or field path: %s", raw)
	}
}

func TestInitContainersCount(t *testing.T) {
	p := pod(0, nil, nil)
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", RestartCount: 1,
		LastTerminationState: corev1.ContainerState{Terminated: term("containerd://i1", "Error", 2, t0)}}}
	evs := Events(nil, p, t0)
	if len(evs) != 1 || evs[0].InvolvedObject.FieldPath != "spec.initContainers{migrate}" {
		t.Fatalf("events %+v", evs)
	}
}
