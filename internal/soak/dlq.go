package soak

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// letter is one dead letter as found: where, and why.
type letter struct {
	Topic, Reason, Worker string
}

// deadLetters maps a record's key and value to the dead letters carrying them.
type deadLetters map[[32]byte][]letter

// recordHash identifies a record by its key and its value's SHA-256 (so a
// dead letter whose value was cut, kafkaio.HeaderValueSHA256, still matches).
func recordHash(key, value []byte) [32]byte {
	if value == nil {
		return keyedHash(key, "tombstone")
	}
	sum := sha256.Sum256(value)
	return keyedHash(key, hex.EncodeToString(sum[:]))
}

func keyedHash(key []byte, valueSum string) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d:", len(key))
	h.Write(key)
	h.Write([]byte(valueSum))
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// readDeadLetters reads both dead-letter topics from their start to their
// current end.
func readDeadLetters(ctx context.Context, o *offsets) (deadLetters, int, error) {
	out := deadLetters{}
	n := 0
	consumer, err := sarama.NewConsumerFromClient(o.client)
	if err != nil {
		return nil, 0, fmt.Errorf("dead-letter reader: %w", err)
	}
	defer consumer.Close()
	for _, topic := range []string{kafkaio.TopicDLQRaw, kafkaio.TopicDLQNormalized} {
		parts, err := o.client.Partitions(topic)
		if err != nil {
			return nil, 0, fmt.Errorf("partitions of %s: %w", topic, err)
		}
		for _, p := range parts {
			end, err := o.client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				return nil, 0, fmt.Errorf("end of %s/%d: %w", topic, p, err)
			}
			if end == 0 {
				continue
			}
			pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
			if err != nil {
				return nil, 0, fmt.Errorf("reading %s/%d: %w", topic, p, err)
			}
			for next := int64(0); next < end; {
				select {
				case m := <-pc.Messages():
					next = m.Offset + 1
					l := letter{Topic: topic}
					k := recordHash(m.Key, m.Value)
					for _, h := range m.Headers {
						switch string(h.Key) {
						case kafkaio.HeaderError:
							l.Reason = string(h.Value)
						case kafkaio.HeaderWorker:
							l.Worker = string(h.Value)
						case kafkaio.HeaderValueSHA256:
							k = keyedHash(m.Key, string(h.Value))
						}
					}
					out[k] = append(out[k], l)
					n++
				case err := <-pc.Errors():
					pc.Close()
					return nil, 0, fmt.Errorf("reading %s/%d: %w", topic, p, err)
				case <-time.After(time.Minute):
					pc.Close()
					return nil, 0, fmt.Errorf("reading %s/%d: stuck at offset %d of %d", topic, p, next, end)
				case <-ctx.Done():
					pc.Close()
					return nil, 0, ctx.Err()
				}
			}
			pc.Close()
		}
	}
	return out, n, nil
}
