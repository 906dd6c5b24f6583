package normalizer_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
	"github.com/kgrca/kgplane/workers/normalizer"
)

// standIn is a deterministic normalizer with the eventnorm API: invalid JSON
// is an error, {"panic":true} panics, anything else is wrapped.
func standIn(keyID string, raw []byte) (string, []byte, error) {
	if !json.Valid(raw) {
		return "", nil, errors.New("decoding event: invalid JSON")
	}
	if strings.Contains(string(raw), `"panic":true`) {
		panic("stand-in normalizer: poisonous record")
	}
	sum := sha256.Sum256([]byte(keyID))
	id := "evt-" + hex.EncodeToString(sum[:8])
	out, _ := json.Marshal(map[string]any{"event_id": id, "raw": json.RawMessage(raw)})
	return id, out, nil
}

func standInID(uid string) string {
	id, _, _ := standIn(uid, []byte(`{}`))
	return id
}

type topics struct{ in, out, dlq string }

func newTopics(t *testing.T, brokers []string, partitions int32) topics {
	sfx := kafkatest.Suffix()
	tp := topics{in: kafkaio.TopicRawEvents + sfx, out: kafkaio.TopicEventsNormalized + sfx, dlq: kafkaio.TopicDLQRaw + sfx}
	kafkatest.CreateTopics(t, brokers, partitions, tp.in, tp.out)
	kafkatest.CreateTopics(t, brokers, 1, tp.dlq)
	return tp
}

func start(t *testing.T, brokers []string, tp topics, client string, m *kafkaio.Metrics) func() error {
	return kafkatest.Run(t, func(ctx context.Context) error {
		return normalizer.Run(ctx, normalizer.Config{
			Role: kafkaio.RoleEventNormalizer, Brokers: brokers, ClientID: client, Normalize: standIn,
			InputTopic: tp.in, OutputTopic: tp.out, DLQTopic: tp.dlq,
			MaxBatch: 64, Linger: 10 * time.Millisecond, SessionTimeout: 6 * time.Second, Metrics: m,
		})
	})
}

func rawMsg(topic, key string, value []byte) *sarama.ProducerMessage {
	return &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(value)}
}

func byClient(recs []*sarama.ConsumerMessage) map[string][]*sarama.ConsumerMessage {
	out := map[string][]*sarama.ConsumerMessage{}
	for _, r := range recs {
		c, _ := kafkaio.KeyClient(r.Key)
		out[c] = append(out[c], r)
	}
	return out
}

// TestNormalizersShareATopicEachOutputsOnlyItsClient: 5 clients on a
// 2-partition topic; each normalizer outputs exactly its client's records,
// in input order, and none of another's.
func TestNormalizersShareATopicEachOutputsOnlyItsClient(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	tp := newTopics(t, brokers, 2)
	sfx := strings.ReplaceAll(kafkatest.Suffix(), ".", "-")
	var clients []string
	for i := range 5 {
		clients = append(clients, fmt.Sprintf("c%d%s", i, sfx))
	}
	const perClient = 60
	want := map[string][]string{}
	var msgs []*sarama.ProducerMessage
	for i := range perClient {
		for _, c := range clients {
			uid := fmt.Sprintf("uid-%s-%04d", c, i)
			msgs = append(msgs, rawMsg(tp.in, kafkatest.Key(c, "event", uid), []byte(fmt.Sprintf(`{"i":%d}`, i))))
			want[c] = append(want[c], c+"::"+standInID(uid))
		}
	}
	kafkatest.Produce(t, brokers, msgs)

	mets := map[string]*kafkaio.Metrics{}
	for _, c := range clients {
		mets[c] = kafkaio.NewMetrics(nil, kafkaio.RoleEventNormalizer)
		start(t, brokers, tp, c, mets[c])
	}
	testutil.Eventually(t, 90*time.Second, "all outputs", func() bool {
		for _, c := range clients {
			if kafkatest.Sum(mets[c].RecordsOut) < perClient {
				return false
			}
		}
		return true
	})
	got := byClient(kafkatest.ReadAll(t, brokers, tp.out))
	for _, c := range clients {
		var keys []string
		for _, r := range got[c] {
			keys = append(keys, string(r.Key))
			if r.Partition != kafkaio.PartitionFor(c, 2) {
				t.Fatalf("%s output on partition %d, want %d", c, r.Partition, kafkaio.PartitionFor(c, 2))
			}
		}
		if strings.Join(keys, ",") != strings.Join(want[c], ",") {
			t.Errorf("%s: output %d records, want its %d in order", c, len(keys), perClient)
		}
		if n := kafkatest.Sum(mets[c].RecordsOut); n != perClient {
			t.Errorf("%s normalizer produced %v records, want exactly its own %d", c, n, perClient)
		}
	}
	if len(got) != len(clients) {
		t.Errorf("output has records of %d clients, want %d", len(got), len(clients))
	}
}

// TestNormalizerDeadLetters: this client's bad records (bad JSON, a panic,
// bad keys with its prefix, a tombstone) go to dlq.raw with the kg-* headers;
// the good records after them still flow; other clients' records are
// neither output nor dead-lettered.
func TestNormalizerDeadLetters(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	tp := newTopics(t, brokers, 1)
	sfx := strings.ReplaceAll(kafkatest.Suffix(), ".", "-")
	client, other := "dlq"+sfx, "oth"+sfx

	type in struct {
		key, value string
		nilValue   bool
		reason     string // "" = good
	}
	ins := []in{
		{key: kafkatest.Key(client, "event", "u1"), value: `{"ok":1}`},
		{key: kafkatest.Key(client, "event", "u2"), value: `{bad json`, reason: "normalizing: decoding event: invalid JSON"},
		{key: kafkatest.Key(other, "event", "o1"), value: `{bad json`},
		{key: kafkatest.Key(client, "event", "u3"), value: `{"panic":true}`, reason: "normalizing: normalizer panicked: stand-in normalizer: poisonous record"},
		{key: client + "::pod::x", value: `{}`, reason: "parsing key: bad key: unknown key type"},
		{key: client + "::log::u4", value: `{}`, reason: `key type "log"`},
		{key: client + "::", value: `{}`, reason: "parsing key: bad key: empty id"},
		{key: kafkatest.Key(client, "event", "u5"), nilValue: true, reason: "normalizing: decoding event: invalid JSON"},
		{key: kafkatest.Key(client, "event", "u6"), value: `{"ok":6}`},
		{key: kafkatest.Key(client, "event", "u7"), value: `{"ok":7}`},
	}
	var msgs []*sarama.ProducerMessage
	for _, x := range ins {
		m := rawMsg(tp.in, x.key, []byte(x.value))
		if x.nilValue {
			m.Value = nil
		}
		m.Headers = []sarama.RecordHeader{{Key: []byte("src"), Value: []byte("agent")}}
		msgs = append(msgs, m)
	}
	kafkatest.Produce(t, brokers, msgs)

	m := kafkaio.NewMetrics(nil, kafkaio.RoleEventNormalizer)
	start(t, brokers, tp, client, m)
	testutil.Eventually(t, 60*time.Second, "outputs and dead letters", func() bool {
		return kafkatest.Sum(m.RecordsOut) >= 3 && kafkatest.Sum(m.DeadLettered) >= 6
	})
	var wantOut []string
	var wantDLQ []in
	for _, x := range ins {
		if !strings.HasPrefix(x.key, client+"::") {
			continue
		}
		if x.reason == "" {
			k, _ := kafkaio.ParseKey([]byte(x.key))
			wantOut = append(wantOut, client+"::"+standInID(k.ID))
		} else {
			wantDLQ = append(wantDLQ, x)
		}
	}
	var gotOut []string
	for _, r := range kafkatest.ReadAll(t, brokers, tp.out) {
		gotOut = append(gotOut, string(r.Key))
	}
	if strings.Join(gotOut, ",") != strings.Join(wantOut, ",") {
		t.Errorf("output %v, want %v (good records flow past bad ones)", gotOut, wantOut)
	}
	dl := kafkatest.ReadAll(t, brokers, tp.dlq)
	if len(dl) != len(wantDLQ) {
		t.Fatalf("dlq has %d records, want %d", len(dl), len(wantDLQ))
	}
	for i, r := range dl {
		w := wantDLQ[i]
		h := map[string]string{}
		for _, x := range r.Headers {
			h[string(x.Key)] = string(x.Value)
		}
		if string(r.Key) != w.key || (!w.nilValue && string(r.Value) != w.value) || (w.nilValue && r.Value != nil) {
			t.Errorf("dlq %d: %q=%q, want the original %q=%q", i, r.Key, r.Value, w.key, w.value)
		}
		if !strings.Contains(h[kafkaio.HeaderError], w.reason) || h[kafkaio.HeaderSourceTopic] != tp.in ||
			h[kafkaio.HeaderSourcePartition] != "0" || h[kafkaio.HeaderSourceOffset] == "" ||
			h[kafkaio.HeaderWorker] != kafkaio.RoleEventNormalizer || h["src"] != "agent" {
			t.Errorf("dlq %d headers %v, want kg-error containing %q and the source/worker headers", i, h, w.reason)
		}
	}
}

// TestNormalizerRedeliveryIsByteIdentical: reprocessing the same input (the
// group's offsets deleted, as after a crash before commit) yields
// byte-identical output records.
func TestNormalizerRedeliveryIsByteIdentical(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	tp := newTopics(t, brokers, 2)
	client := "redo" + strings.ReplaceAll(kafkatest.Suffix(), ".", "-")
	var msgs []*sarama.ProducerMessage
	for i := range 50 {
		msgs = append(msgs, rawMsg(tp.in, kafkatest.Key(client, "event", fmt.Sprintf("u%d", i)), kafkatest.RawEvent(fmt.Sprintf("u%d", i), i)))
	}
	kafkatest.Produce(t, brokers, msgs)
	for round := 1; round <= 2; round++ {
		m := kafkaio.NewMetrics(nil, kafkaio.RoleEventNormalizer)
		stop := start(t, brokers, tp, client, m)
		testutil.Eventually(t, 60*time.Second, "round done", func() bool { return kafkatest.Sum(m.RecordsOut) >= 50 })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		admin, err := sarama.NewClusterAdmin(brokers, kafkatest.Config())
		if err != nil {
			t.Fatal(err)
		}
		if err := admin.DeleteConsumerGroup(kafkaio.GroupID(kafkaio.RoleEventNormalizer, client)); err != nil {
			t.Fatalf("deleting the group's offsets: %v", err)
		}
		admin.Close()
	}
	recs := kafkatest.ReadAll(t, brokers, tp.out)
	if len(recs) != 100 {
		t.Fatalf("%d output records, want 2 x 50", len(recs))
	}
	for i := range 50 {
		a, b := recs[i], recs[50+i]
		if string(a.Key) != string(b.Key) || string(a.Value) != string(b.Value) || !a.Timestamp.Equal(b.Timestamp) {
			t.Fatalf("record %d differs on redelivery: %s=%s @%v vs %s=%s @%v", i, a.Key, a.Value, a.Timestamp, b.Key, b.Value, b.Timestamp)
		}
	}
}
