package strays

import (
	"errors"
	"sync"

	"github.com/IBM/sarama"
)

// listedOffsets is the fetching client with GetOffset answered from offsets
// listed beforehand. sarama's ConsumePartition asks for the newest and the
// oldest offset of each partition it starts, one request each, on the
// consumer's client, whose connection a fetch holds for its whole long poll:
// starting 900 idle partitions that way took a minute under load. list asks
// for all of them in one request per broker and kind instead, on the control
// client; a partition it could not list is asked the usual way.
type listedOffsets struct {
	sarama.Client // fetches
	control       sarama.Client

	mu    sync.Mutex
	known map[listedKey]int64
}

type listedKey struct {
	topic     string
	partition int32
	when      int64 // sarama.OffsetNewest or sarama.OffsetOldest
}

func newListedOffsets(fetch, control sarama.Client) *listedOffsets {
	return &listedOffsets{Client: fetch, control: control, known: make(map[listedKey]int64)}
}

// GetOffset answers from the listed offsets once per (partition, kind); a
// retry asks the broker, on the control client.
func (l *listedOffsets) GetOffset(topic string, partition int32, when int64) (int64, error) {
	k := listedKey{topic, partition, when}
	l.mu.Lock()
	o, ok := l.known[k]
	delete(l.known, k)
	l.mu.Unlock()
	if ok {
		return o, nil
	}
	return l.control.GetOffset(topic, partition, when)
}

// forget drops what is still listed for a partition (after it started, or
// failed to).
func (l *listedOffsets) forget(topic string, partition int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.known, listedKey{topic, partition, sarama.OffsetNewest})
	delete(l.known, listedKey{topic, partition, sarama.OffsetOldest})
}

// list fetches the newest and oldest offsets of topic's partitions parts.
// Errors only mean those partitions are asked one by one later.
func (l *listedOffsets) list(topic string, parts []int32) {
	byLeader := make(map[*sarama.Broker][]int32)
	for _, p := range parts {
		if b, err := l.control.Leader(topic, p); err == nil {
			byLeader[b] = append(byLeader[b], p)
		}
	}
	for b, ps := range byLeader {
		for _, when := range []int64{sarama.OffsetNewest, sarama.OffsetOldest} {
			req := sarama.NewOffsetRequest(l.control.Config().Version)
			for _, p := range ps {
				req.AddBlock(topic, p, when, 1)
			}
			resp, err := b.GetAvailableOffsets(req)
			if err != nil {
				continue
			}
			l.mu.Lock()
			for _, p := range ps {
				if blk := resp.GetBlock(topic, p); blk != nil && errors.Is(blk.Err, sarama.ErrNoError) && len(blk.Offsets) == 1 {
					l.known[listedKey{topic, p, when}] = blk.Offsets[0]
				}
			}
			l.mu.Unlock()
		}
	}
}
