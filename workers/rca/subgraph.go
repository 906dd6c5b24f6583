package rca

// Subgraph is what the ranking reads from a client's graph: the warning
// events of a window around the symptom, the CAUSES edges between them, and
// the relations between their resources. read.go fills it from Neo4j; tests
// build it by hand.
type Subgraph struct {
	// Events are the events of the window: around a symptom all of them
	// (a routine-looking action — a scale-down, a rollout — can be the
	// cause), for incidents the warnings.
	Events []Event
	// Relations say which resource may affect which (From's events can cause
	// To's), with the kind of relation.
	Relations []Relation
	// Scope are the resources the question is about: the symptom and what it
	// owns or selects. Empty: every event is a potential symptom (incidents).
	Scope []string
}

// Event is one :Event node with its resource.
type Event struct {
	EID      string
	RID      string
	Signal   string
	TsMs     int64
	Count    int64
	Type     string // Normal, Warning, or Log
	Severity string
	Message  string
	// Causes are the CAUSES edges into this event.
	Causes []Cause
}

// Cause is a CAUSES edge from another event (by eid).
type Cause struct {
	EID        string
	Rule       string
	Confidence float64
}

// Relation is a resource relation the ranking may follow from cause to
// effect: From's events may cause To's events.
type Relation struct {
	From, To string
	Kind     RelKind
}

// RelKind is how a possible cause's resource relates to the effect's.
type RelKind string

// The relations the neighbourhood query finds (cause side → effect side).
const (
	RelSame    RelKind = "same"    // one resource
	RelNode    RelKind = "node"    // the Node the effect's resource runs on
	RelOwner   RelKind = "owner"   // an owner (ReplicaSet, Deployment, StatefulSet, Job...)
	RelSibling RelKind = "sibling" // another resource of the same owner
	RelUses    RelKind = "uses"    // a PVC, ConfigMap or Secret the effect's resource uses
	RelCalls   RelKind = "calls"   // what the effect's resource calls (a Service, its pods)
	RelBackend RelKind = "backend" // a pod behind the effect's Service
	RelPeer    RelKind = "peer"    // another pod behind the same Service
	// RelNamespace: a failing resource in the namespace of a caller whose
	// connection errors name no target the graph knows (a Java
	// ConnectException, a bare "connection refused"). Services mostly call
	// within their namespace, so its failing pods are the suspects.
	RelNamespace RelKind = "namespace"
)
