package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// Limits on what a record may carry. Beyond them a record is dead-lettered (or,
// for a message, truncated) instead of bloating the graph.
const (
	MaxValueBytes   = 1 << 20 // Kafka's default max.message.bytes
	MaxMessageBytes = 4096    // the contract truncates log messages to 4 KiB too
	MaxRelations    = 10000   // owners + selects of one topology record
	MaxLabels       = 256
	maxNameLen      = 253 // a DNS subdomain, the longest Kubernetes object name
	maxKindLen      = 63
	truncatedMark   = "…[truncated]"
)

// Sources of an :Event.
const (
	SourceK8s = "k8s"
	SourceLog = "log"
)

// errOtherClient marks a record whose key belongs to another client; it is
// skipped and counted, never written and never dead-lettered by this client.
var errOtherClient = errors.New("record of another client")

// errLowSignal marks a log below the graph's threshold: consumed, not written.
var errLowSignal = errors.New("low-signal log")

// resource is one (:Resource) identity.
type resource struct {
	RID       string `json:"rid"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func newResource(kind, namespace, name string) (resource, error) {
	if err := checkKind(kind); err != nil {
		return resource{}, err
	}
	switch {
	case clusterScoped(kind):
		namespace = ""
	case namespace == "" && namespaced(kind):
		return resource{}, fmt.Errorf("missing namespace of a %s", kind)
	default:
		if err := checkPart("namespace", namespace, 63, true); err != nil {
			return resource{}, err
		}
	}
	if err := checkPart("name", name, maxNameLen, false); err != nil {
		return resource{}, err
	}
	return resource{RID: kind + "/" + namespace + "/" + name, Kind: kind, Namespace: namespace, Name: name}, nil
}

// eventRow is one (:Event) with its resource: a Kubernetes event or a
// high-signal log.
type eventRow struct {
	EID      string
	Source   string
	Reason   string
	Signal   string
	Type     string
	Severity string
	Category string
	Message  string
	TsMs     int64
	Count    int64
	Res      resource
	UID      string
	Node     string // the node the resource runs on, when the record reveals it
	// Calls: what a log names as the peer it talked to (CALLS); DNS: the log
	// is a name-resolution failure, so it also called the cluster DNS.
	Calls callTargets
	DNS   bool
}

// relation is one RUNS_ON / OWNED_BY / SELECTS / USES edge of a topology record.
type relation struct {
	Type   string
	Target resource
}

// Topology relationship types, in the order the builder writes them.
var topologyRelTypes = []string{"RUNS_ON", "OWNED_BY", "SELECTS", "USES"}

// topoRow is one state.k8s.topology record: the resource's full current
// relations, or a tombstone.
type topoRow struct {
	Res       resource
	UID       string
	Labels    []string // "key=value", sorted
	Rels      []relation
	IPs       []string // the resource's addresses (HAS_IP), canonical form
	Tombstone bool
	TsMs      int64 // Kafka timestamp: when a tombstone ended the relations
}

// decoded is what one input became.
type decoded struct {
	event *eventRow
	topo  *topoRow
}

// Topics names the builder's input and dead-letter topics; tests use private
// copies, production the contract's (DefaultTopics).
type Topics struct {
	Events, Logs, Topology, DeadLetter string
}

// DefaultTopics are the contract's topics.
func DefaultTopics() Topics {
	return Topics{Events: kafkaio.TopicEventsNormalized, Logs: kafkaio.TopicLogsNormalized,
		Topology: kafkaio.TopicTopology, DeadLetter: kafkaio.TopicDLQNormalized}
}

// decode turns one record of client into a row. Errors other than
// errOtherClient and errLowSignal are permanent: the record can never be
// written and goes to the dead-letter topic with the error as its reason.
func decode(client string, topics Topics, in kafkaio.Record) (decoded, error) {
	key, err := kafkaio.ParseKey(in.Key)
	if err != nil {
		return decoded{}, err
	}
	if key.Client != client {
		return decoded{}, errOtherClient
	}
	if len(in.Value) > MaxValueBytes {
		return decoded{}, fmt.Errorf("value is %d bytes, the limit is %d", len(in.Value), MaxValueBytes)
	}
	switch in.Topic {
	case topics.Events:
		if key.Type != kafkaio.TypeNormalizedEvent {
			return decoded{}, fmt.Errorf("key %q on %s is not an evt- key", key, in.Topic)
		}
		ev, err := decodeEvent(key.ID, in.Value)
		return decoded{event: ev}, err
	case topics.Logs:
		if key.Type != kafkaio.TypeNormalizedLog {
			return decoded{}, fmt.Errorf("key %q on %s is not a log- key", key, in.Topic)
		}
		ev, err := decodeLog(key.ID, in.Value)
		return decoded{event: ev}, err
	case topics.Topology:
		if key.Type != kafkaio.TypeTopology {
			return decoded{}, fmt.Errorf("key %q on %s is not a topology key", key, in.Topic)
		}
		t, err := decodeTopology(key.ID, in.Value, in.Timestamp)
		return decoded{topo: t}, err
	default:
		return decoded{}, fmt.Errorf("topic %q is not an input of the graph builder", in.Topic)
	}
}

// normEvent is the part of a normalized event (SPEC "Normalized event") the
// graph needs; unknown fields are ignored so the normalizer can add some.
type normEvent struct {
	EventID   string `json:"event_id"`
	Timestamp string `json:"timestamp"`
	Count     int64  `json:"count"`
	Reason    string `json:"reason"`
	Message   string `json:"message"`
	Type      string `json:"type"`
	Severity  string `json:"severity"`
	Category  string `json:"category"`
	Object    struct {
		Kind      string `json:"kind"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
		UID       string `json:"uid"`
	} `json:"object"`
	Source struct {
		Component string `json:"component"`
		Host      string `json:"host"`
	} `json:"source"`
	Node string `json:"node"`
}

func decodeEvent(keyID string, value []byte) (*eventRow, error) {
	if value == nil {
		return nil, errors.New("tombstone on events.normalized")
	}
	var e normEvent
	if err := json.Unmarshal(value, &e); err != nil {
		return nil, fmt.Errorf("decoding normalized event: %w", err)
	}
	if e.EventID != keyID {
		return nil, fmt.Errorf("event_id %q does not match the key's id %q", clip(e.EventID), keyID)
	}
	ts, err := parseTS(e.Timestamp)
	if err != nil {
		return nil, err
	}
	if e.Reason == "" {
		return nil, errors.New("missing reason")
	}
	res, err := newResource(e.Object.Kind, e.Object.Namespace, e.Object.Name)
	if err != nil {
		return nil, fmt.Errorf("object: %w", err)
	}
	if e.Count < 1 {
		e.Count = 1
	}
	row := &eventRow{
		EID: e.EventID, Source: SourceK8s, Reason: truncate(e.Reason, 128),
		Signal: Signal(SourceK8s, e.Reason, e.Severity, e.Message),
		Type:   clip(e.Type), Severity: clip(e.Severity), Category: clip(e.Category),
		Message: truncate(e.Message, MaxMessageBytes), TsMs: ts.UnixMilli(), Count: e.Count,
		Res: res, UID: clip(e.Object.UID),
	}
	// A pod's event names the node it runs on: the normalizer's node, or the
	// kubelet that reported it.
	if res.Kind == "Pod" {
		node := e.Node
		if node == "" && e.Source.Component == "kubelet" {
			node = e.Source.Host
		}
		if node != "" && checkPart("node", node, maxNameLen, false) == nil {
			row.Node = node
		}
	}
	return row, nil
}

// normLog is the part of a normalized log (SPEC "Normalized log") the graph needs.
type normLog struct {
	LogID     string `json:"log_id"`
	Timestamp string `json:"timestamp"`
	Severity  string `json:"severity"`
	Message   string `json:"message"`
	Namespace string `json:"namespace"`
	Pod       string `json:"pod"`
	Node      string `json:"node"`
	PodUID    string `json:"pod_uid"`
	Signature string `json:"signature"`
	// StackTrace is where a multi-line exception names its peer
	// ("PSQLException: Connection to postgres:5432 refused").
	StackTrace string `json:"stack_trace"`
}

// highSignal: logs at WARNING and above, or with a known signature, become
// events; the rest stay in Kafka only.
func highSignal(severity, signature string) bool {
	if signature != "" {
		return true
	}
	switch strings.ToUpper(severity) {
	case "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL":
		return true
	}
	return false
}

func logCategory(signature string) string {
	switch signature {
	case "OOM":
		return "OOM"
	case "CONNECTION_REFUSED", "DNS", "TIMEOUT", "NETWORK_UNREACHABLE":
		return "NETWORK"
	case "PANIC", "CRASH", "EXCEPTION":
		return "CRASH"
	}
	return "OTHER"
}

// maxCallText bounds the text searched for call targets: the message and the
// head of its stack trace, where exceptions name their peer (deep frames name
// code, not peers).
const maxCallText = 2048

func callText(message, stack string) string {
	if stack == "" {
		return truncate(message, maxCallText)
	}
	return truncate(message+"\n"+stack, maxCallText)
}

func decodeLog(keyID string, value []byte) (*eventRow, error) {
	if value == nil {
		return nil, errors.New("tombstone on logs.normalized")
	}
	var l normLog
	if err := json.Unmarshal(value, &l); err != nil {
		return nil, fmt.Errorf("decoding normalized log: %w", err)
	}
	if l.LogID != keyID {
		return nil, fmt.Errorf("log_id %q does not match the key's id %q", clip(l.LogID), keyID)
	}
	if !highSignal(l.Severity, l.Signature) {
		return nil, errLowSignal
	}
	ts, err := parseTS(l.Timestamp)
	if err != nil {
		return nil, err
	}
	l.Signature = truncate(l.Signature, 64)
	res, err := newResource("Pod", l.Namespace, l.Pod)
	if err != nil {
		return nil, fmt.Errorf("log's pod: %w", err)
	}
	row := &eventRow{
		EID: l.LogID, Source: SourceLog, Reason: l.Signature,
		Signal: Signal(SourceLog, l.Signature, strings.ToUpper(l.Severity), l.Message),
		Type:   "Log", Severity: clip(strings.ToUpper(l.Severity)), Category: logCategory(l.Signature),
		Message: truncate(l.Message, MaxMessageBytes), TsMs: ts.UnixMilli(), Count: 1,
		Res: res, UID: clip(l.PodUID),
	}
	if l.Node != "" && checkPart("node", l.Node, maxNameLen, false) == nil {
		row.Node = l.Node
	}
	row.Calls = parseCallTargets(callText(l.Message, l.StackTrace), res.Namespace)
	row.DNS = l.Signature == "DNS"
	return row, nil
}

// TopologyRecord is the value of a state.k8s.topology record: one Kubernetes
// resource and its relations (docs/graph.md, "Topology records"). A tombstone
// (null value) means the resource was deleted.
type TopologyRecord struct {
	Kind      string            `json:"kind"`
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	UID       string            `json:"uid,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Node the resource runs on (pods): RUNS_ON the Node.
	Node string `json:"node,omitempty"`
	// Owners from metadata.ownerReferences: OWNED_BY each. Their namespace is
	// the resource's unless given (or the owner's kind is cluster-scoped).
	Owners []Ref `json:"owners,omitempty"`
	// Selects: the resources a Service (or any selector) currently selects,
	// resolved by the agent: SELECTS each.
	Selects []Ref `json:"selects,omitempty"`
	// IPs: a pod's IPs, a Service's cluster IPs (HAS_IP each), so a log that
	// names an address reveals whom it called.
	IPs []string `json:"ips,omitempty"`
	// Uses: what a pod mounts or reads (PersistentVolumeClaims, ConfigMaps,
	// Secrets): USES each. Namespace as for Owners.
	Uses []Ref `json:"uses,omitempty"`
}

// Ref names a related resource.
type Ref struct {
	Kind      string  `json:"kind"`
	Namespace *string `json:"namespace,omitempty"`
	Name      string  `json:"name"`
}

func decodeTopology(keyID string, value []byte, kafkaTS time.Time) (*topoRow, error) {
	parts := strings.SplitN(keyID, "/", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("topology id %q: want <kind>/<namespace>/<name>", keyID)
	}
	keyRes, err := newResource(parts[0], parts[1], parts[2])
	if err != nil {
		return nil, fmt.Errorf("topology key: %w", err)
	}
	if keyRes.RID != keyID {
		return nil, fmt.Errorf("topology key %q: a %s is cluster-scoped, want %q", keyID, keyRes.Kind, keyRes.RID)
	}
	row := &topoRow{Res: keyRes, TsMs: kafkaTS.UnixMilli()}
	if value == nil {
		row.Tombstone = true
		return row, nil
	}
	var t TopologyRecord
	if err := json.Unmarshal(value, &t); err != nil {
		return nil, fmt.Errorf("decoding topology record: %w", err)
	}
	res, err := newResource(t.Kind, t.Namespace, t.Name)
	if err != nil {
		return nil, fmt.Errorf("topology record: %w", err)
	}
	if res.RID != keyRes.RID {
		return nil, fmt.Errorf("topology record is about %q but its key names %q", res.RID, keyRes.RID)
	}
	if n := len(t.Owners) + len(t.Selects) + len(t.Uses) + len(t.IPs); n > MaxRelations {
		return nil, fmt.Errorf("%d relations, the limit is %d", n, MaxRelations)
	}
	if len(t.Labels) > MaxLabels {
		return nil, fmt.Errorf("%d labels, the limit is %d", len(t.Labels), MaxLabels)
	}
	row.UID = clip(t.UID)
	for k, v := range t.Labels {
		row.Labels = append(row.Labels, k+"="+v)
	}
	sort.Strings(row.Labels)
	if t.Node != "" {
		n, err := newResource("Node", "", t.Node)
		if err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		row.Rels = append(row.Rels, relation{Type: "RUNS_ON", Target: n})
	}
	for _, g := range []struct {
		typ  string
		refs []Ref
	}{{"OWNED_BY", t.Owners}, {"SELECTS", t.Selects}, {"USES", t.Uses}} {
		for i, r := range g.refs {
			ns := res.Namespace
			if r.Namespace != nil {
				ns = *r.Namespace
			}
			target, err := newResource(r.Kind, ns, r.Name)
			if err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", strings.ToLower(g.typ), i, err)
			}
			row.Rels = append(row.Rels, relation{Type: g.typ, Target: target})
		}
	}
	for i, ip := range t.IPs {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, fmt.Errorf("ips[%d]: %q is not an IP address", i, clip(ip))
		}
		if s := a.Unmap().String(); !slices.Contains(row.IPs, s) {
			row.IPs = append(row.IPs, s)
		}
	}
	return row, nil
}

func parseTS(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing timestamp")
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: %w", clip(s), err)
	}
	if ts.Year() < 1970 || ts.Year() > 9999 {
		return time.Time{}, fmt.Errorf("timestamp %q out of range", clip(s))
	}
	return ts, nil
}

// checkKind accepts any well-formed Kubernetes kind, custom resources included:
// an unknown kind is still a resource; a malformed one is garbage.
func checkKind(kind string) error {
	if kind == "" {
		return errors.New("missing kind")
	}
	if len(kind) > maxKindLen {
		return fmt.Errorf("kind %q is longer than %d", clip(kind), maxKindLen)
	}
	for i, r := range kind {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || i > 0 && unicode.IsDigit(r)) || i == 0 && !unicode.IsUpper(r) {
			return fmt.Errorf("kind %q: want an UpperCamelCase Kubernetes kind", clip(kind))
		}
	}
	return nil
}

// checkPart checks a namespace, name or similar part of an identity: no "/"
// (the rid separator), no whitespace or control characters, bounded length.
func checkPart(what, s string, max int, emptyOK bool) error {
	if s == "" {
		if emptyOK {
			return nil
		}
		return fmt.Errorf("missing %s", what)
	}
	if len(s) > max {
		return fmt.Errorf("%s is %d bytes, the limit is %d", what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	for _, r := range s {
		if r == '/' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("%s %q contains %q", what, clip(s), r)
		}
	}
	return nil
}

// clusterScoped lists the built-in kinds without a namespace, so "Node//n1" is the
// one identity of a node whatever namespace an event's object claims.
func clusterScoped(kind string) bool {
	switch kind {
	case "Node", "Namespace", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
		"CustomResourceDefinition", "PriorityClass", "IngressClass", "RuntimeClass", "CSIDriver", "CSINode",
		"VolumeAttachment", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "APIService":
		return true
	}
	return false
}

// namespaced lists the built-in kinds that always have a namespace; a custom
// kind may be either, so only these are refused without one.
func namespaced(kind string) bool {
	switch kind {
	case "Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "Service", "Endpoints",
		"EndpointSlice", "ConfigMap", "Secret", "PersistentVolumeClaim", "ServiceAccount", "Ingress",
		"HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Role", "RoleBinding", "Lease":
		return true
	}
	return false
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n - len(truncatedMark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncatedMark
}

// clip bounds a free-text field that is not the message.
func clip(s string) string { return truncate(s, 256) }
