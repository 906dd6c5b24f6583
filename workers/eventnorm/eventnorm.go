// Package eventnorm turns a raw Kubernetes Event (core/v1 or events.k8s.io/v1
// JSON, as `kubectl get events -o json` items or kubernetes-event-exporter
// emit them) into the normalized event of the contract (SPEC "Normalized
// event"). It is pure: no I/O, no state; the Kafka worker wraps it.
package eventnorm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kgrca/kgplane/internal/textclip"
)

// MaxInputBytes bounds a raw event. Kafka's default message.max.bytes is
// about 1 MiB; a bigger value is not an event anyone sent on purpose.
const MaxInputBytes = 1 << 20

// MaxMessageBytes bounds the normalized message (the same limit as logs).
const MaxMessageBytes = 4 << 10

// Event is the normalized event on events.normalized. Field order is fixed
// by the struct, so the same input always encodes to the same bytes.
type Event struct {
	EventID        string   `json:"event_id"`
	Timestamp      string   `json:"timestamp"`       // RFC 3339, UTC
	FirstTimestamp string   `json:"first_timestamp"` // RFC 3339, UTC
	Count          int32    `json:"count"`
	Reason         string   `json:"reason"`
	Message        string   `json:"message"`
	Type           string   `json:"type"` // Normal | Warning
	Severity       Severity `json:"severity"`
	Category       Category `json:"category"`
	Object         Object   `json:"object"`
	Source         Source   `json:"source"`
	Node           string   `json:"node"` // "" when the event names none
}

// Object is the Kubernetes object the event is about.
type Object struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// Source is the component (and host) that reported the event.
type Source struct {
	Component string `json:"component"`
	Host      string `json:"host"`
}

// rawEvent is the union of core/v1 and events.k8s.io/v1 Event fields we
// read. Unknown fields (managedFields, action, related, ...) are ignored.
type rawEvent struct {
	Metadata struct {
		Namespace         string `json:"namespace"`
		UID               string `json:"uid"`
		CreationTimestamp string `json:"creationTimestamp"`
	} `json:"metadata"`

	// core/v1
	InvolvedObject     *objectRef   `json:"involvedObject"`
	Message            string       `json:"message"`
	Source             *eventSource `json:"source"`
	FirstTimestamp     string       `json:"firstTimestamp"`
	LastTimestamp      string       `json:"lastTimestamp"`
	Count              int32        `json:"count"`
	ReportingComponent string       `json:"reportingComponent"`

	// events.k8s.io/v1
	Regarding                *objectRef   `json:"regarding"`
	Note                     string       `json:"note"`
	DeprecatedSource         *eventSource `json:"deprecatedSource"`
	DeprecatedFirstTimestamp string       `json:"deprecatedFirstTimestamp"`
	DeprecatedLastTimestamp  string       `json:"deprecatedLastTimestamp"`
	DeprecatedCount          int32        `json:"deprecatedCount"`
	ReportingController      string       `json:"reportingController"`

	// both
	Reason            string  `json:"reason"`
	Type              string  `json:"type"`
	EventTime         string  `json:"eventTime"`
	Series            *series `json:"series"`
	ReportingInstance string  `json:"reportingInstance"`
}

type objectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

type eventSource struct {
	Component string `json:"component"`
	Host      string `json:"host"`
}

type series struct {
	Count            int32  `json:"count"`
	LastObservedTime string `json:"lastObservedTime"`
}

// Normalize decodes one raw event and returns its id and the normalized
// event as JSON. keyID is the <uid> part of the record's Kafka key
// (<client>::event::<uid>); it stands in for metadata.uid when that is
// missing. A non-nil error means the record is bad and says why.
func Normalize(keyID string, raw []byte) (id string, out []byte, err error) {
	ev, err := NormalizeEvent(keyID, raw)
	if err != nil {
		return "", nil, err
	}
	out, err = json.Marshal(&ev)
	if err != nil { // cannot happen for this struct of strings and ints
		return "", nil, fmt.Errorf("encoding normalized event: %w", err)
	}
	return ev.EventID, out, nil
}

// NormalizeEvent is Normalize without the final encoding.
func NormalizeEvent(keyID string, raw []byte) (Event, error) {
	if len(raw) > MaxInputBytes {
		return Event{}, fmt.Errorf("event is %d bytes, over the %d-byte limit", len(raw), MaxInputBytes)
	}
	var in rawEvent
	if err := decodeEvent(raw, &in); err != nil {
		return Event{}, err
	}
	return normalize(keyID, &in)
}

func normalize(keyID string, in *rawEvent) (Event, error) {
	var ev Event

	obj, objField := in.InvolvedObject, "involvedObject"
	if obj == nil {
		obj, objField = in.Regarding, "regarding"
	}
	if obj == nil {
		return ev, fmt.Errorf("event has neither involvedObject nor regarding")
	}
	if obj.Kind == "" {
		return ev, fmt.Errorf("event's %s has no kind", objField)
	}
	ev.Object = Object{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, UID: obj.UID}
	if obj.Name == "" {
		// The API server accepts a reference with a kind and no name (client-go
		// leader election records on an empty lock reference, e.g. minikube's
		// storage-provisioner: "endpoints/" in kubectl get events). Nothing
		// identifies the object, so the event is attached to the namespace it
		// was recorded in, the narrowest resource known to hold the object.
		ev.Object = Object{Kind: "Namespace", Name: firstNonEmpty(obj.Namespace, in.Metadata.Namespace, "default")}
	}

	if in.Reason == "" {
		return ev, fmt.Errorf("event has no reason")
	}
	ev.Reason = in.Reason

	uid := in.Metadata.UID
	if uid == "" {
		uid = keyID
	}
	if uid == "" {
		return ev, fmt.Errorf("event has no metadata.uid and its Kafka key has no uid")
	}

	count, err := occurrences(in)
	if err != nil {
		return ev, err
	}
	ev.Count = count
	ev.EventID = EventID(uid, count)

	if ev.Timestamp, ev.FirstTimestamp, err = timestamps(in); err != nil {
		return ev, err
	}

	msg := in.Message
	if msg == "" {
		msg = in.Note
	}
	// Some reporters end a message with the line break of the tool they
	// quote (an exec probe's "...: unknown\r\n").
	msg = strings.TrimRight(msg, "\r\n")
	ev.Message, _ = textclip.Truncate(msg, MaxMessageBytes)

	switch in.Type {
	case "Normal", "Warning", "":
	default:
		return ev, fmt.Errorf("event type must be Normal or Warning, got %q", in.Type)
	}
	rule := Classify(obj.Kind, in.Reason, in.Type, strings.ToLower(msg))
	ev.Type, ev.Severity, ev.Category = in.Type, rule.Severity, rule.Category
	if ev.Type == "" {
		// Some old reporters leave type empty; infer it from the rule.
		ev.Type = "Normal"
		if rule.Severity != SeverityInfo {
			ev.Type = "Warning"
		}
	}

	reporter := firstNonEmpty(in.ReportingComponent, in.ReportingController)
	var src, depSrc eventSource
	if in.Source != nil {
		src = *in.Source
	}
	if in.DeprecatedSource != nil {
		depSrc = *in.DeprecatedSource
	}
	ev.Source.Component = firstNonEmpty(src.Component, depSrc.Component, reporter)
	ev.Source.Host = firstNonEmpty(src.Host, depSrc.Host)
	if ev.Source.Host == "" && isKubelet(reporter) {
		// The kubelet reports its node name as reportingInstance.
		ev.Source.Host = in.ReportingInstance
	}

	ev.Node = eventNode(&ev, msg)
	return ev, nil
}

// eventNode is the node the event names, or "". Only three things name one:
// a Node object; a reporter that runs on the node and reports about it (the
// kubelet, node-problem-detector's monitors), whose source.host is that node;
// the scheduler's message. Other reporters also set source.host (k3s's
// deploy, helm-controller, service-lb-controller set the host they run on),
// but their object does not run there.
func eventNode(ev *Event, msg string) string {
	switch {
	case ev.Object.Kind == "Node":
		return ev.Object.Name
	case ev.Source.Host != "" && isNodeReporter(ev.Source.Component):
		return ev.Source.Host
	case ev.Reason == "Scheduled", ev.Reason == "Preempted":
		return schedulerNode(ev.Reason, msg)
	}
	return ""
}

// EventID is "evt-" + 16 hex digits of SHA-256(uid, count): each repeat of
// an event (count 1, 2, ...) is its own event, a redelivery is the same one.
func EventID(uid string, count int32) string {
	h := sha256.New()
	h.Write([]byte(uid))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, int64(count), 10))
	var sum [sha256.Size]byte
	return "evt-" + hex.EncodeToString(h.Sum(sum[:0])[:8])
}

// occurrences is how many times the event has happened: series.count for
// events.k8s.io series, else count / deprecatedCount, else 1 (a singleton).
func occurrences(in *rawEvent) (int32, error) {
	check := func(field string, n int32) error {
		if n < 0 {
			return fmt.Errorf("event %s must not be negative, got %d", field, n)
		}
		return nil
	}
	var seriesCount int32
	if in.Series != nil {
		seriesCount = in.Series.Count
	}
	if err := check("series.count", seriesCount); err != nil {
		return 0, err
	}
	if err := check("count", in.Count); err != nil {
		return 0, err
	}
	if err := check("deprecatedCount", in.DeprecatedCount); err != nil {
		return 0, err
	}
	for _, n := range []int32{seriesCount, in.Count, in.DeprecatedCount} {
		if n > 0 {
			return n, nil
		}
	}
	return 1, nil
}

type timeField struct {
	name  string
	value string
}

// timestamps returns the time of this occurrence and of the first one, both
// RFC 3339 UTC. The occurrence time follows SPEC "Normalized event":
// series.lastObservedTime → lastTimestamp (or deprecatedLastTimestamp) →
// eventTime → firstTimestamp (or deprecatedFirstTimestamp) →
// metadata.creationTimestamp. An events.k8s.io series keeps eventTime at its
// first observation, so eventTime comes after the last-seen times: a repeat
// is dated when it happened, not when the series began. The first time is
// firstTimestamp → deprecatedFirstTimestamp → eventTime → the occurrence
// time. A present but malformed timestamp is an error, not skipped: it means
// the producer is broken.
func timestamps(in *rawEvent) (ts, first string, err error) {
	var lastObserved string
	if in.Series != nil {
		lastObserved = in.Series.LastObservedTime
	}
	const (
		iLastObserved = iota
		iLast
		iDeprecatedLast
		iEventTime
		iFirst
		iDeprecatedFirst
		iCreation
		nTimes
	)
	chain := [nTimes]timeField{
		iLastObserved:    {"series.lastObservedTime", lastObserved},
		iLast:            {"lastTimestamp", in.LastTimestamp},
		iDeprecatedLast:  {"deprecatedLastTimestamp", in.DeprecatedLastTimestamp},
		iEventTime:       {"eventTime", in.EventTime},
		iFirst:           {"firstTimestamp", in.FirstTimestamp},
		iDeprecatedFirst: {"deprecatedFirstTimestamp", in.DeprecatedFirstTimestamp},
		iCreation:        {"metadata.creationTimestamp", in.Metadata.CreationTimestamp},
	}
	var parsed [nTimes]string
	for i, f := range chain {
		if parsed[i], err = parseTime(f.name, f.value); err != nil {
			return "", "", err
		}
	}
	ts = firstNonEmpty(parsed[:]...)
	if ts == "" {
		return "", "", fmt.Errorf("event has no timestamp (none of series.lastObservedTime, lastTimestamp, eventTime, firstTimestamp, metadata.creationTimestamp)")
	}
	first = firstNonEmpty(parsed[iFirst], parsed[iDeprecatedFirst], parsed[iEventTime], ts)
	return ts, first, nil
}

// parseTime parses a Kubernetes Time or MicroTime (RFC 3339, optional
// fraction) and formats it in UTC. "" and Go's zero time mean absent.
func parseTime(field, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return "", fmt.Errorf("event %s is not an RFC 3339 time: %q", field, v)
	}
	if t.IsZero() {
		return "", nil
	}
	return t.UTC().Format(time.RFC3339Nano), nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func isKubelet(component string) bool {
	return component == "kubelet" || component == "kubernetes.io/kubelet"
}

// isNodeReporter reports whether component names the node its events come
// from in source.host: the kubelet, node-problem-detector and the problem
// daemons of its default configs (their "source"), and kg-agent, whose
// status-transition events (a container OOM-killed or exiting with an error)
// carry the pod's spec.nodeName there (agent/statusevents).
func isNodeReporter(component string) bool {
	switch component {
	case "kubelet", "kubernetes.io/kubelet", "node-problem-detector", "kernel-monitor", "docker-monitor",
		"systemd-monitor", "abrt-adaptor", "health-checker", "kg-agent":
		return true
	}
	return strings.HasSuffix(component, "-custom-plugin-monitor")
}

// schedulerNode extracts the node from the scheduler's "Successfully
// assigned <ns>/<pod> to <node>" (Scheduled) or "Preempted by <pod> on node
// <node>" (Preempted, the victim's node).
func schedulerNode(reason, msg string) string {
	var node string
	switch reason {
	case "Scheduled":
		if !strings.HasPrefix(msg, "Successfully assigned ") {
			return ""
		}
		i := strings.LastIndex(msg, " to ")
		if i < 0 {
			return ""
		}
		node = msg[i+len(" to "):]
	case "Preempted":
		i := strings.LastIndex(msg, " on node ")
		if i < 0 {
			return ""
		}
		node, _, _ = strings.Cut(msg[i+len(" on node "):], " ")
	}
	if node == "" || strings.ContainsAny(node, " \t\r\n") {
		return ""
	}
	return node
}
