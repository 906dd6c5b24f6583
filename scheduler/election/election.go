// Package election elects one leader among the control planes of one
// registry through Kafka group membership, so it works whatever backend the
// planes drive (Nomad, or the embedded one on a single machine).
//
// Every plane joins the consumer group kg-control-plane.<plane> on a
// one-partition topic; the member the group assigns that partition to leads.
// The term is the group's generation: it grows with every rebalance, and the
// coordinator fences members of older generations.
//
// Fencing follows Kubernetes' leader election: a leader acts only while it can
// prove its leadership. It proves it by a heartbeat to the group coordinator
// in its own generation every RenewInterval; a heartbeat that succeeded
// (sent at t) proves the coordinator cannot have handed the partition on
// before t + SessionTimeout (our session runs at least that long from its
// heartbeat, and a rebalance waits for members up to the rebalance timeout,
// which is longer). Held is true until t + RenewDeadline, shorter than the
// session, so a leader paused by SIGSTOP (or a GC, or a partition) that resumes
// after another has taken over finds its lease expired before it writes.
package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/scheduler"
	"github.com/kgrca/kgplane/workers/kafkaio"
)

// Topic is the one-partition topic every plane's election group consumes
// (nothing is ever written to it).
const Topic = "kgplane.election"

// TopicSpec is Topic as EnsureTopics creates it.
func TopicSpec() kafkaio.TopicSpec {
	return kafkaio.TopicSpec{Name: Topic, Partitions: 1, Config: map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000"}}
}

// validSelf is what a Kafka client id may contain (sarama refuses others).
var validSelf = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// GroupID is the election group of a plane.
func GroupID(plane string) string { return "kg-control-plane." + plane }

// Config configures an Elector.
type Config struct {
	Brokers  []string
	Security kafkaio.Security
	// Plane names the planes that elect among themselves (KG_PLANE).
	Plane string
	// Self names this instance (KG_INSTANCE: host and HTTP address by default),
	// as /readyz and the other planes show it.
	Self string
	// SessionTimeout: a leader not heard from for this long loses the
	// partition (default 6s; a takeover after a SIGKILL takes about this).
	SessionTimeout time.Duration
	// RenewDeadline: how long one successful proof keeps Held true (default
	// SessionTimeout × 2/3); must be shorter than SessionTimeout.
	RenewDeadline time.Duration
	// RenewInterval: how often the leader proves itself (default SessionTimeout/6).
	RenewInterval time.Duration
	Topic         string // default Topic
	Logger        *slog.Logger
}

// Elector implements scheduler.Leader.
type Elector struct {
	cfg   Config
	log   *slog.Logger
	terms chan scheduler.Term

	mu       sync.Mutex
	term     int64     // generation this instance leads in, 0 = not leading
	provenAt time.Time // start of the last successful proof (monotonic)
	leader   string    // who leads, as last seen
	members  int
	client   sarama.Client
}

// clientIDPrefix + Self is each plane's Kafka client id, which the group
// shows for each member: the others learn who leads from it.
const clientIDPrefix = "kg-control-plane-"

// New checks cfg; Run starts campaigning.
func New(cfg Config) (*Elector, error) {
	if len(cfg.Brokers) == 0 || cfg.Plane == "" || cfg.Self == "" {
		return nil, errors.New("election: brokers, plane and self are required")
	}
	if !validSelf.MatchString(cfg.Self) {
		return nil, fmt.Errorf("election: instance name %q: want letters, digits, '.', '_' and '-' only (KG_INSTANCE)", cfg.Self)
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 6 * time.Second
	}
	if cfg.RenewDeadline <= 0 {
		cfg.RenewDeadline = cfg.SessionTimeout * 2 / 3
	}
	if cfg.RenewDeadline >= cfg.SessionTimeout {
		return nil, fmt.Errorf("election: renew deadline %s must be shorter than the session timeout %s", cfg.RenewDeadline, cfg.SessionTimeout)
	}
	if cfg.RenewInterval <= 0 {
		cfg.RenewInterval = cfg.SessionTimeout / 6
	}
	if cfg.Topic == "" {
		cfg.Topic = Topic
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Elector{cfg: cfg, log: cfg.Logger.With("election", GroupID(cfg.Plane)), terms: make(chan scheduler.Term)}, nil
}

// Acquire implements scheduler.Leader: it returns when this instance is
// assigned the election partition.
func (e *Elector) Acquire(ctx context.Context) (scheduler.Term, error) {
	select {
	case <-ctx.Done():
		return scheduler.Term{}, ctx.Err()
	case t := <-e.terms:
		return t, nil
	}
}

// Held implements scheduler.Leader.
func (e *Elector) Held(term int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return term != 0 && e.term == term && time.Since(e.provenAt) < e.cfg.RenewDeadline
}

// Status implements scheduler.Leader.
func (e *Elector) Status() scheduler.LeaderStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := scheduler.LeaderStatus{Self: e.cfg.Self, Leader: e.leader, Members: e.members}
	if e.term != 0 && time.Since(e.provenAt) < e.cfg.RenewDeadline {
		st.Leading, st.Term, st.Leader = true, e.term, e.cfg.Self
	}
	return st
}

// Run campaigns until ctx is done: it joins the group, and whenever this
// instance is given the partition it hands a term to Acquire. It also looks
// up who leads every few seconds for Status.
func (e *Elector) Run(ctx context.Context) error {
	sc := kafkaio.NewSaramaConfig(e.cfg.Security, clientIDPrefix+e.cfg.Self)
	sc.Consumer.Group.Session.Timeout = e.cfg.SessionTimeout
	sc.Consumer.Group.Heartbeat.Interval = e.cfg.SessionTimeout / 6
	// Sticky: a plane that joins or leaves does not move the partition from a
	// leader that is still there.
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	// The rebalance timeout must not be shorter than the session: a paused
	// leader is dropped by its session first (see the package comment).
	sc.Consumer.Group.Rebalance.Timeout = max(2*e.cfg.SessionTimeout, 10*time.Second)
	sc.Consumer.Offsets.AutoCommit.Enable = false
	sc.Consumer.Return.Errors = true
	client, err := sarama.NewClient(e.cfg.Brokers, sc)
	if err != nil {
		return fmt.Errorf("election: connecting to Kafka at %v: %w", e.cfg.Brokers, err)
	}
	defer client.Close()
	e.mu.Lock()
	e.client = client
	e.mu.Unlock()
	group, err := sarama.NewConsumerGroupFromClient(GroupID(e.cfg.Plane), client)
	if err != nil {
		return fmt.Errorf("election: joining group %s: %w", GroupID(e.cfg.Plane), err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for err := range group.Errors() {
			e.log.Debug("election group error", "error", err)
		}
	})
	wg.Go(func() { e.watchLeader(ctx, client) })
	h := &handler{e: e, ctx: ctx}
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{e.cfg.Topic}, h); err != nil && ctx.Err() == nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				break
			}
			e.log.Warn("election: group session failed; rejoining", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	group.Close() // leaves the group: a standby takes over at once
	wg.Wait()
	return nil
}

type handler struct {
	e   *Elector
	ctx context.Context
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim runs while this instance holds the election partition: the term.
func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	e := h.e
	term := int64(sess.GenerationID())
	start := time.Now()
	if err := e.prove(sess); err != nil {
		e.log.Warn("election: assigned the partition but cannot prove it; not leading", "generation", term, "error", err)
		return nil
	}
	e.mu.Lock()
	e.term, e.provenAt, e.leader = term, start, e.cfg.Self
	e.mu.Unlock()
	termCtx, end := context.WithCancel(sess.Context())
	defer func() {
		end()
		e.mu.Lock()
		if e.term == term {
			e.term = 0
		}
		e.mu.Unlock()
	}()
	e.log.Info("elected leader", "term", term, "self", e.cfg.Self)
	select {
	case e.terms <- scheduler.Term{ID: term, Ctx: termCtx}:
	case <-sess.Context().Done():
		return nil
	case <-h.ctx.Done():
		return nil
	}
	tick := time.NewTicker(e.cfg.RenewInterval)
	defer tick.Stop()
	for {
		select {
		case <-sess.Context().Done():
			e.log.Info("leadership ends: the group is rebalancing or this plane stops", "term", term)
			return nil
		case _, ok := <-claim.Messages():
			if !ok {
				return nil
			}
		case <-tick.C:
			at := time.Now()
			if err := e.prove(sess); err != nil {
				e.log.Warn("leadership ends: the coordinator did not confirm this term", "term", term, "error", err)
				return nil
			}
			e.mu.Lock()
			if e.term == term {
				e.provenAt = at
			}
			e.mu.Unlock()
		}
	}
}

// prove sends a heartbeat in this session's generation to the coordinator: it
// succeeds only while the generation is current and this member in it.
func (e *Elector) prove(sess sarama.ConsumerGroupSession) error {
	e.mu.Lock()
	client := e.client
	e.mu.Unlock()
	b, err := client.Coordinator(GroupID(e.cfg.Plane))
	if err != nil {
		return err
	}
	req := &sarama.HeartbeatRequest{Version: 3, GroupId: GroupID(e.cfg.Plane), GenerationId: sess.GenerationID(), MemberId: sess.MemberID()}
	resp, err := b.Heartbeat(req)
	if err != nil {
		return err
	}
	if resp.Err != sarama.ErrNoError {
		return resp.Err
	}
	return nil
}

// watchLeader describes the group every few seconds to learn who holds the
// partition, for Status on standbys.
func (e *Elector) watchLeader(ctx context.Context, client sarama.Client) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		if leader, n, err := describe(client, GroupID(e.cfg.Plane)); err == nil {
			e.mu.Lock()
			if e.term == 0 {
				e.leader = leader
			}
			e.members = n
			e.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func describe(client sarama.Client, group string) (leader string, members int, err error) {
	b, err := client.Coordinator(group)
	if err != nil {
		return "", 0, err
	}
	resp, err := b.DescribeGroups(&sarama.DescribeGroupsRequest{Groups: []string{group}})
	if err != nil {
		return "", 0, err
	}
	for _, g := range resp.Groups {
		if g.GroupId != group {
			continue
		}
		for _, m := range g.Members {
			a, err := m.GetMemberAssignment()
			if err != nil || a == nil {
				continue
			}
			for _, ps := range a.Topics {
				if len(ps) > 0 {
					leader = strings.TrimPrefix(m.ClientId, clientIDPrefix)
				}
			}
		}
		return leader, len(g.Members), nil
	}
	return "", 0, nil
}
