package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/clientid"
	"github.com/kgrca/kgplane/scheduler/election"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// saramaConfig is kgctl's producer and admin config on the shared base
// (KAFKA_SASL_*, KAFKA_TLS* from the environment).
func saramaConfig() (*sarama.Config, error) {
	sec, err := kafkaio.SecurityFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	sc := kafkaio.NewSaramaConfig(sec, "kgctl")
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Idempotent = true
	sc.Net.MaxOpenRequests = 1
	// Records of one client always go to the partition the contract assigns it.
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	return sc, nil
}

// publisher sends records keyed by client id to their client's partition.
type publisher struct {
	client   sarama.Client
	producer sarama.SyncProducer
}

func newPublisher(brokers string) (*publisher, error) {
	sc, err := saramaConfig()
	if err != nil {
		return nil, err
	}
	c, err := sarama.NewClient(kafkaio.ParseBrokers(brokers), sc)
	if err != nil {
		return nil, fmt.Errorf("connecting to Kafka at %s (start it with scripts/kafka.sh start, or set KAFKA_BROKERS): %w", brokers, err)
	}
	p, err := sarama.NewSyncProducerFromClient(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("creating producer: %w", err)
	}
	return &publisher{client: c, producer: p}, nil
}

func (p *publisher) Close() { p.producer.Close(); p.client.Close() }

func (p *publisher) send(topic, client string, value []byte) (int32, int64, error) {
	parts, err := p.client.Partitions(topic)
	if err != nil {
		return 0, 0, fmt.Errorf("reading partitions of %s (run 'kgctl topics ensure' first?): %w", topic, err)
	}
	msg := &sarama.ProducerMessage{
		Topic:     topic,
		Key:       sarama.StringEncoder(client),
		Partition: kafkaio.PartitionFor(client, int32(len(parts))),
		Timestamp: time.Now(),
	}
	if value != nil {
		msg.Value = sarama.ByteEncoder(value)
	}
	part, off, err := p.producer.SendMessage(msg)
	if err != nil {
		return 0, 0, fmt.Errorf("publishing to %s: %w", topic, err)
	}
	return part, off, nil
}

func registryTopicFlag(fs interface {
	String(string, string, string) *string
}) *string {
	return fs.String("registry-topic", envOr("KG_REGISTRY_TOPIC", kafkaio.TopicRegistry), "registrations topic (KG_REGISTRY_TOPIC)")
}

func heartbeatTopicFlag(fs interface {
	String(string, string, string) *string
}) *string {
	return fs.String("heartbeat-topic", envOr("KG_HEARTBEAT_TOPIC", kafkaio.TopicHeartbeat), "heartbeats topic (KG_HEARTBEAT_TOPIC)")
}

func clientFlag(fs interface {
	String(string, string, string) *string
}) *string {
	return fs.String("client", "", "client id (required), e.g. af-9")
}

func brokersFlag(fs interface {
	String(string, string, string) *string
}) *string {
	return fs.String("kafka-brokers", envOr("KAFKA_BROKERS", kafkaio.DefaultBrokers(os.Getenv)), "Kafka brokers (KAFKA_BROKERS)")
}

// parseAndConnect parses a publish command's flags, checks --client and
// connects to Kafka: what register, heartbeat and deregister all start with.
// client and brokers are read after parsing, so they are passed as pointers.
func parseAndConnect(fs *flag.FlagSet, args []string, client, brokers *string) (*publisher, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := requireClient(*client); err != nil {
		return nil, err
	}
	return newPublisher(*brokers)
}

func requireClient(id string) error {
	if id == "" {
		return fmt.Errorf("--client is required")
	}
	return clientid.Validate(id)
}

func cmdRegister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("register", "publish a client registration to cluster.registry", stderr)
	client := clientFlag(fs)
	cluster := fs.String("cluster-name", "", "cluster name shown in 'kgctl clients'")
	k8s := fs.String("k8s-version", "", "Kubernetes version of the cluster")
	meta := fs.String("meta", "", "extra metadata, k=v pairs separated by commas")
	brokers := brokersFlag(fs)
	topic := registryTopicFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireClient(*client); err != nil {
		return err
	}
	md := map[string]string{}
	for _, kv := range strings.Split(*meta, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("--meta %q: want k=v pairs", kv)
		}
		md[k] = v
	}
	val, _ := json.Marshal(map[string]any{
		"client_id": *client, "cluster_name": *cluster, "k8s_version": *k8s,
		"registered_at": time.Now().UTC().Format(time.RFC3339), "metadata": md,
	})
	p, err := newPublisher(*brokers)
	if err != nil {
		return err
	}
	defer p.Close()
	part, off, err := p.send(*topic, *client, val)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "registered %s (%s partition %d offset %d)\n", *client, *topic, part, off)
	return nil
}

func cmdDeregister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("deregister", "publish a tombstone to cluster.registry: the client's jobs are purged at once", stderr)
	client := clientFlag(fs)
	brokers := brokersFlag(fs)
	topic := registryTopicFlag(fs)
	p, err := parseAndConnect(fs, args, client, brokers)
	if err != nil {
		return err
	}
	defer p.Close()
	part, off, err := p.send(*topic, *client, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deregistered %s (tombstone at %s partition %d offset %d)\n", *client, *topic, part, off)
	return nil
}

func cmdHeartbeat(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("heartbeat", "publish heartbeats to cluster.heartbeat", stderr)
	client := clientFlag(fs)
	every := fs.Duration("every", 0, "keep sending at this interval until interrupted (0 = send one); a failed send is reported and tried again at the next tick")
	count := fs.Int("count", 0, "with --every: stop after this many (0 = until interrupted)")
	brokers := brokersFlag(fs)
	topic := heartbeatTopicFlag(fs)
	p, err := parseAndConnect(fs, args, client, brokers)
	if err != nil {
		return err
	}
	defer p.Close()
	for n := 1; ; n++ {
		now := time.Now().UTC()
		val, _ := json.Marshal(map[string]string{"client_id": *client, "timestamp": now.Format(time.RFC3339Nano)})
		if _, _, err := p.send(*topic, *client, val); err != nil {
			if *every <= 0 {
				return err
			}
			// A heartbeat sender rides out a Kafka outage: the next beat may get through.
			fmt.Fprintf(stderr, "heartbeat %d from %s failed, will try again in %s: %v\n", n, *client, *every, err)
		} else {
			fmt.Fprintf(stdout, "heartbeat %d from %s at %s\n", n, *client, now.Format(time.RFC3339))
		}
		if *every <= 0 || (*count > 0 && n >= *count) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
	}
}

func cmdTopicsEnsure(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("topics ensure", "create the contract's Kafka topics and the control planes' election topic that are missing; existing ones keep their partitions and cleanup policy, only message.timestamp.type is corrected", stderr)
	parts := fs.Int("partitions", atoi(envOr("KG_DATA_PARTITIONS", "12")), "partitions of the per-client data topics (KG_DATA_PARTITIONS)")
	brokers := brokersFlag(fs)
	registry := registryTopicFlag(fs)
	heartbeat := heartbeatTopicFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *parts <= 0 {
		return fmt.Errorf("--partitions must be positive")
	}
	sc, err := saramaConfig()
	if err != nil {
		return err
	}
	admin, err := sarama.NewClusterAdmin(kafkaio.ParseBrokers(*brokers), sc)
	if err != nil {
		return fmt.Errorf("connecting to Kafka at %s: %w", *brokers, err)
	}
	defer admin.Close()
	specs := kafkaio.Named(kafkaio.Topics(int32(*parts)), map[string]string{kafkaio.TopicRegistry: *registry, kafkaio.TopicHeartbeat: *heartbeat})
	// The control planes' election topic too: a plane without the right to
	// create topics (KG_ENSURE_TOPICS=false) needs it made for it.
	specs = append(specs, election.TopicSpec())
	res, err := kafkaio.EnsureTopics(admin, specs)
	for _, r := range res {
		state := "exists "
		if r.Created {
			state = "created"
		}
		if len(r.Corrected) > 0 {
			state = "fixed  "
			r.Warning = strings.TrimPrefix(r.Warning+"; set "+strings.Join(r.Corrected, ", "), "; ")
		}
		fmt.Fprintf(stdout, "%s  %-20s %3d partitions", state, r.Topic, r.Partitions)
		if r.Warning != "" {
			fmt.Fprintf(stdout, "  WARNING: %s", r.Warning)
		}
		fmt.Fprintln(stdout)
	}
	return err
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0 // refused by the caller as "must be positive"
	}
	return n
}
