// Package statusevents turns container status transitions into Kubernetes
// Events. Kubernetes records no Event when a container is OOM-killed or
// exits with an error: the termination shows only in the pod's status
// (state.terminated, lastState.terminated, restartCount), and the kubelet's
// later BackOff event does not say why. The agent emits one core/v1 Event
// per termination, with reason = the termination reason (OOMKilled, Error,
// ContainerCannotRun, ...), so the graph sees the cause next to its effects.
//
// The event's uid is derived from the pod, the container and the
// terminated container's id, so an informer resync, an agent restart or the
// same termination moving from state to lastState produces the same uid,
// and the normalizer the same event id: no duplicates downstream.
package statusevents

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Component is the reporting component of the events: source.component and
// reportingComponent.
const Component = "kg-agent"

// ReasonRestarted is the reason of a restart whose termination the status
// no longer shows (the kubelet keeps only the last one).
const ReasonRestarted = "Restarted"

// maxTerminationMessage bounds the container's termination message quoted
// in the event (the kubelet allows 4 KiB; the event is about the fault).
const maxTerminationMessage = 1024

// termination is one container termination seen in a pod's status.
type termination struct {
	container string
	fieldPath string
	t         *corev1.ContainerStateTerminated
	restarts  int32
	last      bool // lastState (a restarted container), not the current state
}

// key identifies a termination across status updates: the terminated
// container's id, else when it finished, else the restart count.
func (x termination) key() string {
	switch {
	case x.t.ContainerID != "":
		return x.t.ContainerID
	case !x.t.FinishedAt.IsZero():
		return "finished@" + x.t.FinishedAt.UTC().Format(time.RFC3339)
	default:
		return fmt.Sprintf("restart#%d", x.restarts)
	}
}

// faulty: an error exit or an OOM kill; a clean exit (a finished Job pod, a
// sidecar stopping) is no fault.
func (x termination) faulty() bool {
	return x.t.ExitCode != 0 || x.t.Reason == "OOMKilled"
}

type statusSet struct {
	prefix   string
	statuses []corev1.ContainerStatus
}

func sets(p *corev1.Pod) []statusSet {
	return []statusSet{
		{"spec.initContainers", p.Status.InitContainerStatuses},
		{"spec.containers", p.Status.ContainerStatuses},
		{"spec.ephemeralContainers", p.Status.EphemeralContainerStatuses},
	}
}

func terminations(p *corev1.Pod) (out []termination, restarts map[string]int32) {
	restarts = map[string]int32{}
	if p == nil {
		return nil, restarts
	}
	for _, set := range sets(p) {
		for _, cs := range set.statuses {
			fp := set.prefix + "{" + cs.Name + "}"
			restarts[fp] = cs.RestartCount
			if t := cs.LastTerminationState.Terminated; t != nil {
				out = append(out, termination{cs.Name, fp, t, cs.RestartCount, true})
			}
			if t := cs.State.Terminated; t != nil {
				out = append(out, termination{cs.Name, fp, t, cs.RestartCount, false})
			}
		}
	}
	return out, restarts
}

// Events returns the events for the faulty terminations cur's status shows
// and old's did not (old nil: everything cur shows, e.g. an informer's
// initial list), plus a Restarted event for a restart count that grew
// without a termination to explain it. now dates an event whose
// termination carries no time.
func Events(old, cur *corev1.Pod, now time.Time) []*corev1.Event {
	if cur == nil {
		return nil
	}
	seen := map[string]bool{}
	oldTerms, oldRestarts := terminations(old)
	oldLast := map[string]string{} // fieldPath -> key of old's lastState termination
	for _, x := range oldTerms {
		seen[x.fieldPath+"|"+x.key()] = true
		if x.last {
			oldLast[x.fieldPath] = x.key()
		}
	}
	curTerms, curRestarts := terminations(cur)
	var out []*corev1.Event
	// A restart is explained by a lastState that changed, whether its
	// termination is new or was reported while it was the current state.
	explained := map[string]bool{}
	for _, x := range curTerms {
		if x.last && oldLast[x.fieldPath] != x.key() {
			explained[x.fieldPath] = true
		}
		k := x.fieldPath + "|" + x.key()
		if seen[k] {
			continue
		}
		seen[k] = true
		if x.faulty() {
			out = append(out, terminationEvent(cur, x, now))
		}
	}
	if old != nil {
		for fp, n := range curRestarts {
			if prev, ok := oldRestarts[fp]; ok && n > prev && !explained[fp] {
				out = append(out, restartEvent(cur, fp, n, now))
			}
		}
	}
	return out
}

// UID is the deterministic uid of an agent event: a UUID-shaped hash of
// its parts.
func UID(parts ...string) types.UID {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	s := hex.EncodeToString(h[:16])
	return types.UID(s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32])
}

func terminationEvent(p *corev1.Pod, x termination, now time.Time) *corev1.Event {
	reason := x.t.Reason
	if reason == "" {
		reason = "Error"
	}
	at := x.t.FinishedAt.Time
	if at.IsZero() {
		at = now
	}
	msg := fmt.Sprintf("Container %s terminated with exit code %d (%s)", x.container, x.t.ExitCode, reason)
	if x.t.Signal != 0 {
		msg += fmt.Sprintf(", signal %d", x.t.Signal)
	}
	if !x.t.StartedAt.IsZero() && !x.t.FinishedAt.IsZero() {
		msg += fmt.Sprintf(" after running %s", x.t.FinishedAt.Sub(x.t.StartedAt.Time).Round(time.Second))
	}
	msg += fmt.Sprintf("; restart count %d", x.restarts)
	if m := strings.TrimSpace(x.t.Message); m != "" {
		if len(m) > maxTerminationMessage {
			m = strings.ToValidUTF8(m[:maxTerminationMessage], "") + "..."
		}
		msg += ": " + m
	}
	uid := UID(string(p.UID), p.Namespace, p.Name, x.fieldPath, x.key())
	return event(p, uid, x.fieldPath, reason, msg, at)
}

func restartEvent(p *corev1.Pod, fieldPath string, n int32, now time.Time) *corev1.Event {
	name := strings.TrimSuffix(fieldPath[strings.IndexByte(fieldPath, '{')+1:], "}")
	msg := fmt.Sprintf("Container %s restarted (restart count %d); its status no longer shows why", name, n)
	uid := UID(string(p.UID), p.Namespace, p.Name, fieldPath, fmt.Sprintf("restart#%d", n))
	return event(p, uid, fieldPath, ReasonRestarted, msg, now)
}

func event(p *corev1.Pod, uid types.UID, fieldPath, reason, msg string, at time.Time) *corev1.Event {
	t := metav1.NewTime(at.UTC().Truncate(time.Second))
	return &corev1.Event{
		TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name:              p.Name + "." + strings.ReplaceAll(string(uid), "-", "")[:16],
			Namespace:         p.Namespace,
			UID:               uid,
			CreationTimestamp: t,
		},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID,
			APIVersion: "v1", ResourceVersion: p.ResourceVersion, FieldPath: fieldPath},
		Reason:              reason,
		Message:             msg,
		Source:              corev1.EventSource{Component: Component, Host: p.Spec.NodeName},
		FirstTimestamp:      t,
		LastTimestamp:       t,
		Count:               1,
		Type:                corev1.EventTypeWarning,
		ReportingController: Component,
		ReportingInstance:   p.Spec.NodeName,
	}
}
