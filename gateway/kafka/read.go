package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/IBM/sarama"
)

// ReadAt reads up to limit messages of one partition of topic from pos,
// outside any consumer group: nothing is committed, and any replica can
// serve it. It waits up to wait for a first message, and for messages
// Kafka already holds up to catchUpWait; it stops early once their values
// reach maxBytes (but always gives one). It returns the messages and the
// offset to read from next. Kafka's ACLs decide whether the user may read.
func (u *User) ReadAt(ctx context.Context, topic string, partition int32, pos Position, limit, maxBytes int, wait time.Duration) ([]*sarama.ConsumerMessage, int64, error) {
	if err := u.checkPartition(topic, partition); err != nil {
		return nil, 0, err
	}
	offset, err := u.resolve(topic, partition, pos)
	if err != nil {
		return nil, 0, err
	}
	end, err := u.client.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		return nil, 0, Classify(err, "topic "+topic)
	}
	if offset >= end && wait <= 0 {
		return nil, offset, nil
	}
	client, err := u.readerClient()
	if err != nil {
		return nil, 0, err
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, 0, Classify(err, "topic "+topic)
	}
	defer func() { _ = consumer.Close() }()
	pc, err := consumer.ConsumePartition(topic, partition, offset)
	if err != nil {
		return nil, 0, Classify(err, "topic "+topic)
	}
	defer func() { _ = pc.Close() }()

	deadline := time.Now().Add(wait)
	if offset < end {
		deadline = later(deadline, time.Now().Add(catchUpWait))
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	var msgs []*sarama.ConsumerMessage
	next, values := offset, 0
	for len(msgs) < limit && (len(msgs) == 0 || next < end) {
		select {
		case msg := <-pc.Messages():
			if len(msgs) > 0 && values+len(msg.Value) > maxBytes {
				// Read again from here next time.
				return msgs, next, nil
			}
			msgs = append(msgs, msg)
			values += len(msg.Value)
			next = msg.Offset + 1
			end = max(end, pc.HighWaterMarkOffset())
		case cerr := <-pc.Errors():
			return nil, 0, Classify(cerr.Err, "topic "+topic)
		case <-timer.C:
			// A partition's end can sit past its last message
			// (transaction markers, compaction): answer what came.
			return msgs, next, nil
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	return msgs, next, nil
}

// readerClient returns the user's client for reads from a position,
// connecting it on first use. Its connections are its own: a fetch waits
// at the broker for messages, and the user's shared client sends one
// request at a time per broker, its produces included.
func (u *User) readerClient() (sarama.Client, error) {
	u.readerMu.Lock()
	defer u.readerMu.Unlock()
	if u.readerClosed {
		return nil, errDraining
	}
	if u.reader != nil {
		return u.reader, nil
	}
	client, err := sarama.NewClient(u.opts.Brokers, u.opts.consumerConfig(u.Name, u.password))
	if err != nil {
		return nil, Classify(err, "reader")
	}
	u.reader = client
	return client, nil
}

// closeReader closes the user's reader client, if it has one.
func (u *User) closeReader() {
	u.readerMu.Lock()
	defer u.readerMu.Unlock()
	u.readerClosed = true
	if u.reader == nil {
		return
	}
	if err := u.reader.Close(); err != nil && !errors.Is(err, sarama.ErrClosedClient) {
		u.log.Warn("closing Kafka reader client", "error", err)
	}
}
