package httpapi

import (
	"net/http"

	"qaas.dev/qaas/gateway/kafka"
)

// lagAnswer is the answer of GET /topic/{topic}/lag.
type lagAnswer struct {
	Topic string
	// Group is the group as the client names it (?group=).
	Group string
	// Lag is the messages the group has still to read, in all.
	Lag        int64
	Partitions []partitionLag
}

// partitionLag is kafka.PartitionLag as answered, field for field.
type partitionLag struct {
	Partition int32
	// Committed is the next offset the group reads, -1 when it committed
	// none yet.
	Committed int64
	// Start is the oldest offset Kafka holds; End the next a message gets.
	Start, End int64
	Lag        int64
}

// lag handles GET /topic/{topic}/lag?group=: how far the user's group is
// behind on each partition of the topic.
func (s *server) lag(w http.ResponseWriter, r *http.Request) error {
	topic, group, err := topicAndGroup(r)
	if err != nil {
		return err
	}
	user, err := s.authenticate(r)
	if err != nil {
		return err
	}
	defer s.Pool.Release(user)
	if err := user.CheckTopic(topic); err != nil {
		return err
	}
	return s.writeLag(w, user, topic, group)
}

// writeLag answers how far the user's group is behind on each partition of
// topic.
func (s *server) writeLag(w http.ResponseWriter, user *kafka.User, topic, group string) error {
	answer, err := s.lagOf(user, topic, group)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, answer)
}

// lagOf is how far the user's group is behind on each partition of topic.
func (s *server) lagOf(user *kafka.User, topic, group string) (lagAnswer, error) {
	lags, err := user.Lag(topic, user.Name+"."+group)
	if err != nil {
		return lagAnswer{}, err
	}
	answer := lagAnswer{Topic: topic, Group: group, Partitions: make([]partitionLag, len(lags))}
	for i, l := range lags {
		answer.Partitions[i] = partitionLag(l)
		answer.Lag += l.Lag
	}
	return answer, nil
}
