package kafkaio

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/IBM/sarama"
)

// BalanceStrategyName is the group protocol name of NewClientBalanceStrategy;
// `kafka-consumer-groups --describe --members --verbose` shows it as the assignor.
const BalanceStrategyName = "kg-client-partition"

// memberInfo travels in each member's subscription UserData.
type memberInfo struct {
	Client string `json:"client"`
	// Started is when the member's process started (unix ns). The oldest member
	// wins, so while Nomad replaces an allocation the running worker keeps its
	// partition until it leaves, instead of flapping to the newcomer.
	Started int64 `json:"started"`
}

// clientBalanceStrategy hands the client's partition of every subscribed topic
// to exactly one member and nothing to the others. Sarama's range, roundrobin
// and sticky strategies spread all partitions over the members; a per-client
// group with them would read every client's partitions (the seed's mistake),
// so the assignment is ours to write.
type clientBalanceStrategy struct {
	client string
	self   memberInfo
}

// NewClientBalanceStrategy returns the sarama.BalanceStrategy of the group
// "<role>-<clientID>": for each topic the leader assigns only partition
// PartitionFor(clientID, partitions of that topic), all of them to ONE member
// (the one that started first; ties broken by member id) and nothing to the
// others. So at most one member of a (role, client) group consumes at a time;
// the others are hot standbys that take over on the next rebalance.
func NewClientBalanceStrategy(clientID string, started time.Time) sarama.BalanceStrategy {
	return &clientBalanceStrategy{client: clientID, self: memberInfo{Client: clientID, Started: started.UnixNano()}}
}

func (s *clientBalanceStrategy) Name() string { return BalanceStrategyName }

// SubscriptionUserData implements sarama.SubscriptionUserDataBalanceStrategy.
func (s *clientBalanceStrategy) SubscriptionUserData(topics []string) ([]byte, error) {
	return json.Marshal(s.self)
}

// Plan runs on the group leader only.
func (s *clientBalanceStrategy) Plan(members map[string]sarama.ConsumerGroupMemberMetadata, topics map[string][]int32) (sarama.BalanceStrategyPlan, error) {
	plan := make(sarama.BalanceStrategyPlan, len(members))
	winner, ok := s.pick(members)
	if !ok {
		return plan, nil
	}
	subscribed := make(map[string]bool)
	for _, t := range members[winner].Topics {
		subscribed[t] = true
	}
	for topic, partitions := range topics {
		if !subscribed[topic] || len(partitions) == 0 {
			continue
		}
		p := PartitionFor(s.client, int32(len(partitions)))
		if !contains(partitions, p) {
			return nil, fmt.Errorf("assigning %s for client %s: partition %d not in the topic's partitions %v", topic, s.client, p, partitions)
		}
		plan.Add(winner, topic, p)
	}
	return plan, nil
}

// pick chooses the single active member: among the members that declare our
// client (all of them, in a correctly named group), the oldest, ties broken by
// the lexicographically first member id. Members whose user data is missing
// or unreadable still qualify (sorted last), so a foreign client library in
// the group cannot stall it; members that declare ANOTHER client never do.
func (s *clientBalanceStrategy) pick(members map[string]sarama.ConsumerGroupMemberMetadata) (string, bool) {
	type cand struct {
		id      string
		started int64
	}
	var cands []cand
	for id, meta := range members {
		var info memberInfo
		if err := json.Unmarshal(meta.UserData, &info); err != nil || info.Client == "" {
			cands = append(cands, cand{id: id, started: 1<<63 - 1})
			continue
		}
		if info.Client != s.client {
			continue
		}
		cands = append(cands, cand{id: id, started: info.Started})
	}
	if len(cands) == 0 {
		return "", false
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].started != cands[j].started {
			return cands[i].started < cands[j].started
		}
		return cands[i].id < cands[j].id
	})
	return cands[0].id, true
}

// AssignmentData: the assignment needs no extra data.
func (s *clientBalanceStrategy) AssignmentData(memberID string, topics map[string][]int32, generationID int32) ([]byte, error) {
	return nil, nil
}

func contains(ps []int32, p int32) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}
