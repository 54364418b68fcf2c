package kafka

import (
	"slices"
	"sync"

	"github.com/IBM/sarama"
)

// ownerStrategyName is the group protocol name of ownerStrategy. Every
// gateway replica of a group must speak it.
const ownerStrategyName = "qaas-owner"

// ownerStrategy assigns every partition of a topic to one member of the
// group, the owner, and tells every member the owner's peer address. The other
// members own nothing: the replicas that run them forward their GETs to
// the owner (see docs/consume-ownership.md). So one replica hands out the
// group's messages, in order, whichever replica a client reaches.
//
// It is cooperative (KIP-429) and sticky: a member joining or leaving does
// not take the partitions from an owner that stays, so the owner keeps
// serving through a rebalance instead of stopping to revoke and re-fetch.
type ownerStrategy struct {
	// self is this replica's peer address, announced in its subscription.
	self string
	// onAssign receives each assignment of the member: the owner's peer
	// address and the partitions given to the member.
	onAssign func(owner string, partitions map[string][]int32)

	mu sync.Mutex
	// owners maps each member to its topic's owner's address, as the last
	// plan chose (this member is the group's leader then).
	owners map[string]string
}

func newOwnerStrategy(self string, onAssign func(string, map[string][]int32)) *ownerStrategy {
	return &ownerStrategy{self: self, onAssign: onAssign}
}

func (s *ownerStrategy) Name() string { return ownerStrategyName }

func (s *ownerStrategy) SupportedProtocols() []sarama.RebalanceProtocol {
	return []sarama.RebalanceProtocol{sarama.RebalanceProtocolCooperative}
}

// SubscriptionUserData announces this replica's peer address.
func (s *ownerStrategy) SubscriptionUserData([]string) ([]byte, error) {
	return []byte(s.self), nil
}

// Plan gives each topic's partitions to one member subscribed to it (the
// gateway's group id covers a user's group on every topic, each topic with
// its own members). It keeps the current owner when there is one (the
// member holding the most of the topic's partitions), else picks the
// member with the smallest id. A partition another member still holds is
// left out of this round: under the cooperative protocol it must be
// revoked before it moves, and sarama rejoins at once after a revocation,
// so the next round gives it to the owner.
func (s *ownerStrategy) Plan(members map[string]sarama.ConsumerGroupMemberMetadata, topics map[string][]int32) (sarama.BalanceStrategyPlan, error) {
	ids := make([]string, 0, len(members))
	for id := range members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// A member that lost its membership can still claim partitions from
	// an older generation; the claim of the newest generation counts.
	holder := map[topicPartition]string{}
	for _, id := range ids {
		meta := members[id]
		for _, op := range meta.OwnedPartitions {
			for _, p := range op.Partitions {
				tp := topicPartition{op.Topic, p}
				if h, ok := holder[tp]; !ok || members[h].GenerationID < meta.GenerationID {
					holder[tp] = id
				}
			}
		}
	}
	plan := sarama.BalanceStrategyPlan{}
	for _, id := range ids {
		// Every member gets an assignment, if empty, so that
		// AssignmentData tells it its owner.
		plan[id] = map[string][]int32{}
	}
	owners := map[string]string{}
	for topic, partitions := range topics {
		held := map[string]int{}
		owner := ""
		for _, id := range ids {
			if !slices.Contains(members[id].Topics, topic) {
				continue
			}
			if owner == "" {
				owner = id
			}
			for _, p := range partitions {
				if holder[topicPartition{topic, p}] == id {
					held[id]++
				}
			}
			if held[id] > held[owner] {
				owner = id
			}
		}
		if owner == "" {
			continue
		}
		for _, p := range partitions {
			if h, ok := holder[topicPartition{topic, p}]; ok && h != owner {
				continue
			}
			plan.Add(owner, topic, p)
		}
		for _, id := range ids {
			if slices.Contains(members[id].Topics, topic) {
				owners[id] = string(members[owner].UserData)
			}
		}
	}
	s.mu.Lock()
	s.owners = owners
	s.mu.Unlock()
	return plan, nil
}

// AssignmentData tells each member the peer address of its topic's owner.
func (s *ownerStrategy) AssignmentData(memberID string, _ map[string][]int32, _ int32) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []byte(s.owners[memberID]), nil
}

// OnAssignment passes the assignment on to the member.
func (s *ownerStrategy) OnAssignment(a *sarama.ConsumerGroupMemberAssignment, _ int32) {
	s.onAssign(string(a.UserData), a.Topics)
}

type topicPartition struct {
	topic     string
	partition int32
}
