package kafkaio

import (
	"fmt"

	"github.com/IBM/sarama"
)

// PartitionFor is the partition of every record of clientID in a topic with
// numPartitions partitions: toPositive(murmur2(clientID)) % numPartitions, i.e.
// Kafka's Java default partitioner applied to the client id alone, so a Java,
// Python or librdkafka producer can compute the same partition.
//
// It delegates to sarama's Java-compatible murmur2 partitioner (sarama does not
// export the hash itself) instead of carrying a second implementation.
func PartitionFor(clientID string, numPartitions int32) int32 {
	return partitionWith(sarama.NewMurmur2Partitioner(""), clientID, numPartitions)
}

func partitionWith(m sarama.Partitioner, clientID string, numPartitions int32) int32 {
	if numPartitions <= 0 {
		return 0
	}
	// A non-nil StringEncoder key cannot fail to encode, and murmur2 only
	// falls back to random partitioning for nil keys.
	p, _ := m.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(clientID)}, numPartitions)
	return p
}

// clientPartitioner routes every record by the client part of its key.
type clientPartitioner struct {
	topic   string
	murmur2 sarama.Partitioner
}

// NewClientPartitioner returns a sarama.Partitioner (usable as
// Config.Producer.Partitioner) that puts every record on PartitionFor(client of
// its key). Keys are "<client>::..." or, on control-plane topics, the bare
// client id. Any other key is an error: data topics carry no unkeyed or
// foreign records.
func NewClientPartitioner(topic string) sarama.Partitioner {
	return &clientPartitioner{topic: topic, murmur2: sarama.NewMurmur2Partitioner(topic)}
}

func (p *clientPartitioner) Partition(msg *sarama.ProducerMessage, numPartitions int32) (int32, error) {
	if meta, ok := msg.Metadata.(*msgMeta); ok {
		switch {
		case meta.client != "":
			// A dead letter goes to its worker's client partition (its key is
			// exactly what could not be trusted); a forward to the client its
			// reader already parsed from the key.
			return partitionWith(p.murmur2, meta.client, numPartitions), nil
		case meta.deadLetter:
			// A producer serving no client (the control plane) spreads its
			// dead letters by key; the key names no client.
			if msg.Key == nil {
				return 0, nil
			}
			return p.murmur2.Partition(msg, numPartitions)
		}
	}
	if msg.Key == nil {
		return -1, fmt.Errorf("partitioning a record for %s: no key", p.topic)
	}
	key, err := msg.Key.Encode()
	if err != nil {
		return -1, fmt.Errorf("partitioning a record for %s: encoding key: %w", p.topic, err)
	}
	client, err := KeyClient(key)
	if err != nil {
		return -1, fmt.Errorf("partitioning a record for %s: %w", p.topic, err)
	}
	return partitionWith(p.murmur2, client, numPartitions), nil
}

// RequiresConsistency: the partition of a key must never change, also when a
// partition is briefly unavailable (per-client order and the consumer's
// single-partition reads depend on it).
func (*clientPartitioner) RequiresConsistency() bool { return true }
