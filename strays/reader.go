package strays

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// reader is one covered partition.
type reader struct {
	topic      string
	partition  int32
	partitions int32 // the topic's partition count when it started
	cancel     context.CancelFunc
	done       chan struct{}
	pom        sarama.PartitionOffsetManager
	failed     atomic.Bool
}

func (r *reader) fail()         { r.failed.Store(true) }
func (r *reader) stopped() bool { return r.failed.Load() }

// read places every record of the partition: strays are forwarded or
// dead-lettered in batches, records of clients that are not live are left
// and counted. The offset after a batch is marked only once its forwards and
// dead letters are acknowledged. It returns nil when ctx ends and the
// producer's error when a batch cannot be sent.
func (c *Consumer) read(ctx context.Context, r *reader, pc sarama.PartitionConsumer, router *kafkaio.StrayRouter) error {
	placer := kafkaio.NewPlacer("")
	var (
		strays []kafkaio.Stray
		left   int
		read   int
		next   int64 = -1
		linger       = time.NewTimer(time.Hour)
	)
	linger.Stop()
	defer linger.Stop()
	waiting := false
	errs, commitErrs := pc.Errors(), r.pom.Errors()
	flush := func() error {
		if waiting {
			linger.Stop()
			waiting = false
		}
		if next < 0 {
			return nil
		}
		c.metrics.read.WithLabelValues(r.topic).Add(float64(read))
		read = 0
		if err := router.Route(ctx, strays); err != nil {
			return fmt.Errorf("partition %s/%d: %w", r.topic, r.partition, err)
		}
		router.Count(r.topic, kafkaio.StrayUnknownClient, kafkaio.ActionLeft, left)
		strays, left = strays[:0], 0
		r.pom.MarkOffset(next, "")
		next = -1
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-errs:
			if !ok {
				errs = nil // closing: Messages closes next
				continue
			}
			c.log.Warn("reading a partition no live client owns", "topic", r.topic, "partition", r.partition, "err", err)
		case err, ok := <-commitErrs:
			if !ok {
				commitErrs = nil
				continue
			}
			c.log.Warn("committing the stray consumer's offset", "topic", r.topic, "partition", r.partition, "err", err)
		case msg, ok := <-pc.Messages():
			if !ok {
				return nil
			}
			read++
			next = msg.Offset + 1
			rec := kafkaio.Record{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset,
				Key: msg.Key, Value: msg.Value, Timestamp: msg.Timestamp, Headers: msg.Headers}
			switch v := placer.Place(msg.Key, msg.Headers, r.partition, r.partitions); v.Placement {
			case kafkaio.PlaceResident, kafkaio.PlaceOwn:
				// On its client's own partition: that client is not live (or
				// this partition would not be ours). Its worker reads it
				// when the client registers.
				left++
			default:
				strays = append(strays, kafkaio.Stray{Record: rec, Verdict: v})
			}
			if len(strays) >= c.cfg.MaxBatch || read >= 10*c.cfg.MaxBatch {
				if err := flush(); err != nil {
					return err
				}
			} else if !waiting {
				linger.Reset(c.cfg.Linger)
				waiting = true
			}
		case <-linger.C:
			waiting = false
			if err := flush(); err != nil {
				return err
			}
		}
	}
}
