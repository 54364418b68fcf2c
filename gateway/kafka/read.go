package kafka

import (
	"context"
	"errors"
	"time"

	"github.com/IBM/sarama"
)

// maxReadsPerUser bounds a user's reads from a position under way at once
// in one replica: each holds a consumer and its share of the user's
// memory budget for as long as its long poll.
const maxReadsPerUser = 4

// Read is what ReadAt found.
type Read struct {
	Messages []*sarama.ConsumerMessage
	// Next is the offset to read from next.
	Next int64
	// End is the partition's high-water mark as last seen: offsets below
	// it exist (or existed), so a read that ends before it did not reach
	// the end.
	End int64
}

// ReadAt reads up to limit messages of one partition of topic from pos,
// outside any consumer group: nothing is committed, and any replica can
// serve it. It waits up to wait for a first message, and for messages
// Kafka already holds up to catchUpWait; it stops early once their keys,
// values and headers reach maxBytes (but always gives one). Kafka's ACLs
// decide whether the user may read. What it holds is reserved from the
// user's consume budget, as a member's is, and a user has at most
// maxReadsPerUser under way: past either it is throttled.
func (u *User) ReadAt(ctx context.Context, topic string, partition int32, pos Position, limit, maxBytes int, wait time.Duration) (Read, error) {
	if err := u.checkPartition(topic, partition); err != nil {
		return Read{}, err
	}
	offset, err := u.resolve(topic, partition, pos)
	if err != nil {
		return Read{}, err
	}
	end, err := u.client.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		return Read{}, Classify(err, "topic "+topic)
	}
	if offset >= end && wait <= 0 {
		return Read{Next: offset, End: end}, nil
	}
	select {
	case u.reads <- struct{}{}:
		defer func() { <-u.reads }()
	default:
		err := newError(KindThrottled, nil, "user %s has %d reads from a position under way in this gateway replica, the most it may; retry when one is done", u.Name, maxReadsPerUser)
		err.RetryAfter = time.Second
		return Read{}, err
	}
	// A read holds what a member of a one-partition topic does, with the
	// response as its buffer: fetches in flight, the message being handed
	// over, and up to maxBytes and one message taken.
	reserved := u.opts.memberBytes(1, 1, maxBytes)
	if err := u.reserveMember(reserved, topic, 1); err != nil {
		return Read{}, err
	}
	defer u.memory.release(reserved)
	client, err := u.readerClient()
	if err != nil {
		return Read{}, err
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return Read{}, Classify(err, "topic "+topic)
	}
	defer func() { _ = consumer.Close() }()
	pc, err := consumer.ConsumePartition(topic, partition, offset)
	if err != nil {
		return Read{}, Classify(err, "topic "+topic)
	}
	defer func() { _ = pc.Close() }()

	deadline := time.Now().Add(wait)
	if offset < end {
		deadline = later(deadline, time.Now().Add(catchUpWait))
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	read := Read{Next: offset, End: end}
	taken := 0
	for len(read.Messages) < limit && (len(read.Messages) == 0 || read.Next < read.End) {
		select {
		case msg := <-pc.Messages():
			n := dataBytes(msg)
			if len(read.Messages) > 0 && taken+n > maxBytes {
				// Read again from here next time.
				return read, nil
			}
			// Its own copy: sarama's points into the whole fetch
			// response, which the reservation counts once.
			read.Messages = append(read.Messages, copyMessage(msg))
			taken += n
			read.Next = msg.Offset + 1
			read.End = max(read.End, pc.HighWaterMarkOffset())
		case cerr := <-pc.Errors():
			return Read{}, Classify(cerr.Err, "topic "+topic)
		case <-timer.C:
			read.End = max(read.End, pc.HighWaterMarkOffset())
			if len(read.Messages) == 0 && read.Next < read.End {
				// Nothing came though the partition goes on: what
				// follows may hold no message at all (transaction
				// markers, batches compaction emptied), which a client
				// paging from Next would never get past.
				read.Next = u.skipEmpty(client, topic, partition, read.Next)
			}
			return read, nil
		case <-ctx.Done():
			return Read{}, ctx.Err()
		}
	}
	return read, nil
}

// skipEmpty returns the offset after the record batches from offset on that
// hold no message a consumer gets (control batches: transaction markers;
// batches compaction emptied), as one fetch shows them; offset itself when
// the first holds one, or when the fetch fails (the next read tries again).
func (u *User) skipEmpty(client sarama.Client, topic string, partition int32, offset int64) int64 {
	leader, err := client.Leader(topic, partition)
	if err != nil {
		return offset
	}
	// Version 4 is the first with record batches and isolation levels,
	// and every Kafka since 0.11 (4.0 included) takes it.
	req := &sarama.FetchRequest{Version: 4, MinBytes: 1, MaxBytes: int32(u.opts.fetchUnit()), Isolation: sarama.ReadUncommitted}
	req.AddBlock(topic, partition, offset, int32(u.opts.fetchUnit()), -1)
	resp, err := leader.Fetch(req)
	if err != nil {
		return offset
	}
	block := resp.GetBlock(topic, partition)
	if block == nil || !errors.Is(block.Err, sarama.ErrNoError) {
		return offset
	}
	next := offset
	for _, records := range block.RecordsSet {
		batch := records.RecordBatch
		if batch == nil || batch.PartialTrailingRecord {
			break
		}
		if !batch.Control {
			for _, r := range batch.Records {
				if batch.FirstOffset+r.OffsetDelta >= next {
					return next
				}
			}
		}
		next = max(next, batch.LastOffset()+1)
	}
	return next
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
