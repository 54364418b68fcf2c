package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// Message is one record to produce.
type Message struct {
	// Key is nil for a message without a key.
	Key     []byte
	Value   []byte
	Headers []Header
	// Partition is the partition asked for, or -1 to choose by key.
	Partition int32
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Placement says where Kafka stored a produced message.
type Placement struct {
	Partition int32
	Offset    int64
}

// delivery rides along a message through sarama's async producer and brings
// its outcome back to the request that sent it.
type delivery struct {
	index     int
	partition int32
	sticky    *stickyPartition
	results   chan<- deliveryResult
}

type deliveryResult struct {
	index     int
	placement Placement
	err       error
}

// Produce sends msgs to topic through the user's shared producer and
// returns once Kafka acknowledged every one of them (acks=all), or with an
// error that says how many were not written.
func (u *User) Produce(ctx context.Context, topic string, msgs []Message) ([]Placement, error) {
	if err := u.ensureProducer(); err != nil {
		return nil, err
	}
	results := make(chan deliveryResult, len(msgs))
	sent, err := u.send(ctx, topic, msgs, results)

	placements := make([]Placement, len(msgs))
	var failed int
	var firstErr error
	for range sent {
		select {
		case r := <-results:
			if r.err != nil {
				failed++
				if firstErr == nil {
					firstErr = r.err
				}
				continue
			}
			placements[r.index] = r.placement
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err == nil && firstErr == nil {
		return placements, nil
	}
	if err == nil {
		err = firstErr
	}
	failed += len(msgs) - sent
	cause := Classify(err, "topic "+topic)
	if failed == len(msgs) {
		return nil, cause
	}
	return nil, &Error{Kind: cause.Kind, Err: err, Message: fmt.Sprintf(
		"%d of %d messages were not written (%s); the others were, so retrying the whole request repeats them", failed, len(msgs), cause.Message)}
}

// send hands msgs to the producer and returns how many it took.
func (u *User) send(ctx context.Context, topic string, msgs []Message, results chan<- deliveryResult) (int, error) {
	u.producerMu.RLock()
	defer u.producerMu.RUnlock()
	if u.producerClosed {
		return 0, newError(KindUnavailable, sarama.ErrClosedClient, "the gateway is shutting down")
	}
	sticky := newStickyPartition()
	for i, m := range msgs {
		pm := &sarama.ProducerMessage{
			Topic:    topic,
			Value:    sarama.ByteEncoder(m.Value),
			Metadata: &delivery{index: i, partition: m.Partition, sticky: sticky, results: results},
		}
		if m.Key != nil {
			pm.Key = sarama.ByteEncoder(m.Key)
		}
		for _, h := range m.Headers {
			pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		select {
		case u.producer.Input() <- pm:
		case <-ctx.Done():
			return i, ctx.Err()
		}
	}
	return len(msgs), nil
}

// deliverResults routes every outcome of the async producer back to its
// request; it runs until the producer is closed.
func deliverResults(p sarama.AsyncProducer, done chan<- struct{}) {
	successes, failures := p.Successes(), p.Errors()
	for successes != nil || failures != nil {
		select {
		case m, ok := <-successes:
			if !ok {
				successes = nil
				continue
			}
			d := m.Metadata.(*delivery)
			d.results <- deliveryResult{index: d.index, placement: Placement{Partition: m.Partition, Offset: m.Offset}}
		case e, ok := <-failures:
			if !ok {
				failures = nil
				continue
			}
			d := e.Msg.Metadata.(*delivery)
			err := e.Err
			if err == nil {
				err = errors.New("unknown producer error")
			}
			d.results <- deliveryResult{index: d.index, err: err}
		}
	}
	close(done)
}
