package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/eventnorm"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestCLI(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantOut  string // substring of stdout
		wantErr  string // substring of stderr
	}{
		{name: "help", args: []string{"--help"}, wantCode: 0, wantOut: "event-normalizer"},
		{name: "role help", args: []string{"graph-builder", "--help"}, wantCode: 0, wantOut: "CLIENT_ID"},
		{name: "no role", args: nil, wantCode: 2, wantErr: "Usage:"},
		{name: "unknown role", args: []string{"normalizer"}, wantCode: 2, wantErr: `unknown role "normalizer"`},
		{name: "missing client", args: []string{"event-normalizer"}, wantCode: 2, wantErr: "CLIENT_ID is required"},
		{name: "invalid client", args: []string{"log-normalizer"}, env: map[string]string{"CLIENT_ID": "AF_9"}, wantCode: 2, wantErr: `CLIENT_ID: invalid client id "AF_9"`},
		{name: "client ending in hyphen", args: []string{"event-normalizer"}, env: map[string]string{"CLIENT_ID": "af-"}, wantCode: 2, wantErr: "must not end with a hyphen"},
		{name: "bad log level", args: []string{"event-normalizer"}, env: map[string]string{"CLIENT_ID": "af-9", "LOG_LEVEL": "loud"}, wantCode: 2, wantErr: "LOG_LEVEL"},
		{name: "bad log format", args: []string{"event-normalizer"}, env: map[string]string{"CLIENT_ID": "af-9", "LOG_FORMAT": "xml"}, wantCode: 2, wantErr: "LOG_FORMAT"},
		{name: "stray argument", args: []string{"event-normalizer", "af-9"}, env: map[string]string{"CLIENT_ID": "af-9"}, wantCode: 2, wantErr: "unexpected arguments"},
		{name: "bad metrics addr", args: []string{"event-normalizer"}, env: map[string]string{"CLIENT_ID": "af-9", "METRICS_ADDR": "not-an-address"}, wantCode: 2, wantErr: "METRICS_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, envMap(tt.env), &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Fatalf("stdout %q / stderr %q; want %q / %q", stdout.String(), stderr.String(), tt.wantOut, tt.wantErr)
			}
		})
	}
}

// TestGraphBuilderConfigErrorExits2: the graph builder's own settings are
// checked at start too (graph.ConfigFromEnv reads the process environment).
func TestGraphBuilderConfigErrorExits2(t *testing.T) {
	t.Setenv("CLIENT_ID", "af-9")
	t.Setenv("NEO4J_ISOLATION", "bogus")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"graph-builder"}, os.Getenv, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "NEO4J_ISOLATION") {
		t.Fatalf("exit %d, stderr %q; want 2 naming NEO4J_ISOLATION", code, stderr.String())
	}
}

func TestHelpTeaches(t *testing.T) {
	for _, want := range []string{"event-normalizer", "log-normalizer", "graph-builder", "CLIENT_ID", "KAFKA_BROKERS",
		"NEO4J_DATABASE", "METRICS_ADDR", "LOG_LEVEL", "Examples:", "consumer-groups --describe"} {
		if !strings.Contains(usage, want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kg-worker-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "kg-worker")
	if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building kg-worker: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a kg-worker process under test.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

func startWorker(t *testing.T, role string, env ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binPath, role), done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("worker log:\n%s", p.log())
		}
	})
	return p
}

// wait returns the exit code after the process ended.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		p.done <- nil // let the cleanup's receive pass
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("worker did not exit within %v", timeout)
		return -1
	}
}

var metricsAddrRE = regexp.MustCompile(`msg="metrics listening" .*addr=(\S+)`)

func (p *proc) metricsAddr(t *testing.T) string {
	t.Helper()
	var addr string
	testutil.Eventually(t, 10*time.Second, "the metrics address in the log", func() bool {
		m := metricsAddrRE.FindStringSubmatch(p.log())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	return addr
}

// highWatermark is the end offset of the client's partition of topic.
func highWatermark(t *testing.T, client sarama.Client, topic string, partition int32) int64 {
	t.Helper()
	off, err := client.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		t.Fatalf("offset of %s/%d: %v", topic, partition, err)
	}
	return off
}

// TestEventNormalizerSurvivesSIGKILL runs the real binary, SIGKILLs it
// mid-stream and restarts it: every input record of the client is in the
// output at least once, the set of output ids equals the set of ids derived
// from the input, first occurrences keep the input order, and every
// redelivered record's output is byte-identical. Then SIGTERM stops it with
// exit 0 and the group's committed offset at the end of the partition.
func TestEventNormalizerSurvivesSIGKILL(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	const partitions = 2
	in, out, dlq := kafkaio.TopicRawEvents+sfx, kafkaio.TopicEventsNormalized+sfx, kafkaio.TopicDLQRaw+sfx
	kafkatest.CreateTopics(t, brokers, partitions, in, out)
	kafkatest.CreateTopics(t, brokers, 1, dlq)
	client := "kill" + strings.ReplaceAll(sfx, ".", "-")
	other := "noise" + strings.ReplaceAll(sfx, ".", "-")

	var wantIDs []string
	produce := func(from, n int) {
		var msgs []*sarama.ProducerMessage
		for i := from; i < from+n; i++ {
			uid := fmt.Sprintf("%s-uid-%06d", client, i)
			raw := kafkatest.RawEvent(uid, i)
			id, _, err := eventnorm.Normalize(uid, raw)
			if err != nil {
				t.Fatalf("test event %d does not normalize: %v", i, err)
			}
			wantIDs = append(wantIDs, client+"::"+id)
			msgs = append(msgs,
				&sarama.ProducerMessage{Topic: in, Key: sarama.StringEncoder(kafkatest.Key(client, "event", uid)), Value: sarama.ByteEncoder(raw)},
				&sarama.ProducerMessage{Topic: in, Key: sarama.StringEncoder(kafkatest.Key(other, "event", fmt.Sprint(i))), Value: sarama.ByteEncoder(kafkatest.RawEvent(fmt.Sprint(i), i))})
		}
		kafkatest.Produce(t, brokers, msgs)
	}
	produce(0, 4000)

	kc, err := sarama.NewClient(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	outPart := kafkaio.PartitionFor(client, partitions)

	env := []string{"CLIENT_ID=" + client, "KAFKA_BROKERS=" + strings.Join(brokers, ","), "KG_TOPIC_SUFFIX=" + sfx, "LOG_LEVEL=info"}
	w1 := startWorker(t, kafkaio.RoleEventNormalizer, env...)
	testutil.Eventually(t, 60*time.Second, "first outputs", func() bool { return highWatermark(t, kc, out, outPart) > 0 })
	if err := w1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w1.wait(t, 10*time.Second)
	killedAt := highWatermark(t, kc, out, outPart)
	t.Logf("SIGKILL after %d of %d outputs", killedAt, len(wantIDs))

	// The kill may land after a commit; to be sure a redelivery is tested,
	// rewind the group by 300 offsets, as a crash between ack and commit would.
	rewindGroup(t, kc, kafkaio.GroupID(kafkaio.RoleEventNormalizer, client), in, kafkaio.PartitionFor(client, partitions), 300)

	produce(4000, 500)
	w2 := startWorker(t, kafkaio.RoleEventNormalizer, env...)
	// Metrics and health while it works.
	addr := w2.metricsAddr(t)
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || (path == "/metrics" && !strings.Contains(string(body), "go_goroutines")) {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body[:min(len(body), 200)])
		}
	}

	var recs []*sarama.ConsumerMessage
	testutil.Eventually(t, 120*time.Second, "every input in the output", func() bool {
		if highWatermark(t, kc, out, outPart) < int64(len(wantIDs)) {
			return false
		}
		recs = kafkatest.ReadAll(t, brokers, out)
		got := map[string]bool{}
		for _, r := range recs {
			got[string(r.Key)] = true
		}
		for _, id := range wantIDs {
			if !got[id] {
				return false
			}
		}
		return true
	})

	// Set equality, first-occurrence order, byte-identical duplicates.
	first := map[string][]byte{}
	var order []string
	dups := 0
	for _, r := range recs {
		k := string(r.Key)
		if !strings.HasPrefix(k, client+"::") {
			t.Fatalf("output has another client's record %s", k)
		}
		if v, ok := first[k]; ok {
			dups++
			if !bytes.Equal(v, r.Value) {
				t.Fatalf("redelivered %s differs:\n%s\n%s", k, v, r.Value)
			}
			continue
		}
		first[k] = r.Value
		order = append(order, k)
	}
	if strings.Join(order, ",") != strings.Join(wantIDs, ",") {
		t.Fatalf("output ids (%d distinct) differ from the input-derived ids (%d) or their order", len(order), len(wantIDs))
	}
	t.Logf("outputs %d for %d inputs: %d redelivered duplicates, all byte-identical", len(recs), len(wantIDs), dups)
	if dups == 0 {
		t.Fatal("no record was redelivered; the byte-identical check did not run")
	}

	// SIGTERM: exit 0, everything acknowledged is committed.
	if err := w2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := w2.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0", code)
	}
	admin, err := sarama.NewClusterAdminFromClient(kc)
	if err != nil {
		t.Fatal(err)
	}
	inPart := kafkaio.PartitionFor(client, partitions)
	offs, err := admin.ListConsumerGroupOffsets(kafkaio.GroupID(kafkaio.RoleEventNormalizer, client), map[string][]int32{in: {inPart}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := offs.GetBlock(in, inPart).Offset, highWatermark(t, kc, in, inPart); got != want {
		t.Fatalf("committed offset %d after SIGTERM, want the end of the partition %d", got, want)
	}
	if !strings.Contains(w2.log(), "worker stopped") {
		t.Fatalf("no graceful stop in the log:\n%s", w2.log())
	}
}

// rewindGroup waits until the group has no live member (the killed one's
// session expired), then moves its committed offset back by n.
func rewindGroup(t *testing.T, kc sarama.Client, group, topic string, partition int32, n int64) {
	t.Helper()
	admin, err := sarama.NewClusterAdminFromClient(kc)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the killed member leaves the group", func() bool {
		d, err := admin.DescribeConsumerGroups([]string{group})
		return err == nil && len(d) == 1 && d[0].State == "Empty"
	})
	om, err := sarama.NewOffsetManagerFromClient(group, kc)
	if err != nil {
		t.Fatal(err)
	}
	defer om.Close()
	pom, err := om.ManagePartition(topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	committed, _ := pom.NextOffset()
	if committed <= 0 {
		t.Logf("nothing was committed before the kill; everything is redelivered")
		return
	}
	pom.ResetOffset(max(0, committed-n), "")
	om.Commit()
	if got, _ := pom.NextOffset(); got != max(0, committed-n) {
		t.Fatalf("rewinding %s: offset %d, want %d", group, got, max(0, committed-n))
	}
	t.Logf("rewound %s from %d to %d", group, committed, max(0, committed-n))
	pom.Close()
}

// TestLogNormalizerProcess: the log-normalizer role of the real binary turns
// the client's raw logs into logs.normalized records keyed
// <client>::log-<hex>, dead-letters a bad one, and skips another client's.
func TestLogNormalizerProcess(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	sfx := kafkatest.Suffix()
	in, out, dlq := kafkaio.TopicRawLogs+sfx, kafkaio.TopicLogsNormalized+sfx, kafkaio.TopicDLQRaw+sfx
	kafkatest.CreateTopics(t, brokers, 1, in, out, dlq)
	client := "logs" + strings.ReplaceAll(sfx, ".", "-")
	logRec := func(i int) []byte {
		return fmt.Appendf(nil, `{"stream":"stderr","log":"dial tcp 10.0.0.%d:5432: connect: connection refused","kubernetes":{"pod_name":"web-1","namespace_name":"shop","pod_id":"8c7d6e5f-4a3b-4c2d-9e1f-0a9b8c7d6e5f","host":"node-2","container_name":"web"},"date":"2026-11-20T10:00:%02d.000Z"}`, i, i)
	}
	msgs := []*sarama.ProducerMessage{
		{Topic: in, Key: sarama.StringEncoder(client + "::log::l0"), Value: sarama.ByteEncoder(logRec(0))},
		{Topic: in, Key: sarama.StringEncoder("other-" + client + "::log::x"), Value: sarama.ByteEncoder(logRec(9))},
		{Topic: in, Key: sarama.StringEncoder(client + "::log::l1"), Value: sarama.StringEncoder("[not json")},
		{Topic: in, Key: sarama.StringEncoder(client + "::log::l2"), Value: sarama.ByteEncoder(logRec(2))},
	}
	kafkatest.Produce(t, brokers, msgs)
	w := startWorker(t, kafkaio.RoleLogNormalizer, "CLIENT_ID="+client, "KAFKA_BROKERS="+strings.Join(brokers, ","), "KG_TOPIC_SUFFIX="+sfx)
	kc, err := sarama.NewClient(brokers, kafkatest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	testutil.Eventually(t, 60*time.Second, "2 outputs and 1 dead letter", func() bool {
		return highWatermark(t, kc, out, 0) >= 2 && highWatermark(t, kc, dlq, 0) >= 1
	})
	recs := kafkatest.ReadAll(t, brokers, out)
	if len(recs) != 2 {
		t.Fatalf("%d outputs, want 2", len(recs))
	}
	for _, r := range recs {
		k, err := kafkaio.ParseKey(r.Key)
		if err != nil || k.Client != client || k.Type != kafkaio.TypeNormalizedLog || !strings.Contains(string(r.Value), "CONNECTION_REFUSED") {
			t.Fatalf("output %s=%s (%v): want a normalized log of %s with signature CONNECTION_REFUSED", r.Key, r.Value, err, client)
		}
	}
	dl := kafkatest.ReadAll(t, brokers, dlq)
	if len(dl) != 1 || string(dl[0].Key) != client+"::log::l1" {
		t.Fatalf("dead letters %v, want exactly %s::log::l1", dl, client)
	}
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := w.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
}
