package simulate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kgrca/kgplane/agent/statusevents"
	"github.com/kgrca/kgplane/scenario"
)

// timed is one record with when it reaches the agent's publisher.
type timed struct {
	arrive time.Time
	seq    int
	rec    scenario.Record
	// collapse groups the updates of one object (an Event's uid, a topology
	// key): an agent that starts late lists only each object's latest state.
	collapse string
}

// Event API shapes the simulated agent publishes.
const (
	apiCore   = iota // core/v1 Events
	apiEvents        // events.k8s.io/v1 Events
	apiMixed         // both, as an agent watching both APIs publishes whichever arrives first
)

// Log shippers.
const (
	shipVector = iota
	shipFluentBit
)

// ev describes one Kubernetes Event object.
type ev struct {
	obj      corev1.ObjectReference
	reason   string
	msg      string
	warning  bool
	comp     string // reporting component: kubelet, default-scheduler, deployment-controller, ...
	host     string // the kubelet's node
	instance string
	newAPI   bool // recorded through events.k8s.io (the scheduler): eventTime and series
	action   string
}

func podRef(p *pod, container bool) corev1.ObjectReference {
	r := corev1.ObjectReference{Kind: "Pod", Namespace: p.ns(), Name: p.name(), UID: p.obj.UID, APIVersion: "v1",
		ResourceVersion: p.obj.ResourceVersion}
	if container {
		r.FieldPath = "spec.containers{" + p.app.container() + "}"
	}
	return r
}

func nodeRef(n *node, uidIsName bool) corev1.ObjectReference {
	uid := n.obj.UID
	if uidIsName { // the kubelet names its node events' uid after the node
		uid = types.UID(n.name)
	}
	return corev1.ObjectReference{Kind: "Node", Name: n.name, UID: uid}
}

func objRef(kind, apiVersion, ns, name, uid string) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: kind, APIVersion: apiVersion, Namespace: ns, Name: name, UID: types.UID(uid)}
}

// kubelet is an event the kubelet of p's node reports about p.
func kubelet(p *pod, reason, msg string, warning bool) ev {
	host := ""
	if p.node != nil {
		host = p.node.name
	}
	return ev{obj: podRef(p, true), reason: reason, msg: msg, warning: warning, comp: "kubelet", host: host, instance: host}
}

// controller is an event of a kube-controller-manager controller.
func controller(obj corev1.ObjectReference, comp, reason, msg string, warning bool) ev {
	return ev{obj: obj, reason: reason, msg: msg, warning: warning, comp: comp}
}

// scheduler is an event of the scheduler (events.k8s.io recorder).
func (s *sim) scheduler(p *pod, reason, msg string, warning bool) ev {
	return ev{obj: podRef(p, false), reason: reason, msg: msg, warning: warning, comp: "default-scheduler",
		instance: "default-scheduler-" + s.cpName, newAPI: true, action: map[bool]string{true: "Scheduling", false: "Binding"}[warning]}
}

// event publishes one Event object that occurred at each of times: the first
// creates it, every later one updates it (count or series count + 1), as
// the recorders aggregate repeats of one event.
func (s *sim) event(e ev, times ...time.Time) {
	if len(times) == 0 {
		return
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	ns := e.obj.Namespace
	if ns == "" {
		ns = "default"
	}
	first := times[0]
	uid := s.g.uid()
	name := fmt.Sprintf("%s.%x", e.obj.Name, first.UnixNano())
	typ := corev1.EventTypeNormal
	if e.warning {
		typ = corev1.EventTypeWarning
	}
	api := s.eventAPI
	if api == apiMixed {
		api = s.g.intn(2)
	}
	for i, at := range times {
		at = at.UTC()
		core := corev1.Event{
			TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(uid), ResourceVersion: s.nextRV(),
				CreationTimestamp: metav1.NewTime(first.Truncate(time.Second))},
			InvolvedObject:      e.obj,
			Reason:              e.reason,
			Message:             e.msg,
			Type:                typ,
			ReportingController: e.comp,
			ReportingInstance:   e.instance,
		}
		if e.newAPI {
			core.EventTime = metav1.NewMicroTime(first)
			core.Action = e.action
			if i > 0 {
				core.Series = &corev1.EventSeries{Count: int32(i + 1), LastObservedTime: metav1.NewMicroTime(at)}
			}
		} else {
			core.Source = corev1.EventSource{Component: e.comp, Host: e.host}
			core.FirstTimestamp = metav1.NewTime(first.Truncate(time.Second))
			core.LastTimestamp = metav1.NewTime(at.Truncate(time.Second))
			core.Count = int32(i + 1)
		}
		var v []byte
		if api == apiEvents {
			v = mustJSON(toEventsV1(&core))
		} else {
			v = mustJSON(&core)
		}
		s.push(at.Add(s.g.dur(50*time.Millisecond, 1500*time.Millisecond)), at,
			scenario.Record{Topic: scenario.TopicEvents, Key: uid, Value: v}, "event:"+uid)
	}
}

// toEventsV1 is the events.k8s.io/v1 view of a core/v1 Event, as the API
// server converts it.
func toEventsV1(e *corev1.Event) *eventsv1.Event {
	out := &eventsv1.Event{
		TypeMeta:                 metav1.TypeMeta{Kind: "Event", APIVersion: "events.k8s.io/v1"},
		ObjectMeta:               e.ObjectMeta,
		EventTime:                e.EventTime,
		ReportingController:      e.ReportingController,
		ReportingInstance:        e.ReportingInstance,
		Action:                   e.Action,
		Reason:                   e.Reason,
		Regarding:                e.InvolvedObject,
		Note:                     e.Message,
		Type:                     e.Type,
		DeprecatedSource:         e.Source,
		DeprecatedFirstTimestamp: e.FirstTimestamp,
		DeprecatedLastTimestamp:  e.LastTimestamp,
		DeprecatedCount:          e.Count,
	}
	if e.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	return out
}

// statusEvents publishes what kg-agent run emits for p's status change
// from old to p's current state, observed at `at`.
func (s *sim) statusEvents(old *corev1.Pod, p *pod, at time.Time) {
	for _, e := range statusevents.Events(old, p.obj, at) {
		v := mustJSON(e)
		if s.eventAPI == apiEvents {
			v = mustJSON(toEventsV1(e))
		}
		s.push(at.Add(s.g.dur(200*time.Millisecond, 2*time.Second)), at,
			scenario.Record{Topic: scenario.TopicEvents, Key: string(e.UID), Value: v}, "event:"+string(e.UID))
	}
}

// topo publishes a topology record changed at `at`.
func (s *sim) topo(at time.Time, r scenario.Record) {
	s.push(at.Add(s.g.dur(20*time.Millisecond, 800*time.Millisecond)), at, r, "topo:"+r.Key)
}

func (s *sim) push(arrive, occurred time.Time, r scenario.Record, collapse string) {
	if occurred.After(s.last) {
		s.last = occurred
	}
	s.seq++
	s.out = append(s.out, timed{arrive: arrive, seq: s.seq, rec: r, collapse: collapse})
}

// logLine is one container log line (or one multi-line record).
type logLine struct {
	text   string
	stderr bool
	// fields are an application's JSON fields that Fluent Bit's Merge_Log
	// lifts to the record's top level.
	fields map[string]any
	// at, when set, is when the line was written (else the log call's time).
	at time.Time
}

// log publishes a log record of p's container written at `at`, in the
// shape of the cluster's log shipper. A multi-line record is split into
// one record per line when the shipper does not join traces.
func (s *sim) log(p *pod, at time.Time, l logLine) {
	if p.node == nil {
		return
	}
	if !l.at.IsZero() {
		at = l.at
	}
	// A shipper tails each container's file in order: one lag per pod
	// (plus a little jitter) keeps a container's lines in order while the
	// pods' streams interleave.
	lag, ok := s.podLag[p.obj.UID]
	if !ok {
		lag = s.g.dur(s.logLag[0], s.logLag[1])
		s.podLag[p.obj.UID] = lag
	}
	arrive := at.Add(lag + s.g.dur(0, 20*time.Millisecond))
	parts := []string{l.text}
	if !s.multiline && strings.Contains(l.text, "\n") {
		parts = strings.Split(l.text, "\n")
	}
	for i, text := range parts {
		t := at.Add(time.Duration(i) * time.Microsecond * 37)
		var v any
		stream := "stdout"
		if l.stderr {
			stream = "stderr"
		}
		restart := p.obj.Status.ContainerStatuses[0].RestartCount
		if s.shipper == shipVector {
			k := map[string]any{
				"container_id":     p.obj.Status.ContainerStatuses[0].ContainerID,
				"container_image":  p.obj.Spec.Containers[0].Image,
				"container_name":   p.app.container(),
				"namespace_labels": map[string]string{"kubernetes.io/metadata.name": p.ns()},
				"pod_ip":           p.ip(),
				"pod_ips":          []string{p.ip()},
				"pod_labels":       p.obj.Labels,
				"pod_name":         p.name(),
				"pod_namespace":    p.ns(),
				"pod_node_name":    p.node.name,
				"pod_owner":        p.obj.OwnerReferences[0].Kind + "/" + p.obj.OwnerReferences[0].Name,
				"pod_uid":          string(p.obj.UID),
			}
			v = map[string]any{
				"file":        fmt.Sprintf("/var/log/pods/%s_%s_%s/%s/%d.log", p.ns(), p.name(), p.obj.UID, p.app.container(), restart),
				"kubernetes":  k,
				"message":     text,
				"source_type": "kubernetes_logs",
				"stream":      stream,
				"timestamp":   t.UTC().Format("2006-01-02T15:04:05.000000000Z"),
			}
		} else {
			rec := map[string]any{
				"log":    text + "\n",
				"stream": stream,
				"time":   t.UTC().Format("2006-01-02T15:04:05.000000000Z"),
				"kubernetes": map[string]any{
					"pod_name":        p.name(),
					"namespace_name":  p.ns(),
					"pod_id":          string(p.obj.UID),
					"labels":          p.obj.Labels,
					"host":            p.node.name,
					"container_name":  p.app.container(),
					"docker_id":       strings.TrimPrefix(p.obj.Status.ContainerStatuses[0].ContainerID, "containerd://"),
					"container_hash":  p.obj.Spec.Containers[0].Image + "@sha256:" + s.hexFor(p.obj.Spec.Containers[0].Image),
					"container_image": p.obj.Spec.Containers[0].Image,
				},
			}
			if s.fluentCRI {
				rec["_p"] = "F"
			}
			if s.fluentMerge && i == 0 {
				for k, fv := range l.fields {
					if _, taken := rec[k]; !taken {
						rec[k] = fv
					}
				}
			}
			v = rec
		}
		s.push(arrive.Add(time.Duration(i)*time.Microsecond), t,
			scenario.Record{Topic: scenario.TopicLogs, Key: s.g.hex(32), Value: mustJSON(v)}, "")
	}
}

// hexFor is a stable digest-looking string per image.
func (s *sim) hexFor(image string) string {
	if h, ok := s.digests[image]; ok {
		return h
	}
	h := s.g.hex(64)
	s.digests[image] = h
	return h
}

// records orders everything by arrival. An agent that started late (at
// lateStart) finds the earlier Events and topology already there and lists
// only each object's latest state, all at once.
// records returns the records in arrival order and when the last arrives.
func (s *sim) records() (recs []scenario.Record, last time.Time) {
	out := s.out
	if !s.lateStart.IsZero() {
		latest := map[string]int{}
		for i, t := range out {
			if t.collapse != "" && t.arrive.Before(s.lateStart) {
				latest[t.collapse] = i
			}
		}
		kept := out[:0:0]
		for i, t := range out {
			if t.collapse != "" && t.arrive.Before(s.lateStart) {
				if latest[t.collapse] != i {
					continue
				}
				if t.rec.Tombstone() {
					continue // deleted before the agent started: it never saw it
				}
				t.arrive = s.lateStart.Add(s.g.dur(0, 3*time.Second))
			}
			kept = append(kept, t)
		}
		out = kept
	}
	slices.SortStableFunc(out, func(a, b timed) int {
		if c := a.arrive.Compare(b.arrive); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	recs = make([]scenario.Record, len(out))
	for i, t := range out {
		recs[i] = t.rec
	}
	if len(out) > 0 {
		last = out[len(out)-1].arrive
	}
	return recs, last
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encoding a simulated record: %v", err)) // only our own types and maps of strings
	}
	return b
}
