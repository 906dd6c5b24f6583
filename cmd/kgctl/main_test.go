package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/internal/testinfra"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

func runKgctl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String() + errb.String(), err
}

func TestValidateAndRender(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr string
		want    []string
	}{
		{"validate shipped templates", []string{"validate", "--jobspecs-dir", "../../jobspecs", "--vars-file", "../../jobspecs/vars/dev.vars.hcl"}, "",
			[]string{"3 templates valid", "kg-event-normalizer-example-client", "kg-graph-builder-example-client"}},
		{"render one client", []string{"render", "--client", "af-9", "--jobspecs-dir", "../../jobspecs", "--template", "graph-builder"}, "",
			[]string{"job kg-graph-builder-af-9", `client_id      = "af-9"`, `job "kg-graph-builder"`}},
		{"render refuses an invalid id", []string{"render", "--client", "AF_9", "--jobspecs-dir", "../../jobspecs"}, "invalid client id", nil},
		{"render needs a client", []string{"render", "--jobspecs-dir", "../../jobspecs"}, "--client is required", nil},
		{"render unknown template", []string{"render", "--client", "af-9", "--jobspecs-dir", "../../jobspecs", "--template", "nope"}, `no template named "nope"`, nil},
		{"unknown command", []string{"frobnicate"}, "unknown command", nil},
		{"help", []string{"help"}, "", []string{"validate", "topics ensure", "Examples"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := runKgctl(t, c.args...)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v\n%s", err, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestValidateReportsFileLineCol(t *testing.T) {
	dir := t.TempDir()
	src, _ := os.ReadFile("../../jobspecs/log-normalizer.nomad.hcl")
	os.WriteFile(filepath.Join(dir, "log-normalizer.nomad.hcl"), append(src, []byte("\njob \"x\" {\n")...), 0o644)
	_, err := runKgctl(t, "validate", "--jobspecs-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "log-normalizer.nomad.hcl:") {
		t.Fatalf("err = %v, want file:line:col", err)
	}
}

func TestClientsTable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/clients" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"ready":true,"clients":[
		 {"id":"af-9","phase":"active","cluster_name":"prod","heartbeat_age_seconds":12.4,
		  "jobs":[{"id":"kg-event-normalizer-af-9","template":"event-normalizer","status":"running"}]},
		 {"id":"old-1","phase":"stale","heartbeat_age_seconds":null,"jobs":[]}]}`))
	}))
	defer srv.Close()
	out, err := runKgctl(t, "clients", "--addr", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"CLIENT", "af-9", "active", "prod", "12s ago", "kg-event-normalizer-af-9(running)", "old-1", "stale", "never"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q:\n%s", w, out)
		}
	}
	if _, err := runKgctl(t, "clients", "--addr", "a b"); err == nil || !strings.Contains(err.Error(), "is not an address") {
		t.Fatalf("malformed --addr: err = %v", err)
	}
	_, err = runKgctl(t, "clients", "--addr", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "is kg-control-plane running?") {
		t.Fatalf("unreachable control plane: err = %v", err)
	}
}

// TestPublishCommands publishes through the real broker and reads the records back.
func TestPublishCommands(t *testing.T) {
	brokers := testinfra.KafkaBrokers(t)
	addr := strings.Join(brokers, ",")
	if out, err := runKgctl(t, "topics", "ensure", "--kafka-brokers", addr); err != nil {
		t.Fatalf("topics ensure: %v\n%s", err, out)
	}
	out, err := runKgctl(t, "topics", "ensure", "--kafka-brokers", addr)
	if err != nil || strings.Contains(out, "created") {
		t.Fatalf("second topics ensure must only report existing topics: %v\n%s", err, out)
	}
	id := fmt.Sprintf("kgctl-%d", time.Now().UnixNano()%1_000_000_000)
	for _, args := range [][]string{
		{"register", "--client", id, "--cluster-name", "demo", "--meta", "region=eu,tier=gold"},
		{"heartbeat", "--client", id, "--every", "1ms", "--count", "2"},
		{"deregister", "--client", id},
	} {
		if out, err := runKgctl(t, append(args, "--kafka-brokers", addr)...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	if _, err := runKgctl(t, "register", "--client", "Bad_Id", "--kafka-brokers", addr); err == nil {
		t.Fatal("an invalid client id was published")
	}

	sc := kafkaio.NewSaramaConfig(kafkaio.Security{}, "kg-test")
	c, err := sarama.NewConsumer(brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// read collects the values of id's records on its partition until want
	// have arrived (bounded: the test fails rather than hangs).
	read := func(topic string, want int) [][]byte {
		parts, err := c.Partitions(topic)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := c.ConsumePartition(topic, kafkaio.PartitionFor(id, int32(len(parts))), sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		var vals [][]byte
		deadline := time.After(30 * time.Second)
		for len(vals) < want {
			select {
			case m := <-pc.Messages():
				if string(m.Key) == id {
					vals = append(vals, m.Value)
				}
			case <-deadline:
				t.Fatalf("%s: %d of %d records of %s on its partition after 30s", topic, len(vals), want, id)
			}
		}
		return vals
	}
	reg := read(kafkaio.TopicRegistry, 2)
	if len(reg) != 2 || !bytes.Contains(reg[0], []byte(`"region":"eu"`)) || reg[1] != nil {
		t.Fatalf("registry records = %q, want a registration then a tombstone", reg)
	}
	if hb := read(kafkaio.TopicHeartbeat, 2); len(hb) != 2 {
		t.Fatalf("heartbeats = %d, want 2", len(hb))
	}
}

// kgctl's Kafka connections come from the shared base config: the
// KAFKA_SASL_* settings the job templates hand to the tasks are read (a wrong
// one is refused by name) and applied (a PLAINTEXT listener turns a SASL
// client away). Every binary used to ignore them.
func TestKafkaSecuritySettingsAreApplied(t *testing.T) {
	addr := strings.Join(testinfra.KafkaBrokers(t), ",")
	t.Setenv("KAFKA_SASL_MECHANISM", "GSSAPI")
	if _, err := runKgctl(t, "heartbeat", "--client", "sec-1", "--kafka-brokers", addr); err == nil || !strings.Contains(err.Error(), "KAFKA_SASL_MECHANISM") {
		t.Fatalf("an unsupported KAFKA_SASL_MECHANISM: err = %v, want one that names the setting", err)
	}
	t.Setenv("KAFKA_SASL_MECHANISM", "PLAIN")
	t.Setenv("KAFKA_SASL_USERNAME", "kgplane")
	t.Setenv("KAFKA_SASL_PASSWORD", "kgplane-secret")
	if out, err := runKgctl(t, "heartbeat", "--client", "sec-1", "--kafka-brokers", addr); err == nil {
		t.Fatalf("a heartbeat went out over SASL to a PLAINTEXT listener: the settings are not applied\n%s", out)
	}
}
