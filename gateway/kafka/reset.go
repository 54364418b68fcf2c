package kafka

import (
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Kafka takes new offsets for a consumer group from outside the group only
// while the group has no members: an OffsetCommit with generation -1 is
// refused as from an unknown member otherwise. The gateway's own members
// are in the group (one per replica that served it and per topic, the
// owner among them), so a reset first has every replica with a member
// leave the group and hold off rejoining (PauseGroup), then commits
// (CommitOffsets), then lets the next GET rejoin (ResumeGroup).

// errGroupReset is what consumes of a group get while its offsets are
// being reset.
var errGroupReset = &Error{Kind: KindUnavailable, Message: "the consumer group's offsets are being reset; retry", RetryAfter: time.Second}

// PauseGroup has the user's members of groupID in this gateway leave the
// group at once, on every topic, and keeps new ones from joining for up to
// hold or until ResumeGroup. Messages they handed out and whose outcome is
// not known yet are not committed: the group gets them again (from where
// the reset puts it).
func (u *User) PauseGroup(groupID string, hold time.Duration) {
	u.membersMu.Lock()
	u.paused[groupID] = time.Now().Add(hold)
	var leaving []*member
	for key, m := range u.members {
		if key.group == groupID {
			leaving = append(leaving, m)
			delete(u.members, key)
		}
	}
	u.membersMu.Unlock()
	var wg sync.WaitGroup
	for _, m := range leaving {
		wg.Go(m.leave)
	}
	wg.Wait()
}

// ResumeGroup lets members of groupID join again.
func (u *User) ResumeGroup(groupID string) {
	u.membersMu.Lock()
	delete(u.paused, groupID)
	u.membersMu.Unlock()
}

// pausedLocked tells whether groupID is paused. u.membersMu must be held.
func (u *User) pausedLocked(groupID string) bool {
	until, ok := u.paused[groupID]
	if ok && time.Now().After(until) {
		delete(u.paused, groupID)
		return false
	}
	return ok
}

// GroupPeers returns the peer addresses of the gateway replicas that have
// a member in groupID, as each announced its own (see ownerStrategy); a
// replica without peers announces "".
func (u *User) GroupPeers(groupID string) ([]string, error) {
	coordinator, err := u.client.Coordinator(groupID)
	if err != nil {
		return nil, Classify(err, "group "+groupID)
	}
	req := &sarama.DescribeGroupsRequest{Groups: []string{groupID}}
	if u.opts.Version.IsAtLeast(sarama.V2_4_0_0) {
		req.Version = 5
	}
	resp, err := coordinator.DescribeGroups(req)
	if err != nil {
		return nil, Classify(err, "group "+groupID)
	}
	if len(resp.Groups) != 1 {
		return nil, Classify(sarama.ErrIncompleteResponse, "group "+groupID)
	}
	g := resp.Groups[0]
	if errors.Is(g.Err, sarama.ErrGroupIDNotFound) {
		// A group that never existed has no members.
		return nil, nil
	}
	if !errors.Is(g.Err, sarama.ErrNoError) {
		return nil, Classify(g.Err, "group "+groupID)
	}
	seen := map[string]bool{}
	var peers []string
	for _, desc := range g.Members {
		meta, err := desc.GetMemberMetadata()
		if err != nil || meta == nil {
			continue
		}
		if addr := string(meta.UserData); !seen[addr] {
			seen[addr] = true
			peers = append(peers, addr)
		}
	}
	sort.Strings(peers)
	return peers, nil
}

// PartitionOffset is an offset of one partition.
type PartitionOffset struct {
	Partition int32
	Offset    int64
}

// ResetTargets returns the offsets a reset of topic to pos commits: pos
// in every partition.
func (u *User) ResetTargets(topic string, pos Position) ([]PartitionOffset, error) {
	partitions, err := u.client.Partitions(topic)
	if err != nil {
		return nil, Classify(err, "topic "+topic)
	}
	targets := make([]PartitionOffset, 0, len(partitions))
	for _, p := range partitions {
		offset, err := u.resolve(topic, p, pos)
		if err != nil {
			return nil, err
		}
		targets = append(targets, PartitionOffset{Partition: p, Offset: offset})
	}
	return targets, nil
}

// CheckOffsets checks that every offset is in its partition: between the
// oldest message Kafka holds and the end.
func (u *User) CheckOffsets(topic string, offsets []PartitionOffset) error {
	for _, o := range offsets {
		if err := u.checkPartition(topic, o.Partition); err != nil {
			return err
		}
		if _, err := u.resolve(topic, o.Partition, Position{At: AtOffset, Offset: o.Offset}); err != nil {
			return err
		}
	}
	return nil
}

// CommitOffsets commits offsets of topic for groupID from outside the
// group, which Kafka takes only while the group has no member (see
// PauseGroup): else it is a KindConflict error.
func (u *User) CommitOffsets(topic, groupID string, offsets []PartitionOffset) error {
	var err error
	for attempt := range 2 {
		if attempt > 0 {
			if refreshErr := u.client.RefreshCoordinator(groupID); refreshErr != nil {
				return Classify(refreshErr, "group "+groupID)
			}
		}
		if err = u.commitOffsets(topic, groupID, offsets); !errors.Is(err, sarama.ErrNotCoordinatorForConsumer) && !errors.Is(err, sarama.ErrConsumerCoordinatorNotAvailable) {
			break
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sarama.ErrUnknownMemberId), errors.Is(err, sarama.ErrIllegalGeneration), errors.Is(err, sarama.ErrRebalanceInProgress):
		return newError(KindConflict, err, "consumer group %s still has members, so Kafka refused its new offsets: a reset needs the group empty. A gateway replica that could not be reached, or stopped without leaving, stays a member up to %s; a client consuming meanwhile joins again. Retry the reset", groupID, groupSessionTimeout)
	}
	return Classify(err, "group "+groupID)
}

func (u *User) commitOffsets(topic, groupID string, offsets []PartitionOffset) error {
	coordinator, err := u.client.Coordinator(groupID)
	if err != nil {
		return err
	}
	req := sarama.NewOffsetCommitRequest(u.client.Config(), groupID)
	for _, o := range offsets {
		req.AddBlock(topic, o.Partition, o.Offset, 0, "")
	}
	resp, err := coordinator.CommitOffset(req)
	if err != nil {
		return err
	}
	for _, o := range offsets {
		kerr, ok := resp.Errors[topic][o.Partition]
		if !ok {
			return sarama.ErrIncompleteResponse
		}
		if !errors.Is(kerr, sarama.ErrNoError) {
			return kerr
		}
	}
	return nil
}
