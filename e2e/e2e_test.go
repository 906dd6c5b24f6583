package e2e

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kgrca/kgplane/internal/nomadagent"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/scenario"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// backend is where the control plane runs the workers in a flow.
type backend struct {
	name string
	// setup returns the control plane's backend settings and the operator
	// var-file for the templates; it skips when the backend is not here.
	setup func(t *testing.T, in *infra) (env []string, vars string)
	// wait is how long workers may take to start (Nomad and Docker are slower).
	wait time.Duration
}

func writeVars(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "e2e.vars.hcl")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func rawExecVars(t *testing.T, in *infra) string {
	return writeVars(t, fmt.Sprintf("driver = \"raw_exec\"\nworker_binary = %q\nneo4j_uri = %q\ncpu = 100\nmemory = 128\n", bin(t, "kg-worker"), in.neo4jURI))
}

func backends() []backend {
	return []backend{
		{name: "embedded", wait: 2 * time.Minute, setup: func(t *testing.T, in *infra) ([]string, string) {
			return []string{"KG_BACKEND=embedded"}, rawExecVars(t, in)
		}},
		{name: "nomad-raw_exec", wait: 3 * time.Minute, setup: func(t *testing.T, in *infra) ([]string, string) {
			agent := nomadagent.Start(t) // skips without nomad on PATH
			return []string{"KG_BACKEND=nomad", "NOMAD_ADDR=" + agent.Addr}, rawExecVars(t, in)
		}},
		{name: "nomad-docker", wait: 3 * time.Minute, setup: func(t *testing.T, in *infra) ([]string, string) {
			if _, err := exec.LookPath("nomad"); err != nil {
				t.Skip("nomad not on PATH; install Nomad to run the docker-driver flow")
			}
			if err := exec.Command("docker", "info").Run(); err != nil {
				t.Skip("no Docker daemon answers (docker info); start one (dockerd --bridge=none --iptables=false) to run the docker-driver flow")
			}
			image := "kg-worker:e2e"
			build := exec.Command("../scripts/image.sh")
			build.Env = append(os.Environ(), "KG_WORKER_IMAGE="+image)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("make image: %v\n%s", err, out)
			}
			agent := nomadagent.Start(t)
			// Before the agent stops (its cleanup runs after this one): purge
			// the jobs and wait for their containers to go. The agent's own
			// cleanup waits for executor processes, and docker tasks have none,
			// so containers would outlive it.
			t.Cleanup(func() {
				jobs, _, _ := agent.API.Jobs().List(nil)
				for _, j := range jobs {
					agent.API.Jobs().Deregister(j.ID, true, nil)
				}
				running := func() []string {
					out, _ := exec.Command("docker", "ps", "-q", "--filter", "ancestor="+image).Output()
					return strings.Fields(string(out))
				}
				deadline := time.Now().Add(time.Minute)
				for len(running()) > 0 && time.Now().Before(deadline) {
					time.Sleep(500 * time.Millisecond) // polling docker, no event to wait on
				}
				if left := running(); len(left) > 0 {
					t.Logf("containers still running after a minute; removing them: %v", left)
					exec.Command("docker", append([]string{"rm", "-f"}, left...)...).Run()
				}
				if out, _ := exec.Command("docker", "ps", "-aq", "--filter", "ancestor="+image).Output(); len(out) > 0 {
					exec.Command("docker", append([]string{"rm", "-f"}, strings.Fields(string(out))...)...).Run()
				}
			})
			testutil.Eventually(t, 2*time.Minute, "Nomad's docker driver to be healthy", func() bool {
				nodes, _, err := agent.API.Nodes().List(nil)
				if err != nil || len(nodes) == 0 {
					return false
				}
				d := nodes[0].Drivers["docker"]
				return d != nil && d.Healthy
			})
			return []string{"KG_BACKEND=nomad", "NOMAD_ADDR=" + agent.Addr}, writeVars(t, fmt.Sprintf(
				"driver = \"docker\"\nimage = %q\nnetwork_mode = \"host\"\nneo4j_uri = %q\ncpu = 100\nmemory = 128\n", image, in.neo4jURI))
		}},
	}
}

// The whole chain, on every backend this machine has: two clients replay
// their scenarios with kg-agent → their workers start → each scenario's
// events reach its client's graph with the expected CAUSES edges → one client
// stops heartbeating → its workers stop, the other's keep running → while it
// is away its cluster publishes more → it comes back → its workers resume from
// their committed offsets: everything published reaches the graph, and no
// record is normalized twice → a template edit reaches the running tasks.
// On the embedded backend, killing the control plane leaves no worker behind.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds the binaries and runs the whole pipeline on the real Kafka and Neo4j")
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { runFlow(t, b) })
	}
}

func runFlow(t *testing.T, b backend) {
	in := newInfra(t)
	env, vars := b.setup(t, in)
	jobspecs := copyDir(t, "../jobspecs")
	p := startPlane(t, in, jobspecs, vars, env...)

	n := time.Now().UnixNano() % 1_000_000
	ca, cb := fmt.Sprintf("e2e-a-%d", n), fmt.Sprintf("e2e-b-%d", n)
	in.cleanupGraph(t, ca, cb)

	// Client A: an OOM kill loop. Client B: an image that cannot be pulled
	// (part 1), the back-off and a dependency's connection errors while B is
	// away (part 2), a readiness probe failing into a kill once it is back
	// (part 3).
	a := newScen("e2e-oom", "Pod/shop/cart-1", "OOMKilled").pod("shop", "cart-1", "node-1").
		event("a-pulled", "shop", "cart-1", "Pulled", `Container image "shop/cart:1.2" already present on machine`, "Normal", 0).
		event("a-oom", "shop", "cart-1", "OOMKilled", "Container cart exceeded its memory limit (512Mi)", "Warning", 10*time.Second).
		event("a-backoff", "shop", "cart-1", "BackOff", "Back-off restarting failed container cart in pod cart-1_shop", "Warning", 30*time.Second)
	b1 := newScen("e2e-image-1", "Pod/web/web-1", "ErrImagePull").pod("web", "web-1", "node-1").pod("web", "api-1", "node-1").
		event("b-scheduled", "web", "web-1", "Scheduled", "Successfully assigned web/web-1 to node-1", "Normal", 0).
		event("b-pull", "web", "web-1", "Failed", `Failed to pull image "web/web:9.9": rpc error: code = NotFound desc = manifest unknown: ErrImagePull`, "Warning", 5*time.Second)
	b2 := newScen("e2e-image-2", "Pod/web/web-1", "ErrImagePull").
		event("b-pullbackoff", "web", "web-1", "BackOff", `Back-off pulling image "web/web:9.9"`, "Normal", 35*time.Second).
		log("b-refused", "web", "api-1", "2026/11/30 10:00:40 dial tcp 10.0.0.7:8080: connect: connection refused", 40*time.Second)
	b3 := newScen("e2e-image-3", "Pod/web/web-1", "ErrImagePull").
		event("b-unhealthy", "web", "api-1", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", "Warning", 60*time.Second).
		event("b-killing", "web", "api-1", "Killing", "Container api failed liveness probe, will be restarted", "Normal", 90*time.Second)
	wantA := []string{"OOMKilled -[oom-backoff]-> BackOff"}
	wantB := []string{
		"ErrImagePull -[image-pull-backoff]-> ImagePullBackOff",
		"Unhealthy -[probe-kill]-> Killing",
		"log:CONNECTION_REFUSED -[dependency-down-readiness]-> Unhealthy",
	}
	bEvents := b1.count(scenario.TopicEvents) + b2.count(scenario.TopicEvents) + b3.count(scenario.TopicEvents)
	bLogs := b2.count(scenario.TopicLogs)
	evMark, logMark := in.mark(t, kafkaio.TopicEventsNormalized, cb), in.mark(t, kafkaio.TopicLogsNormalized, cb)

	replay := func(client, file string, extra ...string) *proc {
		args := append([]string{"replay", "--client", client, "--file", file, "--heartbeat-every", "1s"}, extra...)
		return start(t, in.agentEnv(), "kg-agent", args...)
	}
	agentA := replay(ca, a.write(t), "--stay")
	agentB := replay(cb, b1.write(t), "--stay")

	testutil.Eventually(t, b.wait, "both clients' three workers running", func() bool {
		return len(workers(ca)) == 3 && len(workers(cb)) == 3
	})
	testutil.Eventually(t, 2*time.Minute, "A's scenario in A's graph", func() bool { return slices.Equal(in.causes(t, ca), wantA) })
	testutil.Eventually(t, 2*time.Minute, "B's first part in B's graph", func() bool { return in.events(t, cb) == 2 })
	pidsA := workers(ca)

	// B stops heartbeating (its agent stops without deregistering).
	agentB.stop(t, syscall.SIGTERM)
	testutil.Eventually(t, 2*time.Minute, "B's workers to stop after the stale threshold", func() bool { return len(workers(cb)) == 0 })
	// Everything normalized so far is B's first part.
	evStale, logStale := in.mark(t, kafkaio.TopicEventsNormalized, cb), in.mark(t, kafkaio.TopicLogsNormalized, cb)
	if ph := p.phase(cb); ph != "stale" {
		t.Errorf("B is %q, want stale", ph)
	}
	if got := workers(ca); !mapsEqual(got, pidsA) {
		t.Errorf("A's workers changed while B went stale: %v, were %v", got, pidsA)
	}

	// While B is away its cluster keeps producing.
	part2 := replay(cb, b2.write(t), "--register=false")
	select {
	case <-part2.done:
		if part2.err != nil {
			t.Fatalf("replaying B's second part: %v\n%s", part2.err, part2.out.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("replaying B's second part did not finish")
	}
	if n := len(workers(cb)); n != 0 {
		t.Errorf("%d of B's workers run while B is stale", n)
	}

	// B comes back: its workers resume where they stopped.
	replay(cb, b3.write(t), "--stay")
	testutil.Eventually(t, b.wait, "B's workers to run again", func() bool { return len(workers(cb)) == 3 })
	testutil.Eventually(t, 2*time.Minute, "all of B's scenario in B's graph", func() bool {
		return slices.Equal(in.causes(t, cb), wantB) && in.events(t, cb) == int64(bEvents+bLogs)
	})
	// Nothing lost, nothing processed twice into a different result, and
	// nothing normalized before B went stale normalized again after it came
	// back (its workers resumed from their committed offsets, not earlier).
	// A worker crash may redeliver a record: that copy must be identical.
	for _, c := range []struct {
		topic       string
		from, stale int64
		want        int
	}{
		{kafkaio.TopicEventsNormalized, evMark, evStale, bEvents},
		{kafkaio.TopicLogsNormalized, logMark, logStale, bLogs},
	} {
		end := in.mark(t, c.topic, cb)
		before := in.records(t, c.topic, cb, c.from, c.stale)
		after := in.records(t, c.topic, cb, c.stale, end)
		all := map[string][]string{}
		for k, vs := range before {
			all[k] = append(all[k], vs...)
			if _, again := after[k]; again {
				t.Errorf("%s: %s was normalized before B went stale and again after it came back: its workers did not resume from their committed offsets", c.topic, k)
			}
		}
		for k, vs := range after {
			all[k] = append(all[k], vs...)
		}
		if len(all) != c.want {
			t.Errorf("%s: %d distinct records of B, want %d (lost records?)", c.topic, len(all), c.want)
		}
		for k, vs := range all {
			for _, v := range vs[1:] {
				if v != vs[0] {
					t.Errorf("%s: %s normalized twice into different results:\n%s\n%s", c.topic, k, vs[0], v)
				}
			}
		}
	}
	if got := workers(ca); !mapsEqual(got, pidsA) {
		t.Errorf("A's workers changed while B came back: %v, were %v", got, pidsA)
	}
	if got := in.causes(t, ca); !slices.Equal(got, wantA) {
		t.Errorf("A's graph changed: %v", got)
	}

	// A template edit (a new env var) reaches the running tasks.
	t.Run("template edit reaches the tasks", func(t *testing.T) {
		path := filepath.Join(jobspecs, "graph-builder.nomad.hcl")
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		edited := strings.Replace(string(src), "      env {\n", "      env {\n        KG_E2E_MARK = \"edited\"\n", 1)
		if edited == string(src) {
			t.Fatal("graph-builder.nomad.hcl has no env block to edit")
		}
		if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, b.wait, "A's graph builder to run with the edited environment", func() bool {
			for _, proc := range testutil.ProcessesWithEnv("CLIENT_ID="+ca, "KG_E2E_MARK=edited") {
				if len(proc.Args) > 1 && proc.Args[1] == kafkaio.RoleGraphBuilder {
					return true
				}
			}
			return false
		})
		testutil.Eventually(t, b.wait, "one graph builder of A, the edited one", func() bool {
			return len(workers(ca)) == 3 && len(testutil.ProcessesWithEnv("CLIENT_ID="+ca, "KG_E2E_MARK=edited")) == 1
		})
	})

	if b.name == "embedded" {
		t.Run("killing the control plane leaves no worker behind", func(t *testing.T) {
			p.stop(t, syscall.SIGKILL)
			testutil.Eventually(t, time.Minute, "no worker of A or B left", func() bool { return len(workers(ca))+len(workers(cb)) == 0 })
		})
	}
	agentA.stop(t, syscall.SIGTERM)
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Bad input is refused by kg-agent replay with the line number, and nothing
// at all is published: no registration, no heartbeat, no record.
func TestReplayRefusesBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds kg-agent and uses the real Kafka")
	}
	in := newInfra(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	topics := map[string]string{"KG_EVENTS_TOPIC": "e2e.events." + suffix, "KG_LOGS_TOPIC": "e2e.logs." + suffix, "KG_TOPOLOGY_TOPIC": "e2e.topology." + suffix}
	env := in.agentEnv()
	for k, v := range topics {
		in.createTopic(t, v)
		env = append(env, k+"="+v)
	}
	good := newScen("e2e-bad", "Pod/shop/cart-1", "OOMKilled").pod("shop", "cart-1", "node-1").
		event("x-oom", "shop", "cart-1", "OOMKilled", "oom", "Warning", 0)
	valid, err := os.ReadFile(good.write(t))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(valid)), "\n")
	write := func(content string) string {
		p := filepath.Join(t.TempDir(), "bad.jsonl")
		os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	cases := []struct {
		name, client, file, want string
	}{
		{"a broken line", "e2e-bad-a", write(strings.Join(append(lines, `{"topic": "raw.k8s.events", "key": "x", "value": {`), "\n")), "line 4"},
		{"an unknown topic", "e2e-bad-a", write(lines[0] + "\n" + `{"topic":"raw.k8s.secrets","key":"k","value":{}}` + "\n" + lines[1]), "line 2"},
		{"an invalid client id", "Bad_Client", write(string(valid)), "client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin(t, "kg-agent"), "replay", "--client", tc.client, "--file", tc.file)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("kg-agent replay accepted it:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("the refusal does not say %q:\n%s", tc.want, out)
			}
		})
	}
	for _, topic := range append(slices.Collect(maps.Values(topics)), in.registry, in.heartbeat) {
		if n := in.total(t, topic); n != 0 {
			t.Errorf("%d records published to %s from refused input", n, topic)
		}
	}
}
