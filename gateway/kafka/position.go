package kafka

import (
	"slices"
	"time"

	"github.com/IBM/sarama"
)

// Position is a place in a partition, as a client names it: an offset, the
// oldest message Kafka still holds, the end (where the next message goes),
// or the first message at or after a time.
type Position struct {
	At PositionKind
	// Offset is the offset when At is AtOffset.
	Offset int64
	// Time is the time when At is AtTime.
	Time time.Time
}

// PositionKind says how a Position is given.
type PositionKind int

const (
	AtOffset PositionKind = iota
	AtEarliest
	AtLatest
	AtTime
)

// checkPartition tells whether topic has partition, as Kafka's metadata
// has it.
func (u *User) checkPartition(topic string, partition int32) error {
	partitions, err := u.client.Partitions(topic)
	if err != nil {
		return Classify(err, "topic "+topic)
	}
	if !slices.Contains(partitions, partition) {
		return newError(KindNotFound, nil, "topic %s has no partition %d: its partitions are 0 to %d", topic, partition, len(partitions)-1)
	}
	return nil
}

// resolve returns the offset pos names in a partition. An offset outside
// what the partition holds (before the oldest message Kafka kept, past its
// end) is a KindOutOfRange error that names the bounds; a time after the
// last message is the end.
func (u *User) resolve(topic string, partition int32, pos Position) (int64, error) {
	subject := "topic " + topic
	start, err := u.client.GetOffset(topic, partition, sarama.OffsetOldest)
	if err != nil {
		return 0, Classify(err, subject)
	}
	end, err := u.client.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		return 0, Classify(err, subject)
	}
	switch pos.At {
	case AtEarliest:
		return start, nil
	case AtLatest:
		return end, nil
	case AtTime:
		offset, err := u.client.GetOffset(topic, partition, pos.Time.UnixMilli())
		if err != nil {
			return 0, Classify(err, subject)
		}
		if offset < 0 {
			// No message at or after the time: what comes next will be.
			return end, nil
		}
		return max(offset, start), nil
	}
	if pos.Offset < start || pos.Offset > end {
		return 0, newError(KindOutOfRange, sarama.ErrOffsetOutOfRange,
			"offset %d is outside partition %d of topic %s, which holds offsets %d to %d (the end, %d, is where the next message goes); use earliest or latest to read from either end",
			pos.Offset, partition, topic, start, end, end)
	}
	return pos.Offset, nil
}
