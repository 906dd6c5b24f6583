package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kgrca/kgplane/agent/publish"
	"github.com/kgrca/kgplane/agent/watch"
	"github.com/kgrca/kgplane/internal/testutil"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/kafkaio/kafkatest"
)

// kg-agent run's data path against the real Kafka: a watched (fake)
// cluster's topology and events reach the client's partition with their
// full keys.
func TestRunPublishesAWatchedClusterToTheClientPartition(t *testing.T) {
	brokers, topics, _ := testTopics(t)
	client := "run-" + strings.TrimPrefix(kafkatest.Suffix(), ".")
	pub, err := publish.New(publish.Config{Brokers: brokers, Client: client, Topics: publish.Topics{
		Events: topics["events"], Logs: topics["logs"], Topology: topics["topology"], Registry: topics["registry"], Heartbeat: topics["heartbeat"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	cs := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", UID: "n1"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cart-1", Namespace: "shop", UID: "p1"}, Spec: corev1.PodSpec{NodeName: "node-a"}},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "cart-1.1", Namespace: "shop", UID: "e1", ResourceVersion: "3"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "cart-1", Namespace: "shop"}, Reason: "BackOff", Type: "Warning"},
	)
	w, err := watch.New(watch.Config{Client: cs, Sink: pub, CoreEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	stop := kafkatest.Run(t, w.Run)
	want := kafkaio.PartitionFor(client, 6)
	testutil.Eventually(t, 60*time.Second, "the topology and the event in Kafka", func() bool {
		return len(kafkatest.ReadAll(t, brokers, topics["topology"])) == 2 && len(kafkatest.ReadAll(t, brokers, topics["events"])) == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, topic := range []string{topics["topology"], topics["events"]} {
		for _, m := range kafkatest.ReadAll(t, brokers, topic) {
			if m.Partition != want {
				t.Errorf("%s on partition %d, want %d", m.Key, m.Partition, want)
			}
			keys[string(m.Key)] = true
		}
	}
	for _, k := range []string{client + "::topology::Node//node-a", client + "::topology::Pod/shop/cart-1", client + "::event::e1"} {
		if !keys[k] {
			t.Errorf("missing key %s (have %v)", k, keys)
		}
	}
}

func TestKubeConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	cfg := `apiVersion: v1
kind: Config
clusters:
- name: prod-eu
  cluster: {server: "https://10.0.0.1:6443"}
- name: staging
  cluster: {server: "https://10.0.0.2:6443"}
users:
- name: u
  user: {token: t}
contexts:
- name: prod
  context: {cluster: prod-eu, user: u}
- name: stage
  context: {cluster: staging, user: u}
current-context: prod
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	rc, name, err := kubeConfig(path, "")
	if err != nil || name != "prod-eu" || rc.Host != "https://10.0.0.1:6443" {
		t.Errorf("current context: %v %q %v", rc, name, err)
	}
	rc, name, err = kubeConfig(path, "stage")
	if err != nil || name != "staging" || rc.Host != "https://10.0.0.2:6443" {
		t.Errorf("--context stage: %v %q %v", rc, name, err)
	}
	if _, _, err := kubeConfig(filepath.Join(dir, "missing"), ""); err == nil || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Errorf("missing file: %v", err)
	}
}

func TestRunRefusesBadFlagsBeforeConnecting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "--client is required"},
		{[]string{"run", "--client", "Bad"}, "invalid client id"},
		{[]string{"run", "--client", "af-9", "--event-apis", "alerts"}, "--event-apis"},
		{[]string{"run", "--client", "af-9", "--kubeconfig", "/nonexistent/kubeconfig"}, "--kubeconfig"},
	} {
		if _, err := runAgent(ctx, t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
}
