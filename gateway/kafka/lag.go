package kafka

import (
	"errors"

	"github.com/IBM/sarama"
)

// PartitionLag is how far a consumer group is behind on one partition.
type PartitionLag struct {
	Partition int32
	// Committed is the group's committed offset, the next it reads; -1
	// when it committed none (it then starts at Start, see consumerConfig).
	Committed int64
	// Start and End are the oldest offset Kafka still holds and the next
	// offset a message gets (the high-water mark).
	Start, End int64
	// Lag is how many messages the group has still to read.
	Lag int64
}

// Lag returns, per partition of topic, how far groupID is behind, as
// Kafka reports it: Kafka's ACLs decide whether the user may see it.
func (u *User) Lag(topic, groupID string) ([]PartitionLag, error) {
	partitions, err := u.client.Partitions(topic)
	if err != nil {
		return nil, Classify(err, "topic "+topic)
	}
	resp, err := u.fetchOffsets(topic, groupID, partitions)
	// A group that never committed is unknown to some brokers: it is
	// behind by everything.
	noGroup := errors.Is(err, sarama.ErrGroupIDNotFound)
	if err != nil && !noGroup {
		return nil, Classify(err, "group "+groupID)
	}
	lags := make([]PartitionLag, 0, len(partitions))
	for _, p := range partitions {
		pl := PartitionLag{Partition: p, Committed: -1}
		if !noGroup {
			block := resp.GetBlock(topic, p)
			if block == nil {
				return nil, Classify(sarama.ErrIncompleteResponse, "group "+groupID)
			}
			if !errors.Is(block.Err, sarama.ErrNoError) {
				return nil, Classify(block.Err, "topic "+topic)
			}
			pl.Committed = block.Offset
		}
		if pl.Start, err = u.client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
			return nil, Classify(err, "topic "+topic)
		}
		if pl.End, err = u.client.GetOffset(topic, p, sarama.OffsetNewest); err != nil {
			return nil, Classify(err, "topic "+topic)
		}
		next := pl.Committed
		if next < pl.Start {
			// None committed, or committed before what Kafka still holds:
			// the group reads from the oldest message there is.
			next = pl.Start
		}
		pl.Lag = max(pl.End-next, 0)
		lags = append(lags, pl)
	}
	return lags, nil
}

// fetchOffsets asks the group's coordinator for its committed offsets, once
// more after looking the coordinator up again when it moved.
func (u *User) fetchOffsets(topic, groupID string, partitions []int32) (*sarama.OffsetFetchResponse, error) {
	var err error
	for attempt := range 2 {
		if attempt > 0 {
			if refreshErr := u.client.RefreshCoordinator(groupID); refreshErr != nil {
				return nil, refreshErr
			}
		}
		var coordinator *sarama.Broker
		if coordinator, err = u.client.Coordinator(groupID); err != nil {
			return nil, err
		}
		var resp *sarama.OffsetFetchResponse
		if resp, err = coordinator.FetchOffset(sarama.NewOffsetFetchRequest(u.client.Config().Version, groupID, map[string][]int32{topic: partitions})); err == nil {
			if err = offsetFetchError(resp, groupID); err == nil {
				return resp, nil
			}
		}
		if !errors.Is(err, sarama.ErrNotCoordinatorForConsumer) && !errors.Is(err, sarama.ErrConsumerCoordinatorNotAvailable) && !errors.Is(err, sarama.ErrOffsetsLoadInProgress) {
			return resp, err
		}
	}
	return nil, err
}

// offsetFetchError is the group-wide error of an offset fetch.
func offsetFetchError(resp *sarama.OffsetFetchResponse, groupID string) error {
	if resp.Version >= 8 {
		if g := resp.GetGroup(groupID); g != nil && !errors.Is(g.Err, sarama.ErrNoError) {
			return g.Err
		}
		return nil
	}
	if !errors.Is(resp.Err, sarama.ErrNoError) {
		return resp.Err
	}
	return nil
}
