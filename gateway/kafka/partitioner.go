package kafka

import "github.com/IBM/sarama"

// requestPartitioner honours a partition the HTTP client asked for and
// otherwise hashes the key (or spreads keyless messages), like Kafka's
// default partitioner.
type requestPartitioner struct {
	byKey sarama.Partitioner
}

func newRequestPartitioner(topic string) sarama.Partitioner {
	return &requestPartitioner{byKey: sarama.NewHashPartitioner(topic)}
}

func (p *requestPartitioner) Partition(msg *sarama.ProducerMessage, numPartitions int32) (int32, error) {
	if d, ok := msg.Metadata.(*delivery); ok && d.partition >= 0 {
		if d.partition >= numPartitions {
			return -1, sarama.ErrInvalidPartition
		}
		return d.partition, nil
	}
	return p.byKey.Partition(msg, numPartitions)
}

func (p *requestPartitioner) RequiresConsistency() bool { return true }
