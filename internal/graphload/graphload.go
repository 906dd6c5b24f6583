// Package graphload writes a scenario straight into a client's graph: the
// raw records are normalized in-process (eventnorm, lognorm) and handed to a
// graph.Builder in batches, in file order, as the pipeline would deliver
// them. There is no Kafka in between, so it is fast and deterministic: the
// root-cause tests, the evaluation's --direct mode and the latency benchmark
// use it. The real pipeline is what `make eval-rca` measures.
package graphload

import (
	"context"
	"fmt"
	"time"

	"github.com/kgrca/kgplane/scenario"
	"github.com/kgrca/kgplane/workers/eventnorm"
	"github.com/kgrca/kgplane/workers/kafkaio"
	"github.com/kgrca/kgplane/workers/lognorm"
)

// Handler is what takes the normalized batches: graph.Builder.Handle.
type Handler func(ctx context.Context, batch []kafkaio.Record) error

// Stats counts what a load did.
type Stats struct {
	Records  int // records handed to the builder
	Rejected int // raw records a normalizer refused (the pipeline would dead-letter them)
}

// Normalize turns one scenario record of client into what the graph builder
// reads: a normalized event or log, or the topology record with its full key.
// at is the Kafka timestamp to give it. ok=false: a normalizer refused it.
func Normalize(client string, rec scenario.Record, at time.Time) (kafkaio.Record, bool) {
	switch rec.Topic {
	case scenario.TopicEvents:
		id, out, err := eventnorm.Normalize(rec.Key, rec.Value)
		if err != nil {
			return kafkaio.Record{}, false
		}
		return kafkaio.Record{Topic: kafkaio.TopicEventsNormalized, Key: []byte(client + kafkaio.Separator + id), Value: out, Timestamp: at}, true
	case scenario.TopicLogs:
		id, out, err := lognorm.Normalize(rec.Key, rec.Value)
		if err != nil {
			return kafkaio.Record{}, false
		}
		return kafkaio.Record{Topic: kafkaio.TopicLogsNormalized, Key: []byte(client + kafkaio.Separator + id), Value: out, Timestamp: at}, true
	case scenario.TopicTopology:
		r := kafkaio.Record{Topic: kafkaio.TopicTopology, Key: []byte(rec.FullKey(client)), Timestamp: at}
		if !rec.Tombstone() {
			r.Value = rec.Value
		}
		return r, true
	}
	return kafkaio.Record{}, false
}

// Load writes f's records for client through h, batch records at a time
// (batch <= 0: 500, the builder's default).
func Load(ctx context.Context, h Handler, client string, f *scenario.File, batch int) (Stats, error) {
	if batch <= 0 {
		batch = 500
	}
	var st Stats
	buf := make([]kafkaio.Record, 0, batch)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if err := h(ctx, buf); err != nil {
			return fmt.Errorf("writing records %d..%d: %w", st.Records-len(buf)+1, st.Records, err)
		}
		buf = buf[:0]
		return nil
	}
	now := time.Now()
	for i, rec := range f.Records {
		r, ok := Normalize(client, rec, now.Add(time.Duration(i)*time.Millisecond))
		if !ok {
			st.Rejected++
			continue
		}
		buf = append(buf, r)
		st.Records++
		if len(buf) == batch {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
	return st, flush()
}
