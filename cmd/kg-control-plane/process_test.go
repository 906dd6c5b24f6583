package main

// End-to-end tests of the kg-control-plane process: the real binary, the real
// Kafka broker the project's scripts start, and a fake Nomad (httptest) that
// records every call. The restart test kills the process with SIGKILL.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/fakenomad"
	"github.com/kgrca/kgplane/internal/testinfra"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/nomad"
	"github.com/kgrca/kgplane/scheduler/election"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kg-control-plane")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("building kg-control-plane: %v\n%s", err, out)
	}
	return bin
}

// kafkaEnv is a pair of fresh topics on the real broker and a producer for them.
type kafkaEnv struct {
	brokers             []string
	registry, heartbeat string
	client              sarama.Client
	producer            sarama.SyncProducer
}

func newKafkaEnv(t *testing.T) *kafkaEnv {
	return newKafkaEnvOn(t, testinfra.KafkaBrokers(t))
}

// newKafkaEnvOn is newKafkaEnv on other brokers (a private one that the test
// may stop).
func newKafkaEnvOn(t *testing.T, brokers []string) *kafkaEnv {
	t.Helper()
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	e := &kafkaEnv{brokers: brokers, registry: "test.registry." + suffix, heartbeat: "test.heartbeat." + suffix}
	sc := kafkaio.NewSaramaConfig(kafkaio.Security{}, "kg-test")
	admin, err := sarama.NewClusterAdmin(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// The planes start with KG_ENSURE_TOPICS=false: the election topic, shared
	// by every test's planes, is made here (as `kgctl topics ensure` would).
	if _, err := kafkaio.EnsureTopics(admin, []kafkaio.TopicSpec{election.TopicSpec()}); err != nil {
		t.Fatalf("creating the election topic: %v", err)
	}
	kafkatest.WaitForLeaders(t, brokers, election.Topic)
	for _, s := range kafkaio.Topics(1) {
		if s.Name != kafkaio.TopicRegistry && s.Name != kafkaio.TopicHeartbeat {
			continue
		}
		name := e.registry
		if s.Name == kafkaio.TopicHeartbeat {
			name = e.heartbeat
		}
		if err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: s.Partitions, ReplicationFactor: 1, ConfigEntries: s.ConfigEntries()}, false); err != nil {
			t.Fatalf("creating %s: %v", name, err)
		}
		t.Cleanup(func() {
			if a, err := sarama.NewClusterAdmin(brokers, sc); err == nil {
				a.DeleteTopic(name)
				a.Close()
			}
		})
	}
	e.connect(t)
	return e
}

// connect waits until the topics can be produced to and opens the producer.
func (e *kafkaEnv) connect(t *testing.T) {
	t.Helper()
	kafkatest.WaitForLeaders(t, e.brokers, e.registry, e.heartbeat)
	psc := kafkaio.NewSaramaConfig(kafkaio.Security{}, "kg-test")
	psc.Producer.Return.Successes = true
	psc.Producer.Partitioner = sarama.NewManualPartitioner
	var err error
	if e.client, err = sarama.NewClient(e.brokers, psc); err != nil {
		t.Fatal(err)
	}
	if e.producer, err = sarama.NewSyncProducerFromClient(e.client); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.producer.Close(); e.client.Close() })
}

func (e *kafkaEnv) send(t testing.TB, topic, key string, value []byte) {
	t.Helper()
	parts, err := e.client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Partition: kafkaio.PartitionFor(key, int32(len(parts)))}
	if value != nil {
		msg.Value = sarama.ByteEncoder(value)
	}
	if _, _, err := e.producer.SendMessage(msg); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
}

func (e *kafkaEnv) register(t testing.TB, id string) {
	v, _ := json.Marshal(map[string]string{"client_id": id, "cluster_name": "cluster-" + id, "k8s_version": "1.30"})
	e.send(t, e.registry, id, v)
}

func (e *kafkaEnv) beat(t testing.TB, id string) {
	v, _ := json.Marshal(map[string]string{"client_id": id, "timestamp": time.Now().UTC().Format(time.RFC3339Nano)})
	e.send(t, e.heartbeat, id, v)
}

// heartbeater sends heartbeats for ids every interval until stopped.
type heartbeater struct {
	mu     sync.Mutex
	ids    map[string]bool
	cancel context.CancelFunc
	done   chan struct{}
}

func startHeartbeats(t *testing.T, e *kafkaEnv, every time.Duration) *heartbeater {
	ctx, cancel := context.WithCancel(context.Background())
	h := &heartbeater{ids: map[string]bool{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			h.mu.Lock()
			ids := make([]string, 0, len(h.ids))
			for id := range h.ids {
				ids = append(ids, id)
			}
			h.mu.Unlock()
			for _, id := range ids {
				e.beat(t, id)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *heartbeater) set(id string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if on {
		h.ids[id] = true
	} else {
		delete(h.ids, id)
	}
}

func (h *heartbeater) stop() { h.cancel(); <-h.done }

// plane is one running kg-control-plane process.
type plane struct {
	cmd  *exec.Cmd
	addr string
	logs *testutil.SyncBuffer
}

func startPlane(t *testing.T, bin string, e *kafkaEnv, nomadURL string, threshold string, extraEnv ...string) *plane {
	t.Helper()
	p := &plane{addr: testutil.FreeAddr(t), logs: &testutil.SyncBuffer{}}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(os.Environ(),
		"KAFKA_BROKERS="+strings.Join(e.brokers, ","),
		"KG_REGISTRY_TOPIC="+e.registry,
		"KG_HEARTBEAT_TOPIC="+e.heartbeat,
		"KG_ENSURE_TOPICS=false",
		"STALE_CLIENT_THRESHOLD_MINUTES="+threshold,
		"HEARTBEAT_CHECK_INTERVAL_SECONDS=2",
		"JOBSPECS_DIR=../../jobspecs",
		"JOBSPEC_VARS_FILE=../../jobspecs/vars/dev.vars.hcl",
		"NOMAD_ADDR="+nomadURL,
		"KG_HTTP_ADDR="+p.addr,
	)
	p.cmd.Env = append(p.cmd.Env, extraEnv...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("control plane log:\n%s", p.logs.String())
		}
	})
	testutil.Eventually(t, 90*time.Second, "the control plane to be ready", p.ready)
	return p
}

func (p *plane) ready() bool {
	resp, err := http.Get("http://" + p.addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (p *plane) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

func jobsOf(fake *fakenomad.Server, id string) int {
	n := 0
	for _, j := range fake.JobIDs() {
		if strings.HasSuffix(j, "-"+id) {
			n++
		}
	}
	return n
}

func TestControlPlaneProcessLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: builds the binary and uses the real Kafka")
	}
	e := newKafkaEnv(t)
	fake := fakenomad.New()
	defer fake.Close()
	bin := buildBinary(t)
	const threshold = 3 * time.Second
	p := startPlane(t, bin, e, fake.URL, "0.05") // 3 s
	hb := startHeartbeats(t, e, 500*time.Millisecond)

	// register → the three jobs are submitted
	start := time.Now()
	e.register(t, "life-a")
	hb.set("life-a", true)
	testutil.Eventually(t, 10*time.Second, "life-a's jobs", func() bool { return jobsOf(fake, "life-a") == 3 })
	t.Logf("registration → 3 jobs registered: %s", time.Since(start))

	// heartbeats keep them; a client that never heartbeats goes stale
	silentAt := time.Now()
	e.register(t, "life-silent")
	testutil.Eventually(t, 10*time.Second, "life-silent's jobs", func() bool { return jobsOf(fake, "life-silent") == 3 })
	testutil.Eventually(t, threshold+5*time.Second, "life-silent purged", func() bool { return jobsOf(fake, "life-silent") == 0 })
	if d := time.Since(silentAt); d < threshold {
		t.Fatalf("silent client purged after %s, before the %s threshold", d, threshold)
	}
	t.Logf("silent client purged %s after registering (threshold %s)", time.Since(silentAt), threshold)
	if jobsOf(fake, "life-a") != 3 {
		t.Fatal("heartbeating client lost its jobs")
	}

	// tombstone → purged at once; re-register → submitted again
	e.register(t, "life-tomb")
	hb.set("life-tomb", true)
	testutil.Eventually(t, 10*time.Second, "life-tomb's jobs", func() bool { return jobsOf(fake, "life-tomb") == 3 })
	start = time.Now()
	e.send(t, e.registry, "life-tomb", nil)
	// The threshold is a minute: a purge within seconds is the tombstone's.
	testutil.Eventually(t, 15*time.Second, "life-tomb purged by its tombstone", func() bool { return jobsOf(fake, "life-tomb") == 0 })
	t.Logf("tombstone → purged: %s", time.Since(start))
	e.register(t, "life-tomb")
	testutil.Eventually(t, 10*time.Second, "life-tomb re-registered", func() bool { return jobsOf(fake, "life-tomb") == 3 })

	// Bad records on the real topics never crash the process nor reach Nomad.
	before := len(fake.CallsOf("register"))
	e.send(t, e.registry, "BAD_ID", []byte(`{"client_id":"BAD_ID"}`))
	e.send(t, e.registry, "mismatch-a", []byte(`{"client_id":"mismatch-b"}`))
	e.send(t, e.registry, "broken-json", []byte(`{`))
	e.send(t, e.heartbeat, "never-registered", []byte(`{"client_id":"never-registered"}`))

	// Kill the control plane mid-way. While it is down, life-a keeps heartbeating
	// and life-doomed (registered just before) stays silent past its deadline.
	e.register(t, "life-doomed")
	testutil.Eventually(t, 10*time.Second, "life-doomed's jobs", func() bool { return jobsOf(fake, "life-doomed") == 3 })
	if n := len(fake.CallsOf("register")); n != before+3 {
		t.Fatalf("bad records caused %d registers", n-before-3)
	}
	p.kill(t)
	downAt := time.Now()
	testutil.Eventually(t, 2*threshold, "downtime past life-doomed's deadline", func() bool { return time.Since(downAt) > threshold })
	fake.ResetCalls()

	p = startPlane(t, bin, e, fake.URL, "0.05")
	testutil.Eventually(t, 10*time.Second, "life-doomed purged after restart", func() bool { return jobsOf(fake, "life-doomed") == 0 })
	// Watch a full resync interval go by: healthy clients' jobs are neither
	// purged nor changed.
	resyncs := time.Now()
	testutil.Eventually(t, 10*time.Second, "a resync after restart", func() bool {
		return time.Since(resyncs) > 3*time.Second && len(fake.CallsOf("list")) >= 2
	})
	for _, c := range fake.Calls() {
		if (c.Op() == "register" || c.Op() == "deregister" || c.Op() == "parse") &&
			(strings.Contains(c.Path, "life-a") || strings.Contains(string(c.Body), "life-a")) {
			t.Errorf("restart touched a healthy client's job: %s %s", c.Method, c.Path)
		}
	}
	if jobsOf(fake, "life-a") != 3 || jobsOf(fake, "life-tomb") != 3 {
		t.Fatalf("healthy clients' jobs after restart: %v", fake.JobIDs())
	}

	// /v1/clients reports the phases.
	resp, err := http.Get("http://" + p.addr + "/v1/clients")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var out struct {
		Clients []struct {
			ID    string
			Phase string
			Jobs  []struct{ ID, Status string }
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decoding /v1/clients: %v\n%s", err, body)
	}
	phases := map[string]string{}
	for _, c := range out.Clients {
		phases[c.ID] = c.Phase
	}
	want := map[string]string{"life-a": "active", "life-silent": "stale", "life-doomed": "stale", "life-tomb": "active"}
	for id, ph := range want {
		if phases[id] != ph {
			t.Errorf("/v1/clients: %s is %q, want %q (all: %v)", id, phases[id], ph, phases)
		}
	}
	logs := p.logs.String()
	if !strings.Contains(logs, "registry caught up") {
		t.Errorf("restart log lacks the catch-up line:\n%s", logs)
	}
}

// A plane with its own registry and heartbeat topics (KG_REGISTRY_TOPIC,
// KG_HEARTBEAT_TOPIC) creates them at start: it used to create only the
// contract's names and retry forever. The heartbeat topic gets
// LogAppendTime (the broker times heartbeats, not the agents' clocks), and
// the plane's jobs carry its identity, by default the registry topic's name.
func TestPlaneCreatesItsOwnTopics(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: builds the binary and uses the real Kafka")
	}
	brokers := testinfra.KafkaBrokers(t)
	sfx := kafkatest.Suffix()
	e := &kafkaEnv{brokers: brokers, registry: "own.registry" + sfx, heartbeat: "own.heartbeat" + sfx}
	admin, err := sarama.NewClusterAdmin(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	t.Cleanup(func() {
		admin.DeleteTopic(e.registry)
		admin.DeleteTopic(e.heartbeat)
	})
	fake := fakenomad.New()
	defer fake.Close()
	startPlane(t, buildBinary(t), e, fake.URL, "1", "KG_ENSURE_TOPICS=true")

	e.connect(t)
	cfg, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: e.heartbeat, ConfigNames: []string{"message.timestamp.type"}})
	if err != nil || len(cfg) != 1 || cfg[0].Value != "LogAppendTime" {
		t.Fatalf("%s message.timestamp.type = %+v (%v), want LogAppendTime", e.heartbeat, cfg, err)
	}
	e.register(t, "own-1")
	testutil.Eventually(t, 30*time.Second, "own-1's jobs", func() bool { return jobsOf(fake, "own-1") == 3 })
	j, _ := fake.Job("kg-event-normalizer-own-1")
	if j.Meta[nomad.MetaPlane] != e.registry {
		t.Fatalf("kg_plane = %q, want the registry topic's name %q", j.Meta[nomad.MetaPlane], e.registry)
	}
}

// With KG_ENSURE_TOPICS=false the plane creates nothing: it checks that the
// election topic exists and, while it does not, says how to create it.
func TestElectionTopicCheckedNotCreatedWithoutEnsure(t *testing.T) {
	e := newKafkaEnv(t) // makes the election topic, as kgctl topics ensure would
	cfg := config{brokers: strings.Join(e.brokers, ","), instance: "topic-check"}
	if err := topicExists(cfg, e.brokers, election.Topic); err != nil {
		t.Fatalf("the election topic exists: %v", err)
	}
	missing := "no.such.topic" + kafkatest.Suffix()
	err := topicExists(cfg, e.brokers, missing)
	if err == nil || !strings.Contains(err.Error(), "kgctl topics ensure") {
		t.Fatalf("a missing topic: %v, want an error that says how to create it", err)
	}
	ts, _ := e.client.Topics()
	for _, topic := range ts {
		if topic == missing {
			t.Fatalf("%s was created", missing)
		}
	}
}
