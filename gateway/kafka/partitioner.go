package kafka

import (
	"math/rand/v2"
	"sync/atomic"

	"github.com/IBM/sarama"
)

// requestPartitioner honours a partition the HTTP client asked for, hashes
// a key like Kafka's default partitioner, and sends the keyless messages
// of one request to one partition, so that they stay in order (Kafka's
// sticky partitioning, per request).
type requestPartitioner struct {
	byKey sarama.Partitioner
}

func newRequestPartitioner(topic string) sarama.Partitioner {
	return &requestPartitioner{byKey: sarama.NewHashPartitioner(topic)}
}

// stickyPartition is the partition the keyless messages of one request
// share; -1 until the first of them is placed.
type stickyPartition struct{ partition atomic.Int32 }

func newStickyPartition() *stickyPartition {
	s := &stickyPartition{}
	s.partition.Store(-1)
	return s
}

func (p *requestPartitioner) Partition(msg *sarama.ProducerMessage, numPartitions int32) (int32, error) {
	d, ok := msg.Metadata.(*delivery)
	switch {
	case ok && d.partition >= 0:
		if d.partition >= numPartitions {
			return -1, sarama.ErrInvalidPartition
		}
		return d.partition, nil
	case ok && msg.Key == nil && d.sticky != nil:
		if chosen := d.sticky.partition.Load(); chosen >= 0 && chosen < numPartitions {
			return chosen, nil
		}
		d.sticky.partition.CompareAndSwap(-1, rand.Int32N(numPartitions))
		if chosen := d.sticky.partition.Load(); chosen < numPartitions {
			return chosen, nil
		}
	}
	return p.byKey.Partition(msg, numPartitions)
}

func (p *requestPartitioner) RequiresConsistency() bool { return true }
