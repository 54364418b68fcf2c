package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"

	"qaas.dev/qaas/internal/kafkaconn"
)

// benchClientID names the native clients in the broker's logs.
const benchClientID = "qaas-bench"

// nativeProducer is one async producer shared by every client, configured
// as the gateway's own (acks=all, idempotent), so the two differ only by
// HTTP and the gateway's work.
type nativeProducer struct {
	p sarama.AsyncProducer
}

func newNativeProducer(conn kafkaconn.Connection, user, password string) (*nativeProducer, error) {
	cfg := conn.Config(benchClientID, user, password)
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	p, err := sarama.NewAsyncProducer(conn.Brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("starting the native producer: %w", err)
	}
	// Each message carries the channel its sender waits on.
	go func() {
		for m := range p.Successes() {
			m.Metadata.(chan error) <- nil
		}
	}()
	go func() {
		for e := range p.Errors() {
			e.Msg.Metadata.(chan error) <- e.Err
		}
	}()
	return &nativeProducer{p: p}, nil
}

// send produces n messages of value to topic and waits until Kafka
// acknowledged every one, as one produce request to the gateway does.
func (np *nativeProducer) send(topic string, value []byte, n int) (int, error) {
	acked := make(chan error, n)
	for range n {
		np.p.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(value), Metadata: acked}
	}
	for range n {
		if err := <-acked; err != nil {
			return 0, err
		}
	}
	return n, nil
}

func (np *nativeProducer) close() error { return np.p.Close() }

// nativeDrain reads target messages of topic from its oldest with a new
// consumer group, timed from the first message (after the group formed) to
// the last.
func nativeDrain(ctx context.Context, sw *stopwatch, conn kafkaconn.Connection, user, password, topic, group string, target int64) (result, error) {
	cfg := conn.Config(benchClientID, user, password)
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cg, err := sarama.NewConsumerGroup(conn.Brokers, group, cfg)
	if err != nil {
		return result{}, fmt.Errorf("starting the native consumer group: %w", err)
	}
	defer cg.Close()
	ctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	h := &drainHandler{sw: sw, target: target, done: make(chan struct{})}
	consumed := make(chan error, 1)
	go func() {
		// Consume returns at each rebalance; it is called again until the
		// drain is over.
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil {
				consumed <- err
				return
			}
		}
	}()
	select {
	case <-h.done:
		return h.res, h.err
	case err := <-consumed:
		return result{}, fmt.Errorf("native consumer group: %w", err)
	case <-ctx.Done():
		return result{}, fmt.Errorf("the native consumer group read %d of %d messages in %s", h.n.Load(), target, drainTimeout)
	}
}

type drainHandler struct {
	sw     *stopwatch
	target int64
	n      atomic.Int64
	first  sync.Once
	done   chan struct{}
	res    result
	err    error
}

func (h *drainHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *drainHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *drainHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		h.first.Do(h.sw.begin)
		sess.MarkMessage(msg, "")
		if h.n.Add(1) == h.target {
			h.res.msgs = h.target
			h.res.elapsed, h.res.cpu, h.err = h.sw.end()
			close(h.done)
		}
	}
	return nil
}
