package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/kgrca/kgplane/agent/lifecycle"
	"github.com/kgrca/kgplane/agent/publish"
	"github.com/kgrca/kgplane/clientid"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

func newFlags(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kg-agent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "kg-agent %s: %s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// connFlags are the flags of every command that talks to Kafka.
type connFlags struct {
	client         string
	brokers        string
	registryTopic  string
	heartbeatTopic string
	eventsTopic    string
	logsTopic      string
	topologyTopic  string
	logLevel       string
}

func (c *connFlags) add(fs *flag.FlagSet) {
	fs.StringVar(&c.client, "client", "", "client id (required): 3-63 of a-z 0-9 -, starting with a letter, e.g. af-9")
	fs.StringVar(&c.brokers, "kafka-brokers", envOr("KAFKA_BROKERS", kafkaio.DefaultBrokers(os.Getenv)), "Kafka brokers, comma separated (KAFKA_BROKERS)")
	fs.StringVar(&c.registryTopic, "registry-topic", envOr("KG_REGISTRY_TOPIC", kafkaio.TopicRegistry), "registrations topic (KG_REGISTRY_TOPIC)")
	fs.StringVar(&c.heartbeatTopic, "heartbeat-topic", envOr("KG_HEARTBEAT_TOPIC", kafkaio.TopicHeartbeat), "heartbeats topic (KG_HEARTBEAT_TOPIC)")
	fs.StringVar(&c.eventsTopic, "events-topic", envOr("KG_EVENTS_TOPIC", kafkaio.TopicRawEvents), "raw events topic (KG_EVENTS_TOPIC)")
	fs.StringVar(&c.logsTopic, "logs-topic", envOr("KG_LOGS_TOPIC", kafkaio.TopicRawLogs), "raw logs topic (KG_LOGS_TOPIC)")
	fs.StringVar(&c.topologyTopic, "topology-topic", envOr("KG_TOPOLOGY_TOPIC", kafkaio.TopicTopology), "topology topic (KG_TOPOLOGY_TOPIC)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
}

func (c *connFlags) checkClient() error {
	if c.client == "" {
		return errors.New("--client is required (the client id the records are published for, e.g. af-9)")
	}
	return clientid.Validate(c.client)
}

func (c *connFlags) topics() publish.Topics {
	return publish.Topics{Events: c.eventsTopic, Logs: c.logsTopic, Topology: c.topologyTopic,
		Registry: c.registryTopic, Heartbeat: c.heartbeatTopic}
}

func (c *connFlags) logger(stderr io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})), nil
}

// presenceFlags are the flags of the commands that act as a client: they
// register, heartbeat while they run, and may deregister when they stop.
type presenceFlags struct {
	register     bool
	clusterName  string
	k8sVersion   string
	meta         string
	every        time.Duration
	deregister   bool
	stay         bool
	stayHelpText string
}

func (p *presenceFlags) add(fs *flag.FlagSet, stayHelp string) {
	fs.BoolVar(&p.register, "register", true, "register the client on the registry topic first and heartbeat while running (false: only publish records, e.g. into a client registered elsewhere)")
	fs.StringVar(&p.clusterName, "cluster-name", "", "cluster name in the registration (default: the client id)")
	fs.StringVar(&p.k8sVersion, "k8s-version", "", "Kubernetes version in the registration")
	fs.StringVar(&p.meta, "meta", "", "extra registration metadata, k=v pairs separated by commas")
	fs.DurationVar(&p.every, "heartbeat-every", lifecycle.DefaultInterval, "heartbeat interval (the control plane marks a client stale after 2 min without one)")
	fs.BoolVar(&p.deregister, "deregister-on-exit", false, "publish the client's tombstone when stopping: its jobs are purged at once instead of after the stale threshold")
	if stayHelp != "" {
		fs.BoolVar(&p.stay, "stay", false, stayHelp)
	}
}

func (p *presenceFlags) metadata(extra map[string]string) (map[string]string, error) {
	md, err := lifecycle.ParseMetadata(p.meta)
	if err != nil {
		return nil, fmt.Errorf("--meta: %w", err)
	}
	for k, v := range extra {
		if _, set := md[k]; !set {
			md[k] = v
		}
	}
	return md, nil
}

// session is one client's presence while a command publishes: the
// publisher, the heartbeats, the deregistration on the way out.
type session struct {
	conn     *connFlags
	pres     *presenceFlags
	log      *slog.Logger
	pub      *publish.Publisher
	stopBeat context.CancelFunc
	beatDone chan struct{}
}

// startSession connects, checks the topics, registers and starts the
// heartbeats. patient: wait for Kafka (the long-running agent) instead of
// failing at once (a command at a terminal).
func startSession(ctx context.Context, conn *connFlags, pres *presenceFlags, agent string, extraMeta map[string]string, log *slog.Logger, patient bool) (*session, error) {
	md, err := pres.metadata(extraMeta)
	if err != nil {
		return nil, err
	}
	md["agent"] = agent
	cfg := publish.Config{Brokers: kafkaio.ParseBrokers(conn.brokers), Client: conn.client, Topics: conn.topics(), Logger: log}
	var pub *publish.Publisher
	if patient {
		pub, err = publish.Connect(ctx, cfg, log)
	} else {
		pub, err = publish.New(cfg)
	}
	if err != nil {
		return nil, err
	}
	t := cfg.Topics
	need := []string{t.Events, t.Logs, t.Topology}
	if pres.register {
		need = append(need, t.Registry, t.Heartbeat)
	}
	if err := publish.CheckTopics(cfg.Brokers, need...); err != nil {
		pub.Close()
		return nil, err
	}
	s := &session{conn: conn, pres: pres, log: log, pub: pub}
	if !pres.register {
		return s, nil
	}
	name := pres.clusterName
	if name == "" {
		name = conn.client
	}
	reg := lifecycle.Registration{ClientID: conn.client, ClusterName: name, K8sVersion: pres.k8sVersion,
		RegisteredAt: time.Now(), Metadata: md}
	if patient {
		err = lifecycle.RegisterPatiently(ctx, pub, t.Registry, reg, log)
	} else if err = lifecycle.Register(ctx, pub, t.Registry, reg); err == nil {
		log.Info("registered", "client", conn.client, "topic", t.Registry, "cluster", name)
	}
	if err != nil {
		pub.Close()
		return nil, err
	}
	beatCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopBeat, s.beatDone = stop, make(chan struct{})
	hb := &lifecycle.Heartbeater{Sender: pub, Topic: t.Heartbeat, Client: conn.client, Agent: agent, Every: pres.every, Log: log}
	go func() {
		defer close(s.beatDone)
		hb.Run(beatCtx)
	}()
	return s, nil
}

// wait keeps the heartbeats going until ctx ends, when --stay asks for it.
func (s *session) wait(ctx context.Context) {
	if !s.pres.stay {
		return
	}
	if !s.pres.register {
		s.log.Info("--stay without --register has no heartbeats to keep; stopping")
		return
	}
	s.log.Info("done publishing; heartbeating until interrupted (Ctrl-C)", "client", s.conn.client)
	<-ctx.Done()
}

// close stops the heartbeats, deregisters when asked and disconnects.
func (s *session) close() error {
	var err error
	if s.stopBeat != nil {
		s.stopBeat()
		<-s.beatDone
	}
	if s.pres.register && s.pres.deregister {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = lifecycle.Deregister(ctx, s.pub, s.conn.registryTopic, s.conn.client)
		cancel()
		if err == nil {
			s.log.Info("deregistered", "client", s.conn.client, "topic", s.conn.registryTopic)
		}
	}
	s.pub.Close()
	return err
}

func cmdDeregister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("deregister", "publish the client's tombstone on the registry topic: the control plane purges its jobs at once (its graph and committed offsets stay)", stderr)
	var conn connFlags
	conn.add(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := conn.checkClient(); err != nil {
		return err
	}
	pub, err := publish.New(publish.Config{Brokers: kafkaio.ParseBrokers(conn.brokers), Client: conn.client, Topics: conn.topics()})
	if err != nil {
		return err
	}
	defer pub.Close()
	if err := lifecycle.Deregister(ctx, pub, conn.registryTopic, conn.client); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deregistered %s (tombstone on %s)\n", conn.client, conn.registryTopic)
	return nil
}

// sortedKeys is for stable listings.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
