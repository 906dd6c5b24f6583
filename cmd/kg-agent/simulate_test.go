package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kgrca/kgplane/agent/simulate"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/scenario"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

func TestSimulateListOutAndAll(t *testing.T) {
	ctx := context.Background()
	out, err := runAgent(ctx, t, "simulate", "--list")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range simulate.Names() {
		if !strings.Contains(out, n+" ") {
			t.Errorf("--list lacks %s:\n%s", n, out)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "db.jsonl")
	if out, err := runAgent(ctx, t, "simulate", "--scenario", "database-down", "--seed", "7", "--out", file); err != nil || !strings.Contains(out, "root cause") {
		t.Fatalf("--out: %v\n%s", err, out)
	}
	f, err := scenario.ReadFile(file)
	if err != nil || f.Header.Scenario != "database-down" {
		t.Fatalf("the written file: %v", err)
	}
	set := filepath.Join(dir, "set")
	out, err = runAgent(ctx, t, "simulate", "--all", "--scenario", "oom-kill-loop,node-failure", "--variants", "2", "--seed", "3", "--out-dir", set)
	if err != nil {
		t.Fatalf("--all: %v\n%s", err, out)
	}
	names, _ := filepath.Glob(filepath.Join(set, "*.jsonl"))
	if len(names) != 4 || !strings.Contains(out, "wrote 4 scenario files") {
		t.Fatalf("set files %v\n%s", names, out)
	}
	for _, n := range names {
		if _, err := scenario.ReadFile(n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	// The same command again writes the same bytes.
	again := filepath.Join(dir, "again")
	if _, err := runAgent(ctx, t, "simulate", "--all", "--scenario", "oom-kill-loop,node-failure", "--variants", "2", "--seed", "3", "--out-dir", again); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		a, _ := os.ReadFile(n)
		b, _ := os.ReadFile(filepath.Join(again, filepath.Base(n)))
		if string(a) != string(b) {
			t.Errorf("%s differs between two runs with one seed", filepath.Base(n))
		}
	}
}

func TestSimulateRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"simulate", "--scenario", "nope", "--out", filepath.Join(t.TempDir(), "x")}, "unknown scenario"},
		{[]string{"simulate", "--out", "x"}, "--scenario is required"},
		{[]string{"simulate", "--all"}, "--out-dir"},
		{[]string{"simulate", "--scenario", "oom-kill-loop", "--noise", "-1", "--out", "x"}, "--noise"},
		{[]string{"simulate", "--scenario", "oom-kill-loop"}, "--client is required"},
		{[]string{"simulate", "--client", "af-9", "--scenario", "nope", "--kafka-brokers", "127.0.0.1:1"}, "unknown scenario"},
	} {
		if _, err := runAgent(ctx, t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
}

// Live simulation registers the client and publishes the scenario to the
// client's partition, every key with its prefix.
func TestSimulateLivePublishes(t *testing.T) {
	brokers, topics, flags := testTopics(t)
	client := "sim-" + strings.TrimPrefix(kafkatest.Suffix(), ".")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := append([]string{"simulate", "--client", client, "--scenario", "image-pull-failure", "--seed", "4", "--noise", "0", "--rate", "0"}, flags...)
	out, err := runAgent(ctx, t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := kafkaio.PartitionFor(client, 6)
	n := 0
	for _, topic := range []string{topics["events"], topics["topology"]} {
		for _, m := range kafkatest.ReadAll(t, brokers, topic) {
			n++
			if m.Partition != want || !strings.HasPrefix(string(m.Key), client+"::") {
				t.Fatalf("%s on partition %d", m.Key, m.Partition)
			}
		}
	}
	if n == 0 || !strings.Contains(out, fmt.Sprintf("published %d records", n)) {
		t.Errorf("%d records in Kafka; output:\n%s", n, out)
	}
	if len(kafkatest.ReadAll(t, brokers, topics["registry"])) != 1 {
		t.Error("the client was not registered")
	}
}

// simulate --stay --deregister-on-exit (README's third client) heartbeats
// after its records until interrupted, then publishes the client's tombstone:
// the control plane purges its jobs at once instead of keeping it active
// until it goes stale. The context's end is what SIGINT/SIGTERM do in main.
func TestSimulateStayDeregistersOnInterrupt(t *testing.T) {
	brokers, topics, flags := testTopics(t)
	client := "simstay-" + strings.TrimPrefix(kafkatest.Suffix(), ".")
	beats := func() int { return len(keyed(t, brokers, topics["heartbeat"], client)) }
	stop := kafkatest.Run(t, func(ctx context.Context) error {
		_, err := runAgent(ctx, t, append([]string{"simulate", "--client", client, "--scenario", "image-pull-failure", "--seed", "4",
			"--noise", "0", "--rate", "0", "--stay", "--deregister-on-exit", "--heartbeat-every", "300ms"}, flags...)...)
		return err
	})
	testutil.Eventually(t, 60*time.Second, "heartbeats after the scenario's records", func() bool { return beats() >= 3 })
	if err := stop(); err != nil {
		t.Fatalf("simulate --stay: %v", err)
	}
	reg := keyed(t, brokers, topics["registry"], client)
	var last []byte
	found := len(reg) > 0
	if found {
		last = reg[len(reg)-1].Value
	}
	if !found || last != nil {
		t.Errorf("after the interrupt the client's last registry record is not a tombstone (found %v, value %q)", found, last)
	}
}
