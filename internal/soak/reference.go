package soak

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kgrca/kgplane/workers/eventnorm"
	"github.com/kgrca/kgplane/workers/graph"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/lognorm"
	"github.com/kgrca/kgplane/workers/normalizer"
)

// dlqEntry is a record expected in a dead-letter topic, as the faulted run
// writes it (the client's own key).
type dlqEntry struct {
	Topic      string // kafkaio.TopicDLQRaw or kafkaio.TopicDLQNormalized
	Key, Value []byte
	Kind       string // the poison kind; "" for a record of the client's own traffic
	Reason     string // the reference's reason
}

// reference is what the fault-free run of a client's records made.
type reference struct {
	client string
	dlq    []dlqEntry
	// accepted are poison records the contract says must be dead-lettered
	// but the reference wrote to the graph ("kind on topic").
	accepted []string
}

// referenceBatch is the reference builder's batch size (the workers' default).
const referenceBatch = 500

// buildReference runs a client's acknowledged records, in order, through the
// same code the workers run — normalizer.Output with the real normalizers,
// then graph.Builder — under the reference client id refID(client), with no
// Kafka in between and no fault. Its graph is what the faulted run must
// have built; its dead letters what the faulted run must have dead-lettered.
func buildReference(ctx context.Context, driver neo4j.DriverWithContext, client string, recs []sent, log *slog.Logger) (*reference, error) {
	ref := &reference{client: client}
	rid := refID(client)
	// The builder's input, and for each the record as the faulted run has it
	// (the client's key, the normalized value), by position (Offset).
	var in []kafkaio.Record
	var orig []keyValue
	var from []int // in[j] is recs[from[j]]
	deadRec := make([]bool, len(recs))
	for i, r := range recs {
		rec := kafkaio.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Timestamp: r.Time}
		role := map[string]string{kafkaio.TopicRawEvents: kafkaio.RoleEventNormalizer, kafkaio.TopicRawLogs: kafkaio.RoleLogNormalizer}[r.Topic]
		if role != "" {
			fn := map[string]normalizer.Func{kafkaio.RoleEventNormalizer: eventnorm.Normalize, kafkaio.RoleLogNormalizer: lognorm.Normalize}[role]
			key, value, err := normalizer.Output(role, recovered(fn), rec)
			if err != nil {
				ref.dlq = append(ref.dlq, dlqEntry{Topic: kafkaio.TopicDLQRaw, Key: r.Key, Value: r.Value, Kind: r.Poison, Reason: err.Error()})
				deadRec[i] = true
				continue
			}
			out := map[string]string{kafkaio.TopicRawEvents: kafkaio.TopicEventsNormalized, kafkaio.TopicRawLogs: kafkaio.TopicLogsNormalized}[r.Topic]
			rec = kafkaio.Record{Topic: out, Key: []byte(key), Value: value, Timestamp: r.Time}
		}
		orig = append(orig, keyValue{rec.Key, rec.Value})
		from = append(from, i)
		rec.Key = rewriteClient(rec.Key, client, rid)
		rec.Offset = int64(len(in))
		in = append(in, rec)
	}
	dlq := func(_ context.Context, r kafkaio.Record, reason error) error {
		o, i := orig[r.Offset], from[r.Offset]
		ref.dlq = append(ref.dlq, dlqEntry{Topic: kafkaio.TopicDLQNormalized, Key: o.key, Value: o.value, Kind: recs[i].Poison, Reason: reason.Error()})
		deadRec[i] = true
		return nil
	}
	b, err := graph.NewBuilder(driver, rid, "", graph.DefaultTopics(), graph.DefaultRules(), dlq, prometheus.NewRegistry(), log)
	if err != nil {
		return nil, fmt.Errorf("the reference builder of %s: %w", client, err)
	}
	if err := b.EnsureSchema(ctx, graph.IsolationShared); err != nil {
		return nil, fmt.Errorf("the reference graph's schema: %w", err)
	}
	for i := 0; i < len(in); i += referenceBatch {
		if err := b.Handle(ctx, in[i:min(i+referenceBatch, len(in))]); err != nil {
			return nil, fmt.Errorf("building the reference graph of %s: %w", client, err)
		}
	}
	// Poison the contract wants dead-lettered, that the reference wrote.
	for i, r := range recs {
		if r.Expect == expectDLQ && !deadRec[i] {
			ref.accepted = append(ref.accepted, r.Poison+" on "+r.Topic)
		}
	}
	return ref, nil
}

// rewriteClient replaces the client part of a key ("<client>::..." or the
// client id alone) with another client's.
func rewriteClient(key []byte, from, to string) []byte {
	switch {
	case bytes.Equal(key, []byte(from)):
		return []byte(to)
	case bytes.HasPrefix(key, []byte(from+kafkaio.Separator)):
		return append([]byte(to), key[len(from):]...)
	}
	return key
}

// recovered turns a panic of fn into an error, as the workers do (one
// poisonous record must not stop the reference run either).
func recovered(fn normalizer.Func) normalizer.Func {
	return func(keyID string, raw []byte) (id string, out []byte, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("normalizer panicked: %v", r)
			}
		}()
		return fn(keyID, raw)
	}
}
