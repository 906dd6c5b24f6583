package graph

import (
	"time"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// incident is the scripted node failure: node-1 goes NotReady, its two web pods
// are evicted and deleted, and their replacements from the same ReplicaSet
// cannot be scheduled. A pod on node-2 evicted at the same time for another
// reason, and a log of that pod, must not be linked to node-1.
type incident struct {
	topology []kafkaio.Record // the cluster before the incident
	events   []kafkaio.Record // events and logs, in the order they happened
	after    []kafkaio.Record // topology after the evictions: tombstones and replacements
	want     []string         // the CAUSES edges
}

func nodeTopo(client, name string) kafkaio.Record {
	return topo(client, &TopologyRecord{Kind: "Node", Name: name, UID: "uid-" + name}, "Node", "", name, 0)
}

func newIncident(client string) incident {
	var (
		notReady = ev{name: "notready", at: 0, reason: "NodeNotReady", message: "Node node-1 status is now: NodeNotReady",
			kind: "Node", objName: "node-1", host: "node-1"}
		evictA = ev{name: "evict-a", at: 40 * time.Second, reason: "Evicted", message: "The node was low on resource: memory.",
			kind: "Pod", namespace: "shop", objName: "web-a", host: "node-1"}
		evictB = ev{name: "evict-b", at: 41 * time.Second, reason: "Evicted", message: "The node was low on resource: memory.",
			kind: "Pod", namespace: "shop", objName: "web-b", host: "node-1"}
		evictDB = ev{name: "evict-db", at: 42 * time.Second, reason: "Evicted", message: "The node was low on resource: ephemeral-storage.",
			kind: "Pod", namespace: "data", objName: "db-0", host: "node-2"}
		schedC = ev{name: "sched-c", at: 50 * time.Second, reason: "FailedScheduling",
			message: "0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 Insufficient memory.",
			kind:    "Pod", namespace: "shop", objName: "web-c"}
		schedD = ev{name: "sched-d", at: 51 * time.Second, reason: "FailedScheduling",
			message: "0/2 nodes are available.", kind: "Pod", namespace: "shop", objName: "web-d"}
		// Repeats of one event are distinct occurrences.
		schedD2 = ev{name: "sched-d-2", at: 81 * time.Second, reason: "FailedScheduling",
			message: "0/2 nodes are available.", kind: "Pod", namespace: "shop", objName: "web-d", count: 2}
		dbLog = lg{name: "db-log", namespace: "data", pod: "db-0", node: "node-2", severity: "ERROR",
			signature: "CONNECTION_REFUSED", message: "dial tcp 10.0.0.7:5432: connect: connection refused", at: 45 * time.Second}
		infoLog = lg{name: "info-log", namespace: "shop", pod: "web-a", node: "node-1", severity: "INFO",
			message: "GET /healthz 200", at: 10 * time.Second}
	)
	in := incident{
		topology: []kafkaio.Record{
			nodeTopo(client, "node-1"), nodeTopo(client, "node-2"),
			podTopo(client, "shop", "web-a", "node-1", "web-7d9", 0),
			podTopo(client, "shop", "web-b", "node-1", "web-7d9", 0),
			topo(client, &TopologyRecord{Kind: "StatefulSet", Namespace: "data", Name: "db"}, "StatefulSet", "data", "db", 0),
			topo(client, &TopologyRecord{Kind: "Pod", Namespace: "data", Name: "db-0", Node: "node-2",
				Owners: []Ref{{Kind: "StatefulSet", Name: "db"}}}, "Pod", "data", "db-0", 0),
			topo(client, &TopologyRecord{Kind: "ReplicaSet", Namespace: "shop", Name: "web-7d9",
				Owners: []Ref{{Kind: "Deployment", Name: "web"}}}, "ReplicaSet", "shop", "web-7d9", 0),
			topo(client, &TopologyRecord{Kind: "Service", Namespace: "shop", Name: "web",
				Selects: []Ref{{Kind: "Pod", Name: "web-a"}, {Kind: "Pod", Name: "web-b"}}}, "Service", "shop", "web", 0),
		},
		events: []kafkaio.Record{
			infoLog.record(client), notReady.record(client), evictA.record(client), evictB.record(client),
			evictDB.record(client), dbLog.record(client), schedC.record(client), schedD.record(client), schedD2.record(client),
		},
		after: []kafkaio.Record{
			topo(client, nil, "Pod", "shop", "web-a", 45*time.Second),
			topo(client, nil, "Pod", "shop", "web-b", 45*time.Second),
			podTopo(client, "shop", "web-c", "", "web-7d9", 46*time.Second),
			podTopo(client, "shop", "web-d", "", "web-7d9", 46*time.Second),
			topo(client, &TopologyRecord{Kind: "Service", Namespace: "shop", Name: "web",
				Selects: []Ref{}}, "Service", "shop", "web", 46*time.Second),
		},
	}
	const nre, eur = "node-not-ready-eviction", "eviction-unschedulable-replacement"
	in.want = sortedStrings(
		edge(notReady.id(), nre, evictA.id()),
		edge(notReady.id(), nre, evictB.id()),
		edge(evictA.id(), eur, schedC.id()),
		edge(evictA.id(), eur, schedD.id()),
		edge(evictA.id(), eur, schedD2.id()),
		edge(evictB.id(), eur, schedC.id()),
		edge(evictB.id(), eur, schedD.id()),
		edge(evictB.id(), eur, schedD2.id()),
	)
	return in
}

// inOrder is the realistic arrival: topology, then events interleaved with the
// topology changes they cause.
func (in incident) inOrder() [][]kafkaio.Record {
	return [][]kafkaio.Record{in.topology, in.events[:6], in.after, in.events[6:]}
}
