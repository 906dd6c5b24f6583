package kafkaio

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func memberMeta(t *testing.T, client string, started int64, topics ...string) sarama.ConsumerGroupMemberMetadata {
	t.Helper()
	ud, err := json.Marshal(memberInfo{Client: client, Started: started})
	if err != nil {
		t.Fatal(err)
	}
	return sarama.ConsumerGroupMemberMetadata{Topics: topics, UserData: ud}
}

func partitions(n int32) []int32 {
	ps := make([]int32, n)
	for i := range ps {
		ps[i] = int32(i)
	}
	return ps
}

func TestBalanceStrategyAssignsOnlyTheClientPartitionToOneMember(t *testing.T) {
	const client = "af-9"
	topicSets := []map[string][]int32{
		{"raw.k8s.events": partitions(2)},
		{"raw.k8s.events": partitions(12)},
		{"events.normalized": partitions(3), "logs.normalized": partitions(7), "state.k8s.topology": partitions(64)},
	}
	for _, members := range []int{1, 2, 3, 8} {
		for ti, topics := range topicSets {
			t.Run(fmt.Sprintf("members=%d/topics=%d", members, ti), func(t *testing.T) {
				var names []string
				for n := range topics {
					names = append(names, n)
				}
				ms := map[string]sarama.ConsumerGroupMemberMetadata{}
				for i := range members {
					// Same start time for all: the member id decides.
					ms[fmt.Sprintf("kg-member-%02d", members-i)] = memberMeta(t, client, 100, names...)
				}
				s := NewClientBalanceStrategy(client, time.Unix(0, 100))
				plan, err := s.Plan(ms, topics)
				if err != nil {
					t.Fatal(err)
				}
				if len(plan) != 1 {
					t.Fatalf("plan assigns to %d members, want exactly 1: %v", len(plan), plan)
				}
				got, ok := plan["kg-member-01"]
				if !ok {
					t.Fatalf("plan %v: want the lexicographically first member kg-member-01", plan)
				}
				if len(got) != len(topics) {
					t.Fatalf("member gets %d topics, want %d: %v", len(got), len(topics), got)
				}
				for topic, ps := range topics {
					want := []int32{PartitionFor(client, int32(len(ps)))}
					if fmt.Sprint(got[topic]) != fmt.Sprint(want) {
						t.Errorf("topic %s: assigned %v, want exactly %v", topic, got[topic], want)
					}
				}
			})
		}
	}
}

func TestBalanceStrategyPrefersOldestMemberAndIgnoresOtherClients(t *testing.T) {
	topics := map[string][]int32{"raw.k8s.events": partitions(6)}
	ms := map[string]sarama.ConsumerGroupMemberMetadata{
		"a-newcomer":      memberMeta(t, "af-9", 200, "raw.k8s.events"),
		"b-running":       memberMeta(t, "af-9", 100, "raw.k8s.events"),
		"0-other-client":  memberMeta(t, "zz-1", 1, "raw.k8s.events"),
		"1-no-user-data0": {Topics: []string{"raw.k8s.events"}},
	}
	plan, err := NewClientBalanceStrategy("af-9", time.Unix(0, 200)).Plan(ms, topics)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != 1 || len(plan["b-running"]) != 1 {
		t.Fatalf("plan %v: want everything on the oldest member b-running", plan)
	}
	// Only members of other clients: nobody gets anything.
	plan, err = NewClientBalanceStrategy("af-9", time.Now()).Plan(map[string]sarama.ConsumerGroupMemberMetadata{
		"x": memberMeta(t, "zz-1", 1, "raw.k8s.events"),
	}, topics)
	if err != nil || len(plan) != 0 {
		t.Fatalf("plan %v, %v: want empty", plan, err)
	}
}

func TestBalanceStrategyUserData(t *testing.T) {
	s := NewClientBalanceStrategy("af-9", time.Unix(0, 42)).(sarama.SubscriptionUserDataBalanceStrategy)
	ud, err := s.SubscriptionUserData([]string{"t"})
	if err != nil {
		t.Fatal(err)
	}
	var info memberInfo
	if err := json.Unmarshal(ud, &info); err != nil || info.Client != "af-9" || info.Started != 42 {
		t.Fatalf("user data %s -> %+v, %v", ud, info, err)
	}
	if s.Name() != BalanceStrategyName {
		t.Fatalf("Name() = %q", s.Name())
	}
}
