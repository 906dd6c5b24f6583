// Package lifecycle is a client's presence on the control plane: its
// registration on cluster.registry, its heartbeats on cluster.heartbeat and
// its deregistration (a tombstone), in the contract's JSON (SPEC.md, "Kafka
// topics"). The records are keyed by the bare client id; the caller's Sender
// puts them on the client's partition.
package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kgrca/kgplane/clientid"
)

// Sender sends one record keyed by the client id (a nil value is a tombstone).
type Sender interface {
	Send(ctx context.Context, topic string, value []byte) error
}

// Registration is the value of a cluster.registry record.
type Registration struct {
	ClientID     string            `json:"client_id"`
	ClusterName  string            `json:"cluster_name"`
	K8sVersion   string            `json:"k8s_version"`
	RegisteredAt time.Time         `json:"registered_at"`
	Metadata     map[string]string `json:"metadata"`
}

// Heartbeat is the value of a cluster.heartbeat record.
type Heartbeat struct {
	ClientID  string    `json:"client_id"`
	Timestamp time.Time `json:"timestamp"`
	// Agent names what sends it ("kg-agent run", "kg-agent replay", ...), for
	// an operator reading the topic.
	Agent string `json:"agent,omitempty"`
}

// Register publishes reg to topic.
func Register(ctx context.Context, s Sender, topic string, reg Registration) error {
	if err := clientid.Validate(reg.ClientID); err != nil {
		return err
	}
	if reg.Metadata == nil {
		reg.Metadata = map[string]string{}
	}
	reg.RegisteredAt = reg.RegisteredAt.UTC()
	v, err := json.Marshal(reg)
	if err != nil {
		return fmt.Errorf("encoding the registration: %w", err)
	}
	if err := s.Send(ctx, topic, v); err != nil {
		return fmt.Errorf("registering %s: %w", reg.ClientID, err)
	}
	return nil
}

// Deregister publishes the client's tombstone to topic: the control plane
// purges its jobs at once.
func Deregister(ctx context.Context, s Sender, topic, client string) error {
	if err := clientid.Validate(client); err != nil {
		return err
	}
	if err := s.Send(ctx, topic, nil); err != nil {
		return fmt.Errorf("deregistering %s: %w", client, err)
	}
	return nil
}

// RegisterPatiently is Register retried with backoff (1 s doubling to 30 s)
// until it succeeds or ctx ends, logging each failure: an agent whose Kafka
// is down at start waits for it.
func RegisterPatiently(ctx context.Context, s Sender, topic string, reg Registration, log *slog.Logger) error {
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		err := Register(ctx, s, topic, reg)
		if err == nil {
			log.Info("registered", "client", reg.ClientID, "topic", topic, "cluster", reg.ClusterName, "k8s_version", reg.K8sVersion)
			return nil
		}
		if clientid.Validate(reg.ClientID) != nil || ctx.Err() != nil {
			return err
		}
		log.Warn("registration failed; retrying", "client", reg.ClientID, "err", err, "attempt", attempt, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("registering %s: %w (last error: %v)", reg.ClientID, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// Heartbeater sends a client's heartbeats.
type Heartbeater struct {
	Sender Sender
	Topic  string
	Client string
	Agent  string
	// Every is the interval between heartbeats (the contract's 30 s when 0).
	Every time.Duration
	// Timeout bounds one send (Every when 0): a send stuck in a Kafka outage
	// must not hold up the next attempt forever.
	Timeout time.Duration
	Log     *slog.Logger
	// Now is the clock (time.Now when nil); tests set it.
	Now func() time.Time
	// Sent, when set, is called after each successful heartbeat (tests, metrics).
	Sent func(Heartbeat)
}

// DefaultInterval is the contract's heartbeat interval.
const DefaultInterval = 30 * time.Second

// Run sends a heartbeat at once and then every Every until ctx ends. A failed
// send is logged and retried sooner (1 s doubling up to Every), so the client
// is live again as soon as Kafka is back; Run never gives up on its own and
// returns only when ctx is done.
func (h *Heartbeater) Run(ctx context.Context) {
	every := h.Every
	if every <= 0 {
		every = DefaultInterval
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = every
	}
	now := h.Now
	if now == nil {
		now = time.Now
	}
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	failures := 0
	retry := time.Second
	for {
		hb := Heartbeat{ClientID: h.Client, Timestamp: now().UTC(), Agent: h.Agent}
		err := h.send(ctx, hb, timeout)
		wait := every
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			wait = min(retry, every)
			retry = min(2*retry, every)
			log.Warn("heartbeat failed; the control plane marks the client stale after its threshold (2 min by default) without one",
				"client", h.Client, "err", err, "consecutive_failures", failures, "retry_in", wait)
		default:
			if failures > 0 {
				log.Info("heartbeats delivered again", "client", h.Client, "after_failures", failures)
			}
			failures, retry = 0, time.Second
			log.Debug("heartbeat", "client", h.Client, "timestamp", hb.Timestamp)
			if h.Sent != nil {
				h.Sent(hb)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (h *Heartbeater) send(ctx context.Context, hb Heartbeat, timeout time.Duration) error {
	v, err := json.Marshal(hb)
	if err != nil {
		return fmt.Errorf("encoding the heartbeat: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return h.Sender.Send(ctx, h.Topic, v)
}

// ParseMetadata reads registration metadata written as "k=v,k=v" (the
// --meta flag). Spaces around items are dropped; a value may contain '='.
func ParseMetadata(s string) (map[string]string, error) {
	md := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("metadata %q: want k=v pairs separated by commas", kv)
		}
		if !utf8.ValidString(kv) {
			return nil, fmt.Errorf("metadata %q: not valid UTF-8", kv)
		}
		md[k] = strings.TrimSpace(v)
	}
	return md, nil
}
