package soak

import (
	"fmt"
	"slices"

	"github.com/IBM/sarama"

	"github.com/kgrca/kgplane/workers/kafkaio"
)

// roleInputs are the topics each worker role reads.
var roleInputs = map[string][]string{
	kafkaio.RoleEventNormalizer: {kafkaio.TopicRawEvents},
	kafkaio.RoleLogNormalizer:   {kafkaio.TopicRawLogs},
	kafkaio.RoleGraphBuilder:    {kafkaio.TopicEventsNormalized, kafkaio.TopicLogsNormalized, kafkaio.TopicTopology},
}

// lags are, per client, the records its workers have not committed yet,
// summed over its roles' input partitions.
type lags map[string]int64

// total sums every client's lag.
func (l lags) total() int64 {
	var n int64
	for _, v := range l {
		n += v
	}
	return n
}

// offsets reads end offsets and the workers' committed offsets.
type offsets struct {
	client     sarama.Client
	admin      sarama.ClusterAdmin
	partitions int32
}

func newOffsets(brokers []string, partitions int) (*offsets, error) {
	sc := kafkaio.NewSaramaConfig(kafkaio.Security{}, "kg-soak-offsets")
	sc.Metadata.Retry.Max = 1
	c, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("connecting to the private Kafka: %w", err)
	}
	a, err := sarama.NewClusterAdminFromClient(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("admin client: %w", err)
	}
	return &offsets{client: c, admin: a, partitions: int32(partitions)}, nil
}

func (o *offsets) close() { o.admin.Close() }

// lags reads the lag of every client's every role; an error when Kafka does
// not answer (an outage).
func (o *offsets) lags(clients []string) (lags, error) {
	out := lags{}
	ends := map[string]int64{}
	end := func(topic string, p int32) (int64, error) {
		k := fmt.Sprintf("%s/%d", topic, p)
		if v, ok := ends[k]; ok {
			return v, nil
		}
		v, err := o.client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return 0, fmt.Errorf("end offset of %s: %w", k, err)
		}
		ends[k] = v
		return v, nil
	}
	for _, c := range clients {
		p := kafkaio.PartitionFor(c, o.partitions)
		for _, role := range roles {
			topics := roleInputs[role]
			req := map[string][]int32{}
			for _, t := range topics {
				req[t] = []int32{p}
			}
			resp, err := o.admin.ListConsumerGroupOffsets(kafkaio.GroupID(role, c), req)
			if err != nil {
				return nil, fmt.Errorf("offsets of %s: %w", kafkaio.GroupID(role, c), err)
			}
			for _, t := range topics {
				e, err := end(t, p)
				if err != nil {
					return nil, err
				}
				committed := int64(0)
				if b := resp.GetBlock(t, p); b != nil && b.Offset >= 0 {
					committed = b.Offset
				}
				out[c] += max(0, e-committed)
			}
		}
	}
	return out, nil
}

// endOffsets sums the end offsets of topics (every partition): how many
// records they ever held.
func (o *offsets) endOffsets(topics ...string) (int64, error) {
	var n int64
	for _, t := range topics {
		if err := o.client.RefreshMetadata(t); err != nil {
			return 0, err
		}
		parts, err := o.client.Partitions(t)
		if err != nil {
			return 0, err
		}
		for _, p := range slices.Sorted(slices.Values(parts)) {
			v, err := o.client.GetOffset(t, p, sarama.OffsetNewest)
			if err != nil {
				return 0, err
			}
			n += v
		}
	}
	return n, nil
}
