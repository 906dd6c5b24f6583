package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/kgrca/kgplane/internal/testinfra"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/scenario"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// binDir holds the binaries built once for every test of the package.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kg-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var buildOnce sync.Once
var buildErr error

// bin returns the path of a binary of ./cmd, building all of them once
// (static, as make build does).
func bin(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", binDir+"/", "../cmd/kg-control-plane", "../cmd/kg-worker", "../cmd/kg-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the binaries: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

// infra is the real Kafka and Neo4j, with a private registry and heartbeat
// topic pair (so this test's control plane sees only this test's clients) and
// the shared data topics (every client on its own partition, as in production).
type infra struct {
	brokers             []string
	neo4jURI            string
	registry, heartbeat string
	client              sarama.Client
	neo4j               neo4j.DriverWithContext
}

func newInfra(t *testing.T) *infra {
	t.Helper()
	in := &infra{brokers: testinfra.KafkaBrokers(t), neo4jURI: testinfra.Neo4jURI(t)}
	suffix := fmt.Sprint(time.Now().UnixNano())
	in.registry, in.heartbeat = "e2e.registry."+suffix, "e2e.heartbeat."+suffix
	sc := sarama.NewConfig()
	sc.Version = kafkaio.KafkaVersion()
	admin, err := sarama.NewClusterAdmin(in.brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := kafkaio.EnsureTopics(admin, kafkaio.Topics(4)); err != nil {
		t.Fatal(err)
	}
	for _, s := range kafkaio.Topics(1) {
		name := map[string]string{kafkaio.TopicRegistry: in.registry, kafkaio.TopicHeartbeat: in.heartbeat}[s.Name]
		if name == "" {
			continue
		}
		if err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: s.Partitions, ReplicationFactor: 1, ConfigEntries: s.ConfigEntries()}, false); err != nil {
			t.Fatalf("creating %s: %v", name, err)
		}
		t.Cleanup(func() {
			if a, err := sarama.NewClusterAdmin(in.brokers, sc); err == nil {
				a.DeleteTopic(name)
				a.Close()
			}
		})
	}
	if in.client, err = sarama.NewClient(in.brokers, sc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.client.Close() })
	if in.neo4j, err = neo4j.NewDriverWithContext(in.neo4jURI, neo4j.NoAuth()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.neo4j.Close(context.Background()) })
	return in
}

// createTopic creates a private one-partition topic, deleted after the test.
func (in *infra) createTopic(t *testing.T, name string) {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = kafkaio.KafkaVersion()
	admin, err := sarama.NewClusterAdmin(in.brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("creating %s: %v", name, err)
	}
	t.Cleanup(func() {
		if a, err := sarama.NewClusterAdmin(in.brokers, sc); err == nil {
			a.DeleteTopic(name)
			a.Close()
		}
	})
}

// agentEnv points kg-agent at the private registry and heartbeat topics.
func (in *infra) agentEnv() []string {
	return append(os.Environ(), "KAFKA_BROKERS="+strings.Join(in.brokers, ","),
		"KG_REGISTRY_TOPIC="+in.registry, "KG_HEARTBEAT_TOPIC="+in.heartbeat)
}

// proc is a running binary and its output.
type proc struct {
	cmd  *exec.Cmd
	out  *testutil.SyncBuffer
	done chan struct{}
	err  error
}

func start(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin(t, name), args...), out: &testutil.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s %s output:\n%s", name, strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// stop sends sig and waits for the process to exit.
func (p *proc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s did not exit on %s:\n%s", p.cmd.Path, sig, p.out.String())
	}
}

// plane is a running kg-control-plane.
type plane struct {
	*proc
	addr     string
	stateDir string
}

// startPlane starts kg-control-plane on the private topics with a short stale
// threshold (6 s), the given jobspecs folder, var-file and backend settings.
func startPlane(t *testing.T, in *infra, jobspecs, vars string, backendEnv ...string) *plane {
	t.Helper()
	p := &plane{addr: testutil.FreeAddr(t), stateDir: t.TempDir()}
	env := append(os.Environ(),
		"KAFKA_BROKERS="+strings.Join(in.brokers, ","),
		"KG_REGISTRY_TOPIC="+in.registry, "KG_HEARTBEAT_TOPIC="+in.heartbeat, "KG_ENSURE_TOPICS=false",
		"STALE_CLIENT_THRESHOLD_MINUTES=0.1", "HEARTBEAT_CHECK_INTERVAL_SECONDS=2",
		"JOBSPECS_DIR="+jobspecs, "JOBSPEC_VARS_FILE="+vars, "KG_HTTP_ADDR="+p.addr, "KG_STATE_DIR="+p.stateDir,
		"NOMAD_ADDR=")
	env = append(env, backendEnv...)
	p.proc = start(t, env, "kg-control-plane")
	testutil.Eventually(t, 3*time.Minute, "the control plane to be ready", func() bool {
		select {
		case <-p.done:
			t.Fatalf("kg-control-plane exited: %v\n%s", p.err, p.out.String())
		default:
		}
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// phase is the client's phase in /v1/clients.
func (p *plane) phase(id string) string {
	resp, err := http.Get("http://" + p.addr + "/v1/clients")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var out struct{ Clients []struct{ ID, Phase string } }
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return ""
	}
	for _, c := range out.Clients {
		if c.ID == id {
			return c.Phase
		}
	}
	return ""
}

// workers lists the kg-worker processes of a client by role, wherever they
// run (children of the control plane, Nomad executors, containers).
func workers(id string) map[string]int {
	out := map[string]int{}
	for _, p := range testutil.ProcessesWithEnv("CLIENT_ID=" + id) {
		if len(p.Args) > 1 && strings.HasSuffix(p.Args[0], "kg-worker") {
			out[p.Args[1]] = p.PID
		}
	}
	return out
}

var roles = []string{kafkaio.RoleEventNormalizer, kafkaio.RoleLogNormalizer, kafkaio.RoleGraphBuilder}

// ---- scenario files -------------------------------------------------------------

// scen builds a scenario file in the contract's format.
type scen struct {
	file scenario.File
	t0   time.Time
}

func newScen(name, rootRID string, signals ...string) *scen {
	return &scen{t0: time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second), file: scenario.File{Header: scenario.Header{
		Scenario: name, RootCause: scenario.Answer{RID: rootRID, Signals: signals}, Symptom: scenario.Symptom{RID: rootRID}}}}
}

func (s *scen) add(topic, key string, v any) *scen {
	raw, _ := json.Marshal(v)
	s.file.Records = append(s.file.Records, scenario.Record{Topic: topic, Key: key, Value: raw})
	return s
}

func (s *scen) pod(ns, name, node string) *scen {
	return s.add(scenario.TopicTopology, "Pod/"+ns+"/"+name, map[string]any{"kind": "Pod", "namespace": ns, "name": name, "uid": "uid-" + name, "node": node})
}

// event adds a core/v1 Event about a pod, at t0 + at.
func (s *scen) event(uid, ns, pod, reason, message, typ string, at time.Duration) *scen {
	ts := s.t0.Add(at).Format(time.RFC3339)
	return s.add(scenario.TopicEvents, uid, map[string]any{
		"apiVersion": "v1", "kind": "Event",
		"metadata":       map[string]any{"name": pod + "." + uid, "namespace": ns, "uid": uid, "creationTimestamp": ts},
		"involvedObject": map[string]any{"kind": "Pod", "namespace": ns, "name": pod, "uid": "uid-" + pod, "apiVersion": "v1"},
		"reason":         reason, "message": message, "type": typ, "count": 1,
		"source":         map[string]any{"component": "kubelet", "host": "node-1"},
		"firstTimestamp": ts, "lastTimestamp": ts,
	})
}

// log adds a Fluent Bit container log line of a pod, at t0 + at.
func (s *scen) log(uid, ns, pod, line string, at time.Duration) *scen {
	return s.add(scenario.TopicLogs, uid, map[string]any{
		"stream": "stderr", "log": line, "date": s.t0.Add(at).Format("2006-01-02T15:04:05.000Z"),
		"kubernetes": map[string]any{"pod_name": pod, "namespace_name": ns, "pod_id": "uid-" + pod, "host": "node-1", "container_name": "app"},
	})
}

func (s *scen) write(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	if err := scenario.Write(&b, &s.file); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), s.file.Header.Scenario+".jsonl")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *scen) count(topic string) int {
	n := 0
	for _, r := range s.file.Records {
		if r.Topic == topic {
			n++
		}
	}
	return n
}

// ---- what reached Kafka and Neo4j ------------------------------------------------

// causes is a client's CAUSES edges as "cause -[rule]-> effect" signals, sorted.
func (in *infra) causes(t *testing.T, client string) []string {
	t.Helper()
	res, err := neo4j.ExecuteQuery(context.Background(), in.neo4j,
		`MATCH (c:Event {client: $client})-[x:CAUSES]->(e:Event {client: $client}) RETURN c.signal + ' -[' + x.rule + ']-> ' + e.signal AS edge`,
		map[string]any{"client": client}, neo4j.EagerResultTransformer)
	if err != nil {
		t.Logf("reading CAUSES of %s: %v", client, err)
		return nil
	}
	var out []string
	for _, r := range res.Records {
		s, _ := r.Values[0].(string)
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// events is the number of a client's :Event nodes.
func (in *infra) events(t *testing.T, client string) int64 {
	t.Helper()
	res, err := neo4j.ExecuteQuery(context.Background(), in.neo4j, `MATCH (e:Event {client: $client}) RETURN count(e)`,
		map[string]any{"client": client}, neo4j.EagerResultTransformer)
	if err != nil || len(res.Records) == 0 {
		return -1
	}
	n, _ := res.Records[0].Values[0].(int64)
	return n
}

func (in *infra) cleanupGraph(t *testing.T, clients ...string) {
	t.Cleanup(func() {
		for _, c := range clients {
			neo4j.ExecuteQuery(context.Background(), in.neo4j, "MATCH (n {client: $client}) DETACH DELETE n",
				map[string]any{"client": c}, neo4j.EagerResultTransformer)
		}
	})
}

// mark is the end offset of a client's partition of a topic.
func (in *infra) mark(t *testing.T, topic, client string) int64 {
	t.Helper()
	parts, err := in.client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	off, err := in.client.GetOffset(topic, kafkaio.PartitionFor(client, int32(len(parts))), sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// records reads the client's records on its partition of topic between
// offsets from and to (exclusive): per key, the values in offset order.
func (in *infra) records(t *testing.T, topic, client string, from, to int64) map[string][]string {
	t.Helper()
	parts, err := in.client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	p := kafkaio.PartitionFor(client, int32(len(parts)))
	out := map[string][]string{}
	if to <= from {
		return out
	}
	c, err := sarama.NewConsumerFromClient(in.client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, p, from)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	prefix := client + kafkaio.Separator
	for off := from; off < to; {
		select {
		case m := <-pc.Messages():
			off = m.Offset + 1
			if k := string(m.Key); m.Offset < to && strings.HasPrefix(k, prefix) {
				out[k] = append(out[k], string(m.Value))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("reading %s[%d] %d..%d: stuck at %d", topic, p, from, to, off)
		}
	}
	return out
}

// total is how many records a topic holds (its end offsets summed).
func (in *infra) total(t *testing.T, topic string) int64 {
	t.Helper()
	var parts []int32
	// A topic created a moment ago may not be in the client's metadata yet.
	testutil.Eventually(t, 30*time.Second, "metadata of "+topic, func() bool {
		var err error
		if err = in.client.RefreshMetadata(topic); err == nil {
			parts, err = in.client.Partitions(topic)
		}
		return err == nil && len(parts) > 0
	})
	var n int64
	for _, p := range parts {
		off, err := in.client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		n += off
	}
	return n
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(out, in)
		in.Close()
		out.Close()
	}
	return dst
}
