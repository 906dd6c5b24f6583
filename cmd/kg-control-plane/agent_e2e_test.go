package main

// The whole chain against a real `nomad agent -dev` (skipped without a nomad
// binary on PATH): kg-control-plane submits the shipped templates with the
// raw_exec driver, Nomad really starts kg-worker for each role, the workers
// really join their consumer groups on the real Kafka, and a tombstone makes the
// jobs really go away.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/nomadagent"
	"github.com/kgrca/kgplane/internal/testinfra"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

func TestE2EControlPlaneWithRealNomad(t *testing.T) {
	if testing.Short() {
		t.Skip("real-agent test")
	}
	agent := nomadagent.Start(t)
	e := newKafkaEnv(t)
	neo4j := testinfra.Neo4jURI(t)
	sc := kafkaio.NewSaramaConfig(kafkaio.Security{}, "kg-test")
	admin, err := sarama.NewClusterAdmin(e.brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := kafkaio.EnsureTopics(admin, kafkaio.Topics(4)); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	worker := filepath.Join(dir, "kg-worker")
	if out, err := exec.Command("go", "build", "-o", worker, "../kg-worker").CombinedOutput(); err != nil {
		t.Fatalf("building kg-worker: %v\n%s", err, out)
	}
	vars := filepath.Join(dir, "e2e.vars.hcl")
	os.WriteFile(vars, []byte(fmt.Sprintf(`driver = "raw_exec"
worker_binary = %q
cpu = 100
memory = 128
neo4j_uri = %q
neo4j_isolation = "shared"
`, worker, neo4j)), 0o644)

	p := startPlane(t, buildBinary(t), e, agent.Addr, "2", "JOBSPEC_VARS_FILE="+vars)
	id := fmt.Sprintf("e2e-%d", time.Now().UnixNano()%1_000_000)
	e.register(t, id)
	e.beat(t, id)
	jobs := []string{"kg-event-normalizer-" + id, "kg-log-normalizer-" + id, "kg-graph-builder-" + id}
	testutil.Eventually(t, 3*time.Minute, "three allocations running", func() bool {
		for _, j := range jobs {
			if agent.RunningAllocs(j) != 1 {
				return false
			}
		}
		return true
	})
	// The workers are really up: each joined its per-client consumer group.
	groups := []string{"event-normalizer-" + id, "log-normalizer-" + id, "graph-builder-" + id}
	testutil.Eventually(t, 2*time.Minute, "the workers' consumer groups to have a member", func() bool {
		ds, err := admin.DescribeConsumerGroups(groups)
		if err != nil || len(ds) != len(groups) {
			return false
		}
		for _, d := range ds {
			if len(d.Members) == 0 {
				return false
			}
		}
		return true
	})
	job, _, err := agent.API.Jobs().Info(jobs[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if job.Meta["kg_client"] != id || job.Meta["kg_managed_by"] != "kgplane" {
		t.Errorf("job meta = %v", job.Meta)
	}
	sub, _, err := agent.API.Jobs().Submission(jobs[0], int(*job.Version), nil)
	if err != nil || sub == nil || sub.Source == "" {
		t.Errorf("the Nomad UI would show no source: %v %+v", err, sub)
	}

	// A tombstone: the jobs go away for real.
	e.send(t, e.registry, id, nil)
	testutil.Eventually(t, time.Minute, "jobs purged from Nomad", func() bool {
		for _, j := range jobs {
			if agent.JobExists(j) {
				return false
			}
		}
		return true
	})
	_ = p
}
