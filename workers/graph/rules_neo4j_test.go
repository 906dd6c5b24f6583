package graph

import (
	"slices"
	"testing"
	"time"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// Every rule of the table, in Neo4j, in both arrival orders.
func TestEveryRuleLinksInNeo4j(t *testing.T) {
	pod := func(name string) ev { return ev{kind: "Pod", namespace: "shop", objName: name, host: "node-1"} }
	at := func(e ev, name string, s int, reason, msg string) ev {
		e.name, e.at, e.reason, e.message = name, time.Duration(s)*time.Second, reason, msg
		return e
	}
	var (
		oomLog    = lg{name: "oom-log", namespace: "shop", pod: "api-1", node: "node-1", severity: "ERROR", signature: "OOM", message: "java.lang.OutOfMemoryError: Java heap space"}
		oomBack   = at(pod("api-1"), "oom-backoff", 5, "BackOff", "Back-off restarting failed container api")
		lateBack  = at(pod("api-1"), "late-backoff", 700, "BackOff", "Back-off restarting failed container api")
		unhealthy = at(pod("web-1"), "unhealthy", 0, "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500")
		killing   = at(pod("web-1"), "killing", 10, "Killing", "Container web failed liveness probe, will be restarted")
		webBack   = at(pod("web-1"), "web-backoff", 20, "BackOff", "Back-off restarting failed container web")
		pullErr   = at(pod("img-1"), "pull-err", 0, "Failed", `Failed to pull image "shop/img:nope": rpc error: not found`)
		pullBack  = at(pod("img-1"), "pull-backoff", 10, "BackOff", `Back-off pulling image "shop/img:nope"`)
		mount     = at(pod("cfg-1"), "mount", 0, "FailedMount", `MountVolume.SetUp failed for volume "cfg" : configmap "app" not found`)
		cfgErr    = at(pod("cfg-1"), "cfg-err", 5, "Failed", `Error: configmap "app" not found`)
		refused   = lg{name: "refused", namespace: "shop", pod: "front-1", severity: "ERROR", signature: "CONNECTION_REFUSED",
			message: "dial tcp 10.0.0.9:8080: connect: connection refused", at: 0}
		readySelf  = at(pod("front-1"), "ready-self", 10, "Unhealthy", "Readiness probe failed: connection refused")
		readyPeer  = at(pod("front-2"), "ready-peer", 15, "Unhealthy", "Readiness probe failed: connection refused")
		readyOther = at(pod("other-1"), "ready-other", 15, "Unhealthy", "Readiness probe failed: connection refused")
	)
	svc := topo("", &TopologyRecord{Kind: "Service", Namespace: "shop", Name: "front",
		Selects: []Ref{{Kind: "Pod", Name: "front-1"}, {Kind: "Pod", Name: "front-2"}}}, "Service", "shop", "front", 0)
	want := sortedStrings(
		edge(oomLog.id(), "oom-backoff", oomBack.id()),
		edge(unhealthy.id(), "probe-kill", killing.id()),
		edge(killing.id(), "kill-backoff", webBack.id()),
		edge(pullErr.id(), "image-pull-backoff", pullBack.id()),
		edge(mount.id(), "missing-config-no-start", cfgErr.id()),
		edge(refused.id(), "dependency-down-readiness", readySelf.id()),
		edge(refused.id(), "dependency-down-readiness-peers", readyPeer.id()),
	)
	records := func(client string) []kafkaio.Record {
		s := svc
		s.Key = []byte(client + string(s.Key))
		return []kafkaio.Record{s, oomLog.record(client), oomBack.record(client), lateBack.record(client),
			unhealthy.record(client), killing.record(client), webBack.record(client), pullErr.record(client), pullBack.record(client),
			mount.record(client), cfgErr.record(client), refused.record(client), readySelf.record(client), readyPeer.record(client),
			readyOther.record(client)}
	}
	for _, order := range []string{"causes first", "effects first"} {
		t.Run(order, func(t *testing.T) {
			client := uniqueClient("gb-rules")
			b, d, dlq := newTestBuilder(t, client)
			recs := records(client)
			if order == "effects first" {
				slices.Reverse(recs)
			}
			for _, r := range recs {
				handle(t, b, r)
			}
			if l := dlq.all(); len(l) > 0 {
				t.Fatalf("dead letters: %q", l)
			}
			if got := causes(t, d, client); !slices.Equal(got, want) {
				t.Fatalf("CAUSES edges:\n got %q\nwant %q", got, want)
			}
		})
	}
}
