// Package kafkaio is the Kafka plumbing shared by the workers, the control plane and
// kgctl: topic names and configs, the key codec, the client-affine partitioner, the
// per-client consumer, the batching producer, the dead-letter writer and the
// stray placement and forwarding every reader of a data topic shares.
package kafkaio

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// KafkaVersion is the protocol version sarama speaks. Kafka 4 removed the protocol
// versions older than 2.1, so sarama must not fall back to its old default. A
// function, not a variable: a shared sarama.KafkaVersion value could be changed
// by any importer.
func KafkaVersion() sarama.KafkaVersion { return sarama.V3_9_0_0 }

// Topic names of the contract (../shared/SPEC.md, "Kafka topics").
const (
	TopicRegistry         = "cluster.registry"
	TopicHeartbeat        = "cluster.heartbeat"
	TopicRawEvents        = "raw.k8s.events"
	TopicRawLogs          = "raw.k8s.logs"
	TopicTopology         = "state.k8s.topology"
	TopicEventsNormalized = "events.normalized"
	TopicLogsNormalized   = "logs.normalized"
	TopicDLQRaw           = "dlq.raw"
	TopicDLQNormalized    = "dlq.normalized"
)

// TopicSpec is one topic as `kgctl topics ensure` and the control plane create it.
type TopicSpec struct {
	Name string
	// PerClient topics get the configurable data partition count P; the others
	// have the fixed Partitions below.
	PerClient  bool
	Partitions int32
	Config     map[string]string
}

func ptr(s string) *string { return &s }

const hour = "3600000"

// Topics lists every topic of the contract with its default config. Data topics
// carry dataPartitions partitions.
func Topics(dataPartitions int32) []TopicSpec {
	days := func(n int) string {
		return map[int]string{3: "259200000", 7: "604800000"}[n]
	}
	specs := []TopicSpec{
		{Name: TopicRegistry, Partitions: 1, Config: map[string]string{
			"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": hour}},
		// LogAppendTime: a heartbeat's timestamp is the broker's clock, not the
		// agent's, so a client whose clock runs behind is not stale forever.
		{Name: TopicHeartbeat, Partitions: 3, Config: map[string]string{
			"cleanup.policy": "delete", "retention.ms": hour, "segment.ms": "600000", "message.timestamp.type": "LogAppendTime"}},
		{Name: TopicRawEvents, PerClient: true, Config: map[string]string{"cleanup.policy": "delete", "retention.ms": days(7)}},
		{Name: TopicRawLogs, PerClient: true, Config: map[string]string{"cleanup.policy": "delete", "retention.ms": days(3)}},
		{Name: TopicTopology, PerClient: true, Config: map[string]string{"cleanup.policy": "compact"}},
		{Name: TopicEventsNormalized, PerClient: true, Config: map[string]string{"cleanup.policy": "delete", "retention.ms": days(7)}},
		{Name: TopicLogsNormalized, PerClient: true, Config: map[string]string{"cleanup.policy": "delete", "retention.ms": days(3)}},
		{Name: TopicDLQRaw, Partitions: 1, Config: map[string]string{"cleanup.policy": "delete", "retention.ms": days(7)}},
		{Name: TopicDLQNormalized, Partitions: 1, Config: map[string]string{"cleanup.policy": "delete", "retention.ms": days(7)}},
	}
	for i := range specs {
		if specs[i].PerClient {
			specs[i].Partitions = dataPartitions
		}
	}
	return specs
}

// ConfigEntries converts a TopicSpec's config for sarama's admin API.
func (s TopicSpec) ConfigEntries() map[string]*string {
	out := make(map[string]*string, len(s.Config))
	for k, v := range s.Config {
		out[k] = ptr(v)
	}
	return out
}

// Named returns specs with topics renamed: names maps a contract topic name
// (e.g. TopicRegistry) to the one in use (KG_REGISTRY_TOPIC). A control plane
// with its own registry and heartbeat topics creates those, not the defaults.
func Named(specs []TopicSpec, names map[string]string) []TopicSpec {
	out := make([]TopicSpec, len(specs))
	for i, s := range specs {
		if n, ok := names[s.Name]; ok && n != "" {
			s.Name = n
		}
		out[i] = s
	}
	return out
}

// correctable lists the topic settings EnsureTopics sets on an existing topic
// that differs: changing them affects only records written from then on.
var correctable = []string{"message.timestamp.type"}

// EnsureResult says what EnsureTopics did with one topic.
type EnsureResult struct {
	Topic   string
	Created bool
	// Corrected lists settings changed on an existing topic (e.g.
	// message.timestamp.type=LogAppendTime on the heartbeat topic).
	Corrected  []string
	Partitions int32
	// Warning is set when an existing topic differs from the spec in a way that
	// is not fixed automatically (a partition count change remaps clients to
	// partitions, so it is an operator's decision).
	Warning string
}

// EnsureTopics creates the topics of specs (Topics, maybe Named) that are
// missing, idempotently, and returns once they can be used (every partition
// has a leader). Existing topics keep their partitions and cleanup policy
// (differences are reported as warnings); only settings that are safe to
// change in place (message.timestamp.type) are corrected.
func EnsureTopics(admin sarama.ClusterAdmin, specs []TopicSpec) ([]EnsureResult, error) {
	existing, err := admin.ListTopics()
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	var out []EnsureResult
	var created []string
	for _, s := range specs {
		if d, ok := existing[s.Name]; ok {
			r := EnsureResult{Topic: s.Name, Partitions: d.NumPartitions}
			if d.NumPartitions != s.Partitions {
				r.Warning = fmt.Sprintf("has %d partitions, the setting asks for %d; left as is (changing it moves clients to other partitions)", d.NumPartitions, s.Partitions)
			}
			if want, have := s.Config["cleanup.policy"], d.ConfigEntries["cleanup.policy"]; have != nil && *have != want {
				r.Warning = strings.TrimPrefix(r.Warning+fmt.Sprintf("; cleanup.policy is %s, the contract says %s", *have, want), "; ")
			}
			fix := map[string]sarama.IncrementalAlterConfigsEntry{}
			for _, k := range correctable {
				want, ok := s.Config[k]
				if !ok {
					continue
				}
				if have := d.ConfigEntries[k]; have == nil || *have != want {
					fix[k] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: ptr(want)}
					r.Corrected = append(r.Corrected, k+"="+want)
				}
			}
			if len(fix) > 0 {
				if err := admin.IncrementalAlterConfig(sarama.TopicResource, s.Name, fix, false); err != nil {
					return out, fmt.Errorf("setting %v on topic %s: %w", r.Corrected, s.Name, err)
				}
			}
			out = append(out, r)
			continue
		}
		err := admin.CreateTopic(s.Name, &sarama.TopicDetail{
			NumPartitions: s.Partitions, ReplicationFactor: -1, ConfigEntries: s.ConfigEntries(),
		}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return out, fmt.Errorf("creating topic %s: %w", s.Name, err)
		}
		out = append(out, EnsureResult{Topic: s.Name, Created: err == nil, Partitions: s.Partitions})
		if err == nil {
			created = append(created, s.Name)
		}
	}
	if err := waitForLeaders(admin, created, leaderWait); err != nil {
		return out, err
	}
	return out, nil
}

// leaderWait bounds how long EnsureTopics waits for new topics to be usable.
const leaderWait = 30 * time.Second

// waitForLeaders returns once every partition of the topics has a leader in
// the brokers' metadata. A create returns when the controller has recorded
// the topic; the brokers learn it a moment later, and a producer that starts
// in between fails with "unknown topic or partition" (kgctl topics ensure
// followed by kgctl register, a plane's ingest right after its topic check).
func waitForLeaders(admin sarama.ClusterAdmin, topics []string, within time.Duration) error {
	if len(topics) == 0 {
		return nil
	}
	deadline := time.Now().Add(within)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		md, err := admin.DescribeTopics(topics)
		if err == nil && allLed(md, len(topics)) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topics %v created, but not every partition has a leader after %s (is the broker overloaded?): %v", topics, within, err)
		}
		<-tick.C
	}
}

func allLed(md []*sarama.TopicMetadata, want int) bool {
	if len(md) != want {
		return false
	}
	for _, t := range md {
		if t.Err != sarama.ErrNoError || len(t.Partitions) == 0 {
			return false
		}
		for _, p := range t.Partitions {
			if p.Err != sarama.ErrNoError || p.Leader < 0 {
				return false
			}
		}
	}
	return true
}

// ParseBrokers splits a KAFKA_BROKERS setting ("host:port,host:port"), dropping
// spaces and empty items, so every binary reads the setting the same way.
func ParseBrokers(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// DefaultBrokers is the broker list a binary uses when KAFKA_BROKERS is unset:
// the local Kafka of scripts/kafka.sh, on KAFKA_PORT when that is set, so a
// moved local Kafka is found by every binary, not only by make.
func DefaultBrokers(getenv func(string) string) string {
	if p := strings.TrimSpace(getenv("KAFKA_PORT")); p != "" {
		return "127.0.0.1:" + p
	}
	return "127.0.0.1:9092"
}
