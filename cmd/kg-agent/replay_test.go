package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/agent/publish"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/scheduler"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

// testTopics creates private copies of the five topics the agent writes
// (data topics with several partitions, so the partition choice is tested)
// and returns the flags that point kg-agent at them.
func testTopics(t *testing.T) (brokers []string, topics map[string]string, flags []string) {
	t.Helper()
	brokers = kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	topics = map[string]string{
		"events": "agent-test.raw.k8s.events" + sfx, "logs": "agent-test.raw.k8s.logs" + sfx,
		"topology": "agent-test.state.k8s.topology" + sfx,
		"registry": "agent-test.cluster.registry" + sfx, "heartbeat": "agent-test.cluster.heartbeat" + sfx,
	}
	kafkatest.CreateTopics(t, brokers, 6, topics["events"], topics["logs"], topics["topology"])
	kafkatest.CreateTopics(t, brokers, 1, topics["registry"])
	kafkatest.CreateTopics(t, brokers, 3, topics["heartbeat"])
	// A created topic reaches the brokers' metadata a moment later.
	testutil.Eventually(t, 30*time.Second, "the test topics in the metadata", func() bool {
		return publish.CheckTopics(brokers, topics["events"], topics["logs"], topics["topology"], topics["registry"], topics["heartbeat"]) == nil
	})
	flags = []string{"--kafka-brokers", strings.Join(brokers, ","),
		"--events-topic", topics["events"], "--logs-topic", topics["logs"], "--topology-topic", topics["topology"],
		"--registry-topic", topics["registry"], "--heartbeat-topic", topics["heartbeat"]}
	return brokers, topics, flags
}

func runAgent(ctx context.Context, t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(ctx, args, &out, &errb)
	return out.String() + errb.String(), err
}

const replayHeader = `{"scenario":"replay-test","root_cause":{"rid":"Pod/shop/cart-1","signals":["OOMKilled"]},"symptom":{"rid":"Pod/shop/cart-1"}}`

func writeFile(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplayPublishesInOrderOnTheClientPartition(t *testing.T) {
	brokers, topics, flags := testTopics(t)
	lines := []string{replayHeader,
		`{"topic":"state.k8s.topology","key":"Pod/shop/cart-1","value":{"kind":"Pod","namespace":"shop","name":"cart-1"}}`}
	for i := range 40 {
		lines = append(lines, fmt.Sprintf(`{"topic":"raw.k8s.events","key":"uid-%02d","value":{"reason":"BackOff","n":%d}}`, i, i))
	}
	lines = append(lines,
		`{"topic":"raw.k8s.logs","key":"log-1","value":{"message":"x"}}`,
		`{"topic":"state.k8s.topology","key":"Pod/shop/cart-1","value":null}`)
	file := writeFile(t, lines...)
	client := "replay-" + strings.TrimPrefix(kafkatest.Suffix(), ".")
	args := append([]string{"replay", "--client", client, "--file", file, "--batch", "7", "--deregister-on-exit"}, flags...)
	out, err := runAgent(context.Background(), t, args...)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	if !strings.Contains(out, "replayed 43 records") {
		t.Errorf("output lacks the summary:\n%s", out)
	}

	want := kafkaio.PartitionFor(client, 6)
	evs := kafkatest.ReadAll(t, brokers, topics["events"])
	if len(evs) != 40 {
		t.Fatalf("%d events, want 40", len(evs))
	}
	for i, m := range evs {
		if m.Partition != want {
			t.Errorf("event %d on partition %d, want %d", i, m.Partition, want)
		}
		if k := fmt.Sprintf("%s::event::uid-%02d", client, i); string(m.Key) != k {
			t.Errorf("event %d key %q, want %q (file order)", i, m.Key, k)
		}
	}
	logs := kafkatest.ReadAll(t, brokers, topics["logs"])
	if len(logs) != 1 || string(logs[0].Key) != client+"::log::log-1" {
		t.Errorf("logs: %v", keys(logs))
	}
	topo := kafkatest.ReadAll(t, brokers, topics["topology"])
	if len(topo) != 2 || string(topo[0].Key) != client+"::topology::Pod/shop/cart-1" || topo[0].Value == nil || topo[1].Value != nil {
		t.Errorf("topology: want the record then its tombstone, got %v", keys(topo))
	}

	// Registration first, the tombstone last (--deregister-on-exit).
	mine := keyed(t, brokers, topics["registry"], client)
	if len(mine) != 2 || mine[1].Value != nil {
		t.Fatalf("registry records of %s: %d (want a registration and a tombstone)", client, len(mine))
	}
	r, err := scheduler.DecodeRegistration(mine[0].Key, mine[0].Value)
	var meta map[string]string
	if err == nil {
		err = json.Unmarshal(r.Metadata, &meta)
	}
	if err != nil || meta["scenario"] != "replay-test" || meta["agent"] != "kg-agent replay" {
		t.Errorf("registration %s: %v", mine[0].Value, err)
	}
	hbs := keyed(t, brokers, topics["heartbeat"], client)
	for _, m := range hbs {
		if m.Partition != kafkaio.PartitionFor(client, 3) {
			t.Errorf("heartbeat on partition %d", m.Partition)
		}
		if _, err := scheduler.DecodeHeartbeat(m.Key, m.Value); err != nil {
			t.Errorf("heartbeat refused: %v", err)
		}
	}
	if len(hbs) == 0 {
		t.Error("no heartbeat was sent while replaying")
	}
}

// keyed reads topic and returns the records whose key is exactly key, in order.
func keyed(t *testing.T, brokers []string, topic, key string) []*sarama.ConsumerMessage {
	t.Helper()
	var out []*sarama.ConsumerMessage
	for _, m := range kafkatest.ReadAll(t, brokers, topic) {
		if string(m.Key) == key {
			out = append(out, m)
		}
	}
	return out
}

func keys(ms []*sarama.ConsumerMessage) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Key))
	}
	return out
}

func TestReplayRefusesABadFileAndPublishesNothing(t *testing.T) {
	brokers, topics, flags := testTopics(t)
	good := `{"topic":"raw.k8s.events","key":"u1","value":{"reason":"x"}}`
	cases := []struct {
		name   string
		lines  []string
		client string
		want   string
	}{
		{"broken line", []string{replayHeader, good, good, `{"topic":"raw.k8s.events","key":"u2","value":{`}, "bad-line", "line 4"},
		{"unknown topic", []string{replayHeader, good, `{"topic":"raw.k8s.alerts","key":"u2","value":{}}`}, "bad-topic", `line 3: unknown topic "raw.k8s.alerts"`},
		{"prefixed key", []string{replayHeader, `{"topic":"raw.k8s.events","key":"af-9::event::u2","value":{}}`}, "bad-key", "line 2"},
		{"no header", []string{good}, "bad-header", "line 1"},
		{"invalid client id", []string{replayHeader, good}, "Bad_Client", "invalid client id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"replay", "--client", c.client, "--file", writeFile(t, c.lines...)}, flags...)
			out, err := runAgent(context.Background(), t, args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q\n%s", err, c.want, out)
			}
		})
	}
	// Nothing at all reached any topic: not a record, not a registration.
	for name, topic := range topics {
		if got := kafkatest.ReadAll(t, brokers, topic); len(got) != 0 {
			t.Errorf("%s: %d records published from refused files: %v", name, len(got), keys(got))
		}
	}
}

func TestReplayWithoutTopicsSaysWhatToDo(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	file := writeFile(t, replayHeader, `{"topic":"raw.k8s.events","key":"u1","value":{}}`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := runAgent(ctx, t, "replay", "--client", "af-9", "--file", file, "--kafka-brokers", strings.Join(brokers, ","),
		"--events-topic", "agent-test.missing"+kafkatest.Suffix())
	if err == nil || !strings.Contains(err.Error(), "kgctl topics ensure") {
		t.Fatalf("err = %v, want advice to create the topics", err)
	}
}

func TestReplayFileErrorsNeedNoKafka(t *testing.T) {
	// A refused file is refused before any connection: no broker needed.
	_, err := runAgent(context.Background(), t, "replay", "--client", "af-9", "--file", writeFile(t, "not json"), "--kafka-brokers", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "nothing was published") || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("err = %v", err)
	}
}

// --stay keeps the client alive after the last record (what make run and the
// end-to-end test rely on) until kg-agent is stopped; then kg-agent
// deregister publishes the tombstone.
func TestReplayStayKeepsHeartbeatingThenDeregister(t *testing.T) {
	brokers, topics, flags := testTopics(t)
	file := writeFile(t, replayHeader, `{"topic":"raw.k8s.events","key":"u1","value":{"reason":"x"}}`)
	client := "stay-" + strings.TrimPrefix(kafkatest.Suffix(), ".")
	beats := func() int { return len(keyed(t, brokers, topics["heartbeat"], client)) }
	stop := kafkatest.Run(t, func(ctx context.Context) error {
		_, err := runAgent(ctx, t, append([]string{"replay", "--client", client, "--file", file, "--stay", "--heartbeat-every", "300ms"}, flags...)...)
		return err
	})
	testutil.Eventually(t, 60*time.Second, "three heartbeats after the replay", func() bool { return beats() >= 3 })
	if err := stop(); err != nil {
		t.Fatalf("replay --stay: %v", err)
	}
	stopped := beats()
	if out, err := runAgent(context.Background(), t, append([]string{"deregister", "--client", client}, flags...)...); err != nil || !strings.Contains(out, "deregistered "+client) {
		t.Fatalf("deregister: %v\n%s", err, out)
	}
	var last *sarama.ConsumerMessage
	if reg := keyed(t, brokers, topics["registry"], client); len(reg) > 0 {
		last = reg[len(reg)-1]
	}
	if last == nil || last.Value != nil {
		t.Errorf("the client's last registry record is not a tombstone: %v", last)
	}
	if beats() != stopped {
		t.Error("heartbeats went on after kg-agent stopped")
	}
}
