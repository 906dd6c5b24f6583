package graph

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

func TestBadInputIsDeadLetteredNeverCrashesNeverLeaks(t *testing.T) {
	client, other := uniqueClient("gb-bad"), uniqueClient("gb-bad-other")
	b, d, dlq := newTestBuilder(t, client)
	cleanupClient(t, d, other)

	good := ev{name: "good", reason: "BackOff", message: "Back-off restarting failed container", kind: "Pod", namespace: "shop", objName: "api-1", host: "node-1"}
	mutate := func(e ev, f func(m map[string]any)) kafkaio.Record {
		r := e.record(client)
		var m map[string]any
		_ = json.Unmarshal(r.Value, &m)
		f(m)
		r.Value, _ = json.Marshal(m)
		return r
	}
	rec := func(topic, key, value string) kafkaio.Record {
		r := kafkaio.Record{Topic: topic, Key: []byte(key), Timestamp: t0}
		if value != "" {
			r.Value = []byte(value)
		}
		return r
	}
	withID := func(e ev, name string) ev { e.name = name; return e }
	huge := strings.Repeat("x", 300_000)

	bad := []struct {
		name   string
		rec    kafkaio.Record
		reason string // a substring of the dead-letter reason
	}{
		{"not JSON", rec(kafkaio.TopicEventsNormalized, client+"::"+hexID("evt-", "nj"), "{not json"), "decoding normalized event"},
		{"wrong type", mutate(withID(good, "wt"), func(m map[string]any) { m["count"] = "three" }), "decoding normalized event"},
		{"object not an object", mutate(withID(good, "oo"), func(m map[string]any) { m["object"] = []int{1} }), "decoding normalized event"},
		{"missing reason", mutate(withID(good, "mr"), func(m map[string]any) { delete(m, "reason") }), "missing reason"},
		{"missing timestamp", mutate(withID(good, "mt"), func(m map[string]any) { delete(m, "timestamp") }), "missing timestamp"},
		{"bad timestamp", mutate(withID(good, "bt"), func(m map[string]any) { m["timestamp"] = "yesterday" }), "timestamp"},
		{"missing object name", mutate(withID(good, "mn"), func(m map[string]any) { m["object"].(map[string]any)["name"] = "" }), "missing name"},
		{"malformed kind", mutate(withID(good, "mk"), func(m map[string]any) { m["object"].(map[string]any)["kind"] = "pod/../x" }), "kind"},
		{"name with a slash", mutate(withID(good, "ns"), func(m map[string]any) { m["object"].(map[string]any)["name"] = "a/b" }), "contains"},
		{"event id differs from key", mutate(withID(good, "id"), func(m map[string]any) { m["event_id"] = hexID("evt-", "else") }), "does not match"},
		{"tombstone on events", rec(kafkaio.TopicEventsNormalized, client+"::"+hexID("evt-", "tomb"), ""), "tombstone"},
		{"oversize value", mutate(withID(good, "big"), func(m map[string]any) { m["message"] = huge + huge + huge + huge }), "limit"},
		{"garbage key", rec(kafkaio.TopicEventsNormalized, client+"::nonsense", "{}"), "bad key"},
		{"log key on events topic", withTopic(lg{name: "lk", namespace: "a", pod: "p", severity: "ERROR"}.record(client), kafkaio.TopicEventsNormalized), "not an evt- key"},
		{"log wrong type", rec(kafkaio.TopicLogsNormalized, client+"::"+hexID("log-", "lw"), `{"log_id":"`+hexID("log-", "lw")+`","severity":7}`), "decoding normalized log"},
		{"high-signal log without pod", lg{name: "np", namespace: "a", severity: "ERROR", at: time.Second}.record(client), "missing name"},
		{"high-signal log without namespace", lg{name: "nn", pod: "p", severity: "ERROR", at: time.Second}.record(client), "missing namespace of a Pod"},
		{"pod event without namespace", mutate(withID(good, "pn"), func(m map[string]any) { m["object"].(map[string]any)["namespace"] = "" }), "missing namespace"},
		{"topology not JSON", rec(kafkaio.TopicTopology, client+"::topology::Pod/a/p", "[["), "decoding topology"},
		{"topology about another resource than its key", topo(client, &TopologyRecord{Kind: "Pod", Namespace: "a", Name: "q"}, "Pod", "a", "p", 0), "its key names"},
		{"namespaced node", topo(client, &TopologyRecord{Kind: "Node", Name: "n1"}, "Node", "default", "n1", 0), "cluster-scoped"},
		{"malformed owner", topo(client, &TopologyRecord{Kind: "Pod", Namespace: "a", Name: "p", Owners: []Ref{{Kind: "", Name: "x"}}}, "Pod", "a", "p", 0), "owned_by[0]: missing kind"},
		{"wrong type in selects", rec(kafkaio.TopicTopology, client+"::topology::Service/a/s", `{"kind":"Service","namespace":"a","name":"s","selects":"all"}`), "decoding topology"},
	}
	var batch []kafkaio.Record
	for _, c := range bad {
		batch = append(batch, c.rec)
	}
	// Records that are odd but fine, and another client's record.
	unknownKind := ev{name: "crd", reason: "Reconciled", kind: "KafkaTopic", namespace: "streams", objName: "orders"}
	hugeMsg := ev{name: "huge", reason: "BackOff", message: huge, kind: "Pod", namespace: "shop", objName: "api-1"}
	infoLog := lg{name: "info", severity: "INFO", message: "no pod, but low-signal: not written, not dead"}
	batch = append(batch,
		good.record(client), unknownKind.record(client), hugeMsg.record(client), infoLog.record(client),
		topo(client, nil, "Pod", "nowhere", "never-seen", 0), // tombstone of an unknown resource
		podTopo(other, "shop", "api-1", "node-1", "api-5f", 0),
		ev{name: "other", reason: "BackOff", kind: "Pod", namespace: "shop", objName: "api-1"}.record(other),
	)
	handle(t, b, batch...)

	letters := dlq.all()
	if len(letters) != len(bad) {
		t.Errorf("%d dead letters, want %d:\n%s", len(letters), len(bad), strings.Join(letters, "\n"))
	}
	for i, c := range bad {
		if i < len(letters) && !strings.Contains(letters[i], c.reason) {
			t.Errorf("%s: dead letter %q does not say %q", c.name, letters[i], c.reason)
		}
	}
	p := map[string]any{"client": client, "other": other}
	for _, c := range []struct {
		what string
		q    string
		want int64
	}{
		{"events written: the good one, the unknown kind, the huge message", "MATCH (e:Event {client: $client}) RETURN count(e)", 3},
		{"the huge message is truncated", "MATCH (e:Event {client: $client, eid: '" + hugeMsg.id() + "'}) WHERE size(e.message) <= 4096 AND e.message ENDS WITH '…[truncated]' RETURN count(e)", 1},
		{"the unknown kind is a resource", "MATCH (r:Resource {client: $client, rid: 'KafkaTopic/streams/orders'}) RETURN count(r)", 1},
		{"no resource for the unknown tombstone", "MATCH (r:Resource {client: $client, name: 'never-seen'}) RETURN count(r)", 0},
		{"nothing of the other client", "MATCH (n {client: $other}) RETURN count(n)", 0},
		{"no resource from a dead letter", "MATCH (r:Resource {client: $client}) WHERE r.namespace IN ['a'] RETURN count(r)", 0},
	} {
		if got := count(t, d, c.q, p); got != c.want {
			t.Errorf("%s: got %d, want %d", c.what, got, c.want)
		}
	}
}

// When Neo4j refuses a batch for its content, the records are written one by
// one and only the refused ones are dead-lettered. A broken probe statement
// stands in for data Neo4j refuses: every event with rule probes is refused,
// everything else still lands.
func TestRefusedBatchIsSplitAndOnlyRefusedRecordsDeadLettered(t *testing.T) {
	client := uniqueClient("gb-refused")
	b, d, dlq := newTestBuilder(t, client)
	b.probeQ = "UNWIND $probes AS p RETURN p.eid +* 1" // a syntax error: Neo.ClientError.Statement.SyntaxError
	withProbes := ev{name: "backoff", reason: "BackOff", kind: "Pod", namespace: "shop", objName: "api-1"}
	noProbes := ev{name: "pulled", reason: "Pulled", kind: "Pod", namespace: "shop", objName: "api-1"}
	handle(t, b, podTopo(client, "shop", "api-1", "node-1", "api-5f", 0), withProbes.record(client), noProbes.record(client))

	letters := dlq.all()
	if len(letters) != 1 || !strings.HasPrefix(letters[0], client+"::"+withProbes.id()) || !strings.Contains(letters[0], "neo4j refused the record") {
		t.Fatalf("dead letters %q, want only the event with probes", letters)
	}
	p := map[string]any{"client": client}
	if n := count(t, d, "MATCH (e:Event {client: $client}) RETURN count(e)", p); n != 1 {
		t.Fatalf("%d events written, want the one without probes", n)
	}
	if n := count(t, d, "MATCH (:Resource {client: $client, rid: 'Pod/shop/api-1'})-[:OWNED_BY]->() RETURN count(*)", p); n != 1 {
		t.Fatalf("the topology record was not written")
	}
}
