package kafkaio

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
)

// Stray kinds: why a record is not processed where it was read (the "kind"
// label of the stray metrics, docs/workers.md "Strays").
const (
	// StrayWrongPartition: a valid client key on a partition other than
	// PartitionFor(client): forwarded to the client's partition.
	StrayWrongPartition = "wrong_partition"
	// StrayUnknownClient: a valid client key on its client's partition, read
	// by the control plane because no live client owns that partition: left
	// where it is for the client's worker to read when the client registers.
	StrayUnknownClient = "unknown_client"
	// StrayInvalidKey: no key, or a key that names no valid client:
	// dead-lettered with the reason.
	StrayInvalidKey = "invalid_key"
)

// What was done with a stray (the "action" label of the stray metrics).
const (
	ActionForwarded    = "forwarded"
	ActionDeadLettered = "dead_lettered"
	ActionLeft         = "left"
)

// Headers of a forwarded record, added to its original headers.
const (
	// HeaderForwardedFrom is where the record was first published:
	// "<topic>/<partition>@<offset>". A record that carries it is never
	// forwarded again.
	HeaderForwardedFrom = "kg-forwarded-from"
	// HeaderForwardedBy is who forwarded it, e.g. "event-normalizer af-9" or
	// "kg-control-plane".
	HeaderForwardedBy = "kg-forwarded-by"
)

// Placement is what the reader of one partition does with a record.
type Placement uint8

const (
	// PlaceOwn: the reader's client's record; process it.
	PlaceOwn Placement = iota
	// PlaceResident: another client's record on that client's own partition;
	// leave it to that client's worker.
	PlaceResident
	// PlaceForward: a client's record on a partition that is not the
	// client's; forward it there.
	PlaceForward
	// PlaceDeadLetter: a record no client can take (no valid client in its
	// key, or forwarded once already and still misplaced); dead-letter it.
	PlaceDeadLetter
)

// Verdict is the Placement of one record and what goes with it.
type Verdict struct {
	Placement Placement
	// Client is the key's client (PlaceResident, PlaceForward, and a
	// misplaced record that was forwarded before).
	Client string
	// Kind is the stray kind of PlaceForward and PlaceDeadLetter.
	Kind string
	// Reason says why a PlaceDeadLetter record is dead-lettered (kg-error).
	Reason error
}

// maxPlacerCache bounds the client → partition cache of a Placer; a reset
// costs one murmur2 per client seen afterwards.
const maxPlacerCache = 4096

// Placer places the records of one topic's partitions for one reader. self is
// the reader's client ("" for the control plane, which owns no records). Not
// safe for concurrent use: one per partition claim.
type Placer struct {
	self       string
	partitions int32
	cache      map[string]placed // client → its partition for partitions
}

type placed struct {
	client    string
	partition int32
}

// NewPlacer returns a Placer for the reader of client self ("" = none).
func NewPlacer(self string) *Placer {
	return &Placer{self: self, cache: make(map[string]placed)}
}

// Place decides what the reader of partition (of a topic with partitions
// partitions) does with a record of that key and those headers. The reader's
// own records cost one comparison; other records one map lookup, without
// allocating, once their client has been seen.
func (p *Placer) Place(key []byte, headers []*sarama.RecordHeader, partition, partitions int32) Verdict {
	if p.self != "" && IsClientKey(key, p.self) {
		return Verdict{Placement: PlaceOwn}
	}
	if partitions != p.partitions {
		clear(p.cache)
		p.partitions = partitions
	}
	c, ok := p.cache[string(clientPart(key))]
	if !ok {
		client, err := KeyClient(key)
		if err != nil {
			return Verdict{Placement: PlaceDeadLetter, Kind: StrayInvalidKey, Reason: err}
		}
		if len(p.cache) >= maxPlacerCache {
			clear(p.cache)
		}
		c = placed{client: client, partition: PartitionFor(client, partitions)}
		p.cache[client] = c
	}
	client, want := c.client, c.partition
	if want == partition {
		return Verdict{Placement: PlaceResident, Client: client}
	}
	if from := headerValue(headers, HeaderForwardedFrom); from != "" {
		// Forwarded once and still misplaced: the partition count changed in
		// between, or a producer copies our headers. Forwarding again could
		// loop; a dead letter cannot.
		return Verdict{Placement: PlaceDeadLetter, Client: client, Kind: StrayWrongPartition,
			Reason: fmt.Errorf("forwarded once already (from %s), and still not on client %s's partition %d of %d: was the partition count changed?", from, client, want, partitions)}
	}
	return Verdict{Placement: PlaceForward, Client: client, Kind: StrayWrongPartition}
}

func headerValue(headers []*sarama.RecordHeader, name string) string {
	for _, h := range headers {
		if h != nil && string(h.Key) == name {
			return string(h.Value)
		}
	}
	return ""
}

// Stray is a record its reader forwards or dead-letters instead of processing.
type Stray struct {
	Record
	Verdict
}

// StrayRouter forwards misplaced records to their client's partition and
// dead-letters the ones no client can take. Workers and the control plane's
// stray consumer share it, so a stray is treated alike wherever it is read.
type StrayRouter struct {
	Producer *Producer
	// Worker is the kg-worker header of dead letters, as the reader's own
	// dead letters carry it: "event-normalizer", "kg-control-plane".
	Worker string
	// By names the reader in HeaderForwardedBy: "event-normalizer af-9",
	// "kg-control-plane".
	By string
	// DeadLetterTopic receives the records no client can take (dlq.raw for
	// raw topics, dlq.normalized for the graph builder's inputs).
	DeadLetterTopic string
	// Counter counts strays by topic, kind and action; nil counts nothing.
	Counter *prometheus.CounterVec
	Logger  *slog.Logger

	mu       sync.Mutex
	reported map[string]bool // topic + client pairs already logged once
}

// maxReported bounds the set of (topic, client) pairs whose first stray was
// logged; past it, only the metrics tell.
const maxReported = 1024

// Route sends the forward or dead letter of every stray and returns once all
// are acknowledged, so the caller commits past them only then. The producer's
// error is returned as is; nothing is counted then.
func (r *StrayRouter) Route(ctx context.Context, strays []Stray) error {
	if len(strays) == 0 {
		return nil
	}
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	msgs := make([]*sarama.ProducerMessage, len(strays))
	for i := range strays {
		if s := &strays[i]; s.Placement == PlaceForward && len(s.Value) > MaxForwardValue {
			s.Placement = PlaceDeadLetter
			s.Reason = fmt.Errorf("a record of client %s on the wrong partition, %d bytes: too large to forward (readers refuse values over %d bytes)", s.Client, len(s.Value), MaxForwardValue)
		}
	}
	for i, s := range strays {
		if s.Placement == PlaceForward {
			msgs[i] = r.Producer.forwardMessage(s.Record, s.Client, r.By)
			r.reportOnce(log, s)
			continue
		}
		log.Warn("dead-lettering a stray record", "topic", s.Topic, "partition", s.Partition, "offset", s.Offset, "kind", s.Kind, "reason", s.Reason)
		msgs[i] = r.Producer.DeadLetterMessage(r.DeadLetterTopic, s.Record, r.Worker, s.Reason)
	}
	if err := r.Producer.SendBatch(ctx, msgs); err != nil {
		return fmt.Errorf("forwarding or dead-lettering %d stray records: %w", len(strays), err)
	}
	for _, s := range strays {
		action := ActionForwarded
		if s.Placement != PlaceForward {
			action = ActionDeadLettered
		}
		r.Count(s.Topic, s.Kind, action, 1)
	}
	return nil
}

// Count adds n strays of a topic, kind and action to the metric.
func (r *StrayRouter) Count(topic, kind, action string, n int) {
	if r.Counter != nil && n > 0 {
		r.Counter.WithLabelValues(topic, kind, action).Add(float64(n))
	}
}

// reportOnce logs the first misplaced record of each (topic, client): it
// names the producer setting to fix; the metric counts the rest.
func (r *StrayRouter) reportOnce(log *slog.Logger, s Stray) {
	k := s.Topic + "\x00" + s.Client
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reported[k] || len(r.reported) >= maxReported {
		return
	}
	if r.reported == nil {
		r.reported = make(map[string]bool)
	}
	r.reported[k] = true
	log.Info("forwarding records published on the wrong partition to their client's partition (first of this client; kg_*_stray_records_total counts the rest); key them with the client id and use a murmur2 partitioner, see docs/normalization.md",
		"topic", s.Topic, "partition", s.Partition, "client", s.Client)
}

// NewStrayCounter is the stray metric: name is kg_worker_stray_records_total
// in workers, kgplane_stray_records_total in the control plane.
func NewStrayCounter(name string, constLabels prometheus.Labels) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: name, ConstLabels: constLabels,
		Help: "Records read where they are not processed, by topic, kind (wrong_partition, unknown_client, invalid_key) and action (forwarded, dead_lettered, left).",
	}, []string{"topic", "kind", "action"})
}

// forwardedFrom is the HeaderForwardedFrom value of rec.
func forwardedFrom(rec Record) string {
	return rec.Topic + "/" + strconv.Itoa(int(rec.Partition)) + "@" + strconv.FormatInt(rec.Offset, 10)
}
