package graph

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// callsCluster is the topology of the call-dependency tests: a web pod that
// calls the cart Service (by address, by name and by URL), the cluster DNS
// behind kube-dns, a pod with a PersistentVolumeClaim, and a batch pod on a
// node under memory pressure.
func callsCluster(client string) []kafkaio.Record {
	sys := "kube-system"
	return []kafkaio.Record{
		nodeTopo(client, "node-1"), nodeTopo(client, "node-2"),
		topo(client, &TopologyRecord{Kind: "Pod", Namespace: "shop", Name: "cart-1", Node: "node-1", IPs: []string{"10.244.1.7"}},
			"Pod", "shop", "cart-1", 0),
		topo(client, &TopologyRecord{Kind: "Service", Namespace: "shop", Name: "cart", IPs: []string{"10.96.5.5"},
			Selects: []Ref{{Kind: "Pod", Name: "cart-1"}}}, "Service", "shop", "cart", 0),
		topo(client, &TopologyRecord{Kind: "Pod", Namespace: "web", Name: "front-1", Node: "node-1"}, "Pod", "web", "front-1", 0),
		topo(client, &TopologyRecord{Kind: "Pod", Namespace: "web", Name: "front-2", Node: "node-1"}, "Pod", "web", "front-2", 0),
		topo(client, &TopologyRecord{Kind: "Pod", Namespace: "web", Name: "legacy-1", Node: "node-1"}, "Pod", "web", "legacy-1", 0),
		topo(client, &TopologyRecord{Kind: "Pod", Namespace: sys, Name: "coredns-1", Node: "node-2", IPs: []string{"10.244.2.2"}},
			"Pod", sys, "coredns-1", 0),
		topo(client, &TopologyRecord{Kind: "Service", Namespace: sys, Name: "kube-dns", IPs: []string{"10.96.0.10"},
			Selects: []Ref{{Kind: "Pod", Name: "coredns-1"}}}, "Service", sys, "kube-dns", 0),
		topo(client, &TopologyRecord{Kind: "PersistentVolumeClaim", Namespace: "data", Name: "pg-data"},
			"PersistentVolumeClaim", "data", "pg-data", 0),
		topo(client, &TopologyRecord{Kind: "Pod", Namespace: "data", Name: "pg-0",
			Uses: []Ref{{Kind: "PersistentVolumeClaim", Name: "pg-data"}, {Kind: "Secret", Name: "pg-pass"}}}, "Pod", "data", "pg-0", 0),
		topo(client, &TopologyRecord{Kind: "Pod", Namespace: "batch", Name: "job-1", Node: "node-2"}, "Pod", "batch", "job-1", 0),
		// Controllers and what they manage.
		topo(client, &TopologyRecord{Kind: "Job", Namespace: "batch", Name: "migrate"}, "Job", "batch", "migrate", 0),
		topo(client, &TopologyRecord{Kind: "Pod", Namespace: "batch", Name: "migrate-x7k2p", Owners: []Ref{{Kind: "Job", Name: "migrate"}}},
			"Pod", "batch", "migrate-x7k2p", 0),
		topo(client, &TopologyRecord{Kind: "Deployment", Namespace: "web", Name: "front"}, "Deployment", "web", "front", 0),
		topo(client, &TopologyRecord{Kind: "ReplicaSet", Namespace: "web", Name: "front-5d", Owners: []Ref{{Kind: "Deployment", Name: "front"}}},
			"ReplicaSet", "web", "front-5d", 0),
		topo(client, &TopologyRecord{Kind: "Pod", Namespace: "web", Name: "front-5d-q2", Owners: []Ref{{Kind: "ReplicaSet", Name: "front-5d"}}},
			"Pod", "web", "front-5d-q2", 0),
	}
}

// The rules that follow CALLS, USES and node pressure, in Neo4j, in both
// arrival orders of the events.
func TestRelationRulesLinkInNeo4j(t *testing.T) {
	pod := func(ns, name, host string) ev { return ev{kind: "Pod", namespace: ns, objName: name, host: host} }
	at := func(e ev, name string, s int, reason, msg string) ev {
		e.name, e.at, e.reason, e.message = name, time.Duration(s)*time.Second, reason, msg
		return e
	}
	var (
		cartOOM = at(pod("shop", "cart-1", "node-1"), "cart-oom", 0, "OOMKilled", "Container cart was OOM-killed")
		// By the Service's address, by name, by URL.
		refusedIP = lg{name: "refused-ip", namespace: "web", pod: "front-1", severity: "ERROR", signature: "CONNECTION_REFUSED",
			message: "dial tcp 10.96.5.5:8080: connect: connection refused", at: 5 * time.Second}
		refusedName = lg{name: "refused-name", namespace: "web", pod: "front-2", severity: "ERROR", signature: "CONNECTION_REFUSED",
			message: `Get "http://cart.shop:8080/items": dial tcp 10.244.1.7:8080: connect: connection refused`, at: 6 * time.Second}
		frontReady = at(pod("web", "front-1", "node-1"), "front-ready", 15, "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503")
		// A generic error that names the callee links; one that names nothing
		// does not.
		named503 = lg{name: "named-503", namespace: "web", pod: "front-2", severity: "ERROR",
			message: "upstream cart.shop returned 503 Service Unavailable", at: 8 * time.Second}
		unnamedErr = lg{name: "unnamed-err", namespace: "web", pod: "front-1", severity: "ERROR",
			message: "request failed", at: 9 * time.Second}

		dnsBack = at(pod("kube-system", "coredns-1", "node-2"), "dns-backoff", 0, "BackOff", "Back-off restarting failed container coredns")
		// A DNS failure that names its nameserver, and one that does not.
		dnsNamed = lg{name: "dns-named", namespace: "web", pod: "front-2", severity: "ERROR", signature: "DNS",
			message: "dial tcp: lookup payments.billing.svc.cluster.local on 10.96.0.10:53: server misbehaving", at: 20 * time.Second}
		dnsBare = lg{name: "dns-bare", namespace: "web", pod: "legacy-1", severity: "ERROR", signature: "DNS",
			message: "java.net.UnknownHostException: ledger: Temporary failure in name resolution", at: 21 * time.Second}

		provFail = ev{name: "prov-fail", at: 0, reason: "ProvisioningFailed", kind: "PersistentVolumeClaim", namespace: "data",
			objName: "pg-data", message: `storageclass.storage.k8s.io "fast" not found`}
		pgSched = ev{name: "pg-sched", at: 5 * time.Second, reason: "FailedScheduling", kind: "Pod", namespace: "data", objName: "pg-0",
			message: "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims."}

		pressure = ev{name: "pressure", at: 0, reason: "EvictionThresholdMet", kind: "Node", objName: "node-2", host: "node-2",
			message: "Attempting to reclaim memory"}
		evicted = at(pod("batch", "job-1", "node-2"), "job-evicted", 30, "Evicted", "The node was low on resource: memory.")

		podErr    = at(pod("batch", "migrate-x7k2p", "node-2"), "migrate-err", 0, "Error", "Container migrate terminated with exit code 1 (Error)")
		jobGaveUp = ev{name: "job-gave-up", at: 90 * time.Second, reason: "BackoffLimitExceeded", kind: "Job", namespace: "batch",
			objName: "migrate", message: "Job has reached the specified backoff limit"}
		scaled = ev{name: "scaled", at: 0, reason: "ScalingReplicaSet", kind: "Deployment", namespace: "web", objName: "front",
			message: "Scaled down replica set front-5d to 0 from 1"}
		stopped = at(pod("web", "front-5d-q2", "node-1"), "stopped", 2, "Killing", "Stopping container front")

		// Names nothing the topology knows: no CALLS, no edge (it talked to
		// something else).
		stranger = lg{name: "stranger", namespace: "web", pod: "front-1", severity: "ERROR", signature: "CONNECTION_REFUSED",
			message: "dial tcp 192.0.2.1:8080: connect: connection refused", at: 7 * time.Second}
	)
	const callee, readiness = "callee-down-caller-errors", "dependency-down-readiness"
	want := sortedStrings(
		edge(cartOOM.id(), callee, refusedIP.id()),
		edge(cartOOM.id(), callee, refusedName.id()),
		edge(cartOOM.id(), "callee-down-caller-named-errors", named503.id()),
		edge(refusedIP.id(), readiness, frontReady.id()),
		edge(stranger.id(), readiness, frontReady.id()),
		edge(dnsBack.id(), callee, dnsNamed.id()),
		edge(dnsBack.id(), callee, dnsBare.id()),
		edge(provFail.id(), "used-volume-blocks-pod", pgSched.id()),
		edge(pressure.id(), "node-pressure-eviction", evicted.id()),
		edge(podErr.id(), "failed-pods-fail-job", jobGaveUp.id()),
		edge(scaled.id(), "scale-down-kills", stopped.id()),
	)
	events := func(client string) []kafkaio.Record {
		return []kafkaio.Record{cartOOM.record(client), refusedIP.record(client), refusedName.record(client), stranger.record(client),
			named503.record(client), unnamedErr.record(client), podErr.record(client), jobGaveUp.record(client),
			scaled.record(client), stopped.record(client),
			frontReady.record(client), dnsBack.record(client), dnsNamed.record(client), dnsBare.record(client),
			provFail.record(client), pgSched.record(client), pressure.record(client), evicted.record(client)}
	}
	// Topology and logs are different topics: either may arrive first.
	for _, order := range []string{"causes first", "effects first", "one batch", "topology last", "topology last, effects first"} {
		t.Run(order, func(t *testing.T) {
			client := uniqueClient("gb-rel")
			b, d, dlq := newTestBuilder(t, client)
			topoLast := strings.HasPrefix(order, "topology last")
			if !topoLast {
				handle(t, b, callsCluster(client)...)
			}
			recs := events(client)
			switch order {
			case "one batch":
				handle(t, b, recs...)
			case "effects first", "topology last, effects first":
				slices.Reverse(recs)
				fallthrough
			default:
				for _, r := range recs {
					handle(t, b, r)
				}
			}
			if topoLast {
				for _, r := range callsCluster(client) {
					handle(t, b, r)
				}
			}
			if l := dlq.all(); len(l) > 0 {
				t.Fatalf("dead letters: %q", l)
			}
			if got := causes(t, d, client); !slices.Equal(got, want) {
				t.Fatalf("CAUSES edges:\n got %q\nwant %q", got, want)
			}
			p := map[string]any{"client": client}
			for _, c := range []struct {
				what, q string
				want    int64
			}{
				{"front-1 calls cart by its address", `MATCH (:Resource {client: $client, rid: 'Pod/web/front-1'})-[c:CALLS {via: 'log'}]->
					(:Resource {rid: 'Service/shop/cart'}) WHERE c.first_ms = c.last_ms RETURN count(c)`, 1},
				{"front-2 calls cart by name and its pod by address", `MATCH (:Resource {client: $client, rid: 'Pod/web/front-2'})-[c:CALLS]->
					(t:Resource) WHERE t.rid IN ['Service/shop/cart', 'Pod/shop/cart-1'] RETURN count(c)`, 2},
				{"a named nameserver is the DNS Service", `MATCH (:Resource {client: $client, rid: 'Pod/web/front-2'})-[c:CALLS]->
					(:Resource {rid: 'Service/kube-system/kube-dns'}) RETURN count(c)`, 1},
				{"an unnamed one falls back to kube-dns", `MATCH (:Resource {client: $client, rid: 'Pod/web/legacy-1'})-[c:CALLS]->
					(t:Resource) RETURN count(c) + CASE WHEN collect(t.rid) = ['Service/kube-system/kube-dns'] THEN 100 ELSE 0 END`, 101},
				{"unknown addresses and names are not linked", `MATCH (:Resource {client: $client, rid: 'Pod/web/front-1'})-[c:CALLS]->() RETURN count(c)`, 1},
				{"CALLS first/last span the logs", `MATCH (:Resource {client: $client})-[c:CALLS]->(:Resource {rid: 'Service/shop/cart'})
					WHERE c.last_ms >= c.first_ms RETURN count(c)`, 2},
				{"the pod uses its claim and secret", `MATCH (:Resource {client: $client, rid: 'Pod/data/pg-0'})-[u:USES {via: 'topology'}]->(t)
					WHERE u.until IS NULL AND t.rid IN ['PersistentVolumeClaim/data/pg-data', 'Secret/data/pg-pass'] RETURN count(u)`, 2},
				{"addresses are shared nodes", `MATCH (:Resource {client: $client})-[h:HAS_IP {via: 'topology'}]->(a:IP {client: $client}) RETURN count(h)`, 4},
			} {
				if got := count(t, d, c.q, p); got != c.want {
					t.Errorf("%s: got %d, want %d", c.what, got, c.want)
				}
			}
		})
	}
}

// Topology that stops listing an address or a used resource ends the relation;
// a recycled address then resolves to its new holder only.
func TestAddressesAndUsesEnd(t *testing.T) {
	client := uniqueClient("gb-ips")
	b, d, dlq := newTestBuilder(t, client)
	handle(t, b,
		topo(client, &TopologyRecord{Kind: "Pod", Namespace: "shop", Name: "old-1", IPs: []string{"10.244.9.9"},
			Uses: []Ref{{Kind: "ConfigMap", Name: "cfg"}}}, "Pod", "shop", "old-1", 0),
		topo(client, &TopologyRecord{Kind: "Pod", Namespace: "shop", Name: "caller"}, "Pod", "shop", "caller", 0))
	handle(t, b, topo(client, nil, "Pod", "shop", "old-1", 10*time.Second))
	handle(t, b, topo(client, &TopologyRecord{Kind: "Pod", Namespace: "shop", Name: "new-1", IPs: []string{"10.244.9.9"}},
		"Pod", "shop", "new-1", 20*time.Second))
	// Long after the old pod is gone, the address is the new pod's.
	handle(t, b, lg{name: "late", namespace: "shop", pod: "caller", severity: "ERROR", signature: "TIMEOUT",
		message: "dial tcp 10.244.9.9:80: i/o timeout", at: time.Hour}.record(client))
	if l := dlq.all(); len(l) > 0 {
		t.Fatalf("dead letters: %q", l)
	}
	p := map[string]any{"client": client}
	for _, c := range []struct {
		what, q string
		want    int64
	}{
		{"the deleted pod's address and use ended", `MATCH (:Resource {client: $client, rid: 'Pod/shop/old-1'})-[x:HAS_IP|USES]->()
			WHERE x.until IS NOT NULL RETURN count(x)`, 2},
		{"one address node", `MATCH (a:IP {client: $client, ip: '10.244.9.9'}) RETURN count(a)`, 1},
		{"the late log calls the new holder only", `MATCH (:Resource {client: $client, rid: 'Pod/shop/caller'})-[:CALLS]->(t)
			RETURN count(t) + CASE WHEN collect(t.rid) = ['Pod/shop/new-1'] THEN 100 ELSE 0 END`, 101},
	} {
		if got := count(t, d, c.q, p); got != c.want {
			t.Errorf("%s: got %d, want %d", c.what, got, c.want)
		}
	}
}
