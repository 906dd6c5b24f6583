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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/hashicorp/nomad/api"

	"github.com/kgrca/kgplane/internal/fakenomad"
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

// The HA scenario of ha_test.go against a real `nomad agent -dev` (skipped
// without nomad on PATH): each client runs a sleeper job (raw_exec), the
// planes reach the agent through a recording proxy. Beyond "no call touched a
// healthy client", Nomad itself must show it: every job keeps its modify
// index and its running allocation.
func TestE2EHAFailoverWithRealNomad(t *testing.T) {
	if testing.Short() {
		t.Skip("real-agent test")
	}
	agent := nomadagent.Start(t)
	rec, err := fakenomad.NewRecorder(agent.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	// The sleeper of the nomad package's real-agent tests, sleeping longer
	// than the test lasts.
	src, err := os.ReadFile("../../nomad/testdata/e2e/sleeper.nomad.hcl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hcl := strings.Replace(string(src), `args    = ["300"]`, `args    = ["3600"]`, 1)
	if err := os.WriteFile(filepath.Join(dir, "sleeper.nomad.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	const prefix = "kg-e2e-sleeper-"
	type jobState struct {
		modifyIndex uint64
		allocs      []string
	}
	state := func() (map[string]jobState, error) {
		stubs, _, err := agent.API.Jobs().List(&api.QueryOptions{Prefix: prefix})
		if err != nil {
			return nil, err
		}
		out := make(map[string]jobState, len(stubs))
		for _, s := range stubs {
			allocs, _, err := agent.API.Jobs().Allocations(s.ID, false, nil)
			if err != nil {
				return nil, err
			}
			js := jobState{modifyIndex: s.JobModifyIndex}
			for _, a := range allocs {
				if a.ClientStatus == "running" {
					js.allocs = append(js.allocs, a.ID)
				}
			}
			slices.Sort(js.allocs)
			out[s.ID] = js
		}
		return out, nil
	}
	var before map[string]jobState
	n := envInt(t, "KG_HA_NOMAD_CLIENTS", 30)
	runHAFailover(t, n, haNomad{
		url: rec.URL, calls: rec, perClient: 1,
		env: []string{"JOBSPECS_DIR=" + dir, "JOBSPEC_VARS_FILE="},
		jobs: func() int {
			stubs, _, err := agent.API.Jobs().List(&api.QueryOptions{Prefix: prefix})
			if err != nil {
				return -1
			}
			return len(stubs)
		},
		running: func() bool {
			s, err := state()
			if err != nil || len(s) != n {
				return false
			}
			for _, js := range s {
				if len(js.allocs) != 1 {
					return false
				}
			}
			before = s
			return true
		},
	}, "real Nomad agent")
	after, err := state()
	if err != nil {
		t.Fatal(err)
	}
	for id, b := range before {
		a, ok := after[id]
		switch {
		case !ok:
			t.Errorf("%s: gone after the failovers", id)
		case a.modifyIndex != b.modifyIndex:
			t.Errorf("%s: job modify index %d → %d: someone registered it again", id, b.modifyIndex, a.modifyIndex)
		case !slices.Equal(a.allocs, b.allocs):
			t.Errorf("%s: running allocations %v → %v", id, b.allocs, a.allocs)
		}
	}
}
