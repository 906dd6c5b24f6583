package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/workers/eventnorm"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/lognorm"
)

// The expected outcome of a poison record.
const (
	// expectDLQ: the record must reach a dead-letter topic (the contract
	// says so: bad JSON, wrong types, an invalid or unparsable key, a value
	// over the size limit, a topology key naming another resource).
	expectDLQ = "dlq"
	// expectLeft: a key of a client that never registered stays on that
	// client's partition for its future workers; it is in no graph and no
	// dead-letter topic.
	expectLeft = "left"
	// expectReference: whatever the fault-free reference run makes of it
	// (a record that is odd but legal: duplicate JSON keys, non-UTF-8 bytes in
	// a string, deep nesting in an ignored field, a tombstone for a resource
	// never seen); the check is that the faulted run makes the same.
	expectReference = "reference"
)

// poisonRecord is one poison record as produced.
type poisonRecord struct {
	Kind      string
	Topic     string
	Key       []byte
	Value     []byte
	Partition int32
	Time      time.Time
	// Client is the live client whose stream it joins (its key names it),
	// "" for a key that names no live client.
	Client string
	Expect string
}

// inputTopics are every topic a worker reads.
var inputTopics = []string{kafkaio.TopicRawEvents, kafkaio.TopicRawLogs, kafkaio.TopicTopology, kafkaio.TopicEventsNormalized, kafkaio.TopicLogsNormalized}

// poisonKinds are the kinds of the issue, in the order the stream cycles
// through them; every kind goes to every input topic.
var poisonKinds = []string{
	"malformed-json", "wrong-types", "huge-2mib", "unknown-client", "invalid-client-id",
	"wrong-separator", "wrong-separator-bad-rest", "non-utf8-key", "non-utf8-value", "deep-nesting",
	"duplicate-keys", "number-out-of-range", "topology-key-mismatch", "tombstone-never-seen", "wrong-partition",
}

// poisonGen builds the poison records of the stream.
type poisonGen struct {
	rnd        *rand.Rand
	clients    []string
	partitions int32
	n          int
}

func newPoisonGen(seed int64, clients []string, partitions int) *poisonGen {
	return &poisonGen{rnd: rand.New(rand.NewPCG(uint64(seed), 0x9015)), clients: clients, partitions: int32(partitions)}
}

// next returns the stream's next poison record: kinds and topics in turn,
// the client at random.
func (g *poisonGen) next(now time.Time) poisonRecord {
	i := g.n
	g.n++
	kind := poisonKinds[i%len(poisonKinds)]
	topic := inputTopics[(i/len(poisonKinds))%len(inputTopics)]
	client := g.clients[g.rnd.IntN(len(g.clients))]
	return g.build(kind, topic, client, fmt.Sprintf("p%06d", i), now)
}

// build makes one poison record of kind for topic, naming client (when the
// kind names a live client), unique by nonce.
func (g *poisonGen) build(kind, topic, client, nonce string, now time.Time) poisonRecord {
	p := poisonRecord{Kind: kind, Topic: topic, Client: client, Time: now, Expect: expectDLQ}
	good := validRecord(topic, client, nonce, now)
	p.Key, p.Value = good.key, good.value
	switch kind {
	case "malformed-json":
		p.Value = []byte(`{"kind":"Event","metadata":{"uid":"` + nonce + `","name":`)
	case "wrong-types":
		p.Value = wrongTypes(topic, nonce)
	case "huge-2mib":
		// Compressible, as a real runaway annotation or log line is: it fits
		// the broker's 1 MiB batch limit once compressed, so it does arrive.
		p.Value = inflate(good.value, 2<<20)
	case "unknown-client":
		p.Client = ""
		p.Expect = expectLeft
		ghost := "ghost-" + nonce
		p.Key = bytes.Replace(p.Key, []byte(client), []byte(ghost), 1)
		p.Partition = kafkaio.PartitionFor(ghost, g.partitions)
		return p
	case "invalid-client-id":
		p.Client = ""
		bad := []string{"Bad_Client", "9starts-with-digit", "ab", "ends-with-hyphen-", strings.Repeat("x", 64)}[g.rnd.IntN(5)]
		p.Key = bytes.Replace(p.Key, []byte(client), []byte(bad), 1)
		p.Partition = g.rnd.Int32N(g.partitions)
		return p
	case "wrong-separator":
		// No valid client id before a "::": the key names no client.
		p.Client = ""
		p.Key = []byte(strings.ReplaceAll(string(p.Key), "::", []string{":", "/", ";;", "|"}[g.rnd.IntN(4)]))
		p.Partition = g.rnd.Int32N(g.partitions)
		return p
	case "wrong-separator-bad-rest":
		// The client is valid, the rest is not: the client's record, which its
		// worker dead-letters with the precise reason.
		k := string(p.Key)
		p.Key = []byte(client + "::" + strings.ReplaceAll(k[len(client)+2:], "::", ":"))
		if !bytes.Contains(p.Key[len(client)+2:], []byte(":")) {
			p.Key = append(p.Key, []byte("::extra::part")...)
		}
	case "non-utf8-key":
		p.Key = append(append([]byte(client+"::"), 0xff, 0xfe), []byte(nonce)...)
	case "non-utf8-value":
		p.Value = bytes.Replace(good.value, []byte(nonce), append([]byte(nonce), 0xff, 0xfe, 0xc3), 1)
		p.Expect = expectReference
	case "deep-nesting":
		// 100,000 levels inside a field the readers ignore.
		deep := strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)
		p.Value = append(append([]byte(`{"soak_deep":`), deep...), append([]byte(","), good.value[1:]...)...)
		p.Expect = expectReference
	case "duplicate-keys":
		p.Value = duplicateKeys(topic, good.value)
		p.Expect = expectReference
	case "number-out-of-range":
		p.Value = outOfRange(topic, good.value)
		p.Expect = expectReference
	case "topology-key-mismatch":
		if topic == kafkaio.TopicTopology {
			other := validRecord(topic, client, nonce+"-other", now)
			p.Value = other.value // the value names another pod than the key
		} else {
			// A record about another client's resource than its key's id: the
			// id in the value differs (normalized) or the uid does (raw).
			p.Value = bytes.Replace(good.value, []byte(nonce), []byte(nonce+"-elsewhere"), -1)
			p.Expect = expectReference
		}
	case "tombstone-never-seen":
		p.Value = nil
		if topic != kafkaio.TopicTopology {
			p.Expect = expectDLQ // a tombstone means nothing on an event or log topic
		} else {
			p.Expect = expectReference
		}
	case "wrong-partition":
		// A good record on a partition that is not its client's: the reader
		// forwards it there, and it is processed like any other.
		p.Expect = expectReference
		p.Partition = (kafkaio.PartitionFor(client, g.partitions) + 1 + g.rnd.Int32N(g.partitions-1)) % g.partitions
		if topic == kafkaio.TopicTopology {
			// Topology is compacted state: a forward arriving after a newer
			// record of the same resource would win (docs/workers.md,
			// "Order"); poison resources have no newer record, but keep the
			// stream's order-free kinds apart from that.
			p.Partition = kafkaio.PartitionFor(client, g.partitions)
		}
		return p
	}
	p.Partition = kafkaio.PartitionFor(client, g.partitions)
	return p
}

type keyValue struct{ key, value []byte }

// validRecord is a good record of client for topic, about a resource in the
// soak-poison namespace (never in a client's own traffic), unique by nonce.
func validRecord(topic, client, nonce string, now time.Time) keyValue {
	ts := now.UTC().Format(time.RFC3339)
	pod := "victim-" + nonce
	ev := map[string]any{
		"apiVersion": "v1", "kind": "Event",
		"metadata":       map[string]any{"name": pod + "." + nonce, "namespace": "soak-poison", "uid": nonce, "creationTimestamp": ts},
		"involvedObject": map[string]any{"kind": "Pod", "namespace": "soak-poison", "name": pod, "uid": "uid-" + nonce},
		"reason":         "BackOff", "message": "Back-off restarting failed container app in pod " + pod + " " + nonce, "type": "Warning", "count": 1,
		"source":         map[string]any{"component": "kubelet", "host": "node-poison"},
		"firstTimestamp": ts, "lastTimestamp": ts,
	}
	lg := map[string]any{
		"stream": "stderr", "log": "panic: runtime error: index out of range " + nonce, "date": now.UTC().Format("2006-01-02T15:04:05.000Z"),
		"kubernetes": map[string]any{"pod_name": pod, "namespace_name": "soak-poison", "pod_id": "uid-" + nonce, "host": "node-poison", "container_name": "app"},
	}
	switch topic {
	case kafkaio.TopicRawEvents:
		return keyValue{[]byte(client + "::event::" + nonce), mustJSON(ev)}
	case kafkaio.TopicRawLogs:
		return keyValue{[]byte(client + "::log::" + nonce), mustJSON(lg)}
	case kafkaio.TopicTopology:
		return keyValue{[]byte(client + "::topology::Pod/soak-poison/" + pod), mustJSON(map[string]any{
			"kind": "Pod", "namespace": "soak-poison", "name": pod, "uid": "uid-" + nonce, "node": "node-poison",
			"labels": map[string]string{"app": "victim", "nonce": nonce}})}
	case kafkaio.TopicEventsNormalized:
		id, out, err := eventnorm.Normalize(nonce, mustJSON(ev))
		if err != nil {
			panic(fmt.Sprintf("the poison template event does not normalize: %v", err))
		}
		return keyValue{[]byte(client + "::" + id), out}
	case kafkaio.TopicLogsNormalized:
		id, out, err := lognorm.Normalize(nonce, mustJSON(lg))
		if err != nil {
			panic(fmt.Sprintf("the poison template log does not normalize: %v", err))
		}
		return keyValue{[]byte(client + "::" + id), out}
	}
	panic("validRecord: not an input topic: " + topic)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// wrongTypes is a record of topic whose fields have the wrong JSON types.
func wrongTypes(topic, nonce string) []byte {
	switch topic {
	case kafkaio.TopicRawEvents:
		return []byte(`{"apiVersion":"v1","kind":"Event","metadata":{"uid":["` + nonce + `"],"namespace":5},"involvedObject":"pod","reason":["OOMKilled"],"count":"three"}`)
	case kafkaio.TopicRawLogs:
		return []byte(`{"log":{"line":"` + nonce + `"},"kubernetes":"nope","stream":5,"date":true}`)
	case kafkaio.TopicTopology:
		return []byte(`{"kind":7,"namespace":["soak-poison"],"name":true,"uid":"` + nonce + `","owners":"none"}`)
	case kafkaio.TopicEventsNormalized:
		return []byte(`{"event_id":5,"timestamp":false,"reason":{"r":"` + nonce + `"},"count":"x","object":[]}`)
	default:
		return []byte(`{"log_id":[],"timestamp":1,"severity":{"s":"` + nonce + `"},"message":7}`)
	}
}

// inflate pads a JSON object with a field of n bytes.
func inflate(value []byte, n int) []byte {
	pad := strings.Repeat("x", n)
	return append([]byte(`{"soak_padding":"`+pad+`",`), value[1:]...)
}

// duplicateKeys repeats a field with another value: the first occurrence
// differs from the last.
func duplicateKeys(topic string, value []byte) []byte {
	field := map[string]string{
		kafkaio.TopicRawEvents: `"reason":"Started"`, kafkaio.TopicRawLogs: `"stream":"stdout"`,
		kafkaio.TopicTopology: `"node":"node-other"`, kafkaio.TopicEventsNormalized: `"reason":"Started"`,
		kafkaio.TopicLogsNormalized: `"severity":"INFO"`,
	}[topic]
	return append([]byte("{"+field+","), value[1:]...)
}

// outOfRange puts numbers no reader's type can hold.
func outOfRange(topic string, value []byte) []byte {
	switch topic {
	case kafkaio.TopicRawEvents:
		return bytes.Replace(value, []byte(`"count":1`), []byte(`"count":99999999999999999999999`), 1)
	case kafkaio.TopicEventsNormalized:
		return append([]byte(`{"count":1e400,`), value[1:]...)
	default:
		return append([]byte(`{"soak_big":1e400,"soak_int":-99999999999999999999999,`), value[1:]...)
	}
}

// poisonStream produces poison records at rate until stop closes, on the
// partition each one names (a manual partitioner: strays must land where
// they are meant to), with 4 MiB messages allowed and lz4 compression, as a
// misconfigured producer could send them.
type poisonStream struct {
	prod sarama.SyncProducer
	gen  *poisonGen
}

func newPoisonStream(brokers []string, gen *poisonGen) (*poisonStream, error) {
	sc := kafkaio.NewSaramaConfig(kafkaio.Security{}, "kg-soak-poison")
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Compression = sarama.CompressionLZ4
	sc.Producer.MaxMessageBytes = 4 << 20
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = time.Second
	p, err := sarama.NewSyncProducer(brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("the poison producer: %w", err)
	}
	return &poisonStream{prod: p, gen: gen}, nil
}

// run produces until stop closes or ctx ends, recording every acknowledged
// record: a live client's in its stream, the others apart.
func (s *poisonStream) run(ctx context.Context, stop <-chan struct{}, rate float64, l *ledger, failed func(error)) {
	if rate <= 0 {
		return
	}
	every := time.Duration(float64(time.Second) / rate)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case <-t.C:
		}
		p := s.gen.next(time.Now())
		if !s.sendUntilAcked(ctx, p, failed) {
			return
		}
		if p.Client != "" {
			l.add(p.Client, sent{Topic: p.Topic, Key: p.Key, Value: p.Value, Time: p.Time, Poison: p.Kind, Expect: p.Expect})
			l.poison.Add(1)
		} else {
			l.addKeyLevel(p)
		}
	}
}

// sendUntilAcked sends p until Kafka acknowledges it (a record that may be
// in Kafka must be in the ledger), or ctx ends (false).
func (s *poisonStream) sendUntilAcked(ctx context.Context, p poisonRecord, failed func(error)) bool {
	for {
		msg := &sarama.ProducerMessage{Topic: p.Topic, Partition: p.Partition, Key: sarama.ByteEncoder(p.Key), Timestamp: p.Time}
		if p.Value != nil {
			msg.Value = sarama.ByteEncoder(p.Value)
		}
		_, _, err := s.prod.SendMessage(msg)
		if err == nil {
			return true
		}
		failed(err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(2 * time.Second):
		}
	}
}

func (s *poisonStream) close() { s.prod.Close() }
