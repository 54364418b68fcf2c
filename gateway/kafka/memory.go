package kafka

import (
	"fmt"
	"sync"

	"github.com/IBM/sarama"
)

// What consume holds in memory is bounded by budgets: one for the gateway
// and one per user that draws on it. A consumer group member reserves its
// worst case when it opens (memberBytes) and gives it back when it closes,
// so the sum of what members can hold never exceeds the budgets, whatever
// the messages' sizes and however many groups a client names. A member
// that does not fit first makes room by closing idle members, the user's
// own and then anyone's, least recently used first; when every member is
// busy the request is refused with 429.

// budget is a number of bytes that holders reserve and give back. A user's
// budget reserves from the gateway's as well.
type budget struct {
	limit  int64
	parent *budget

	mu   sync.Mutex
	used int64
}

func newBudget(limit int64, parent *budget) *budget {
	return &budget{limit: limit, parent: parent}
}

// reserve takes n bytes from b and its parent, or nothing. When it takes
// nothing, it returns the budget that is short.
func (b *budget) reserve(n int64) (short *budget) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return b
	}
	if b.parent != nil {
		if short := b.parent.reserve(n); short != nil {
			return short
		}
	}
	b.used += n
	return nil
}

// release gives back n bytes reserved earlier.
func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	if b.parent != nil {
		b.parent.release(n)
	}
}

// Used is how many bytes are reserved now.
func (b *budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// fetchUnit is the most bytes one fetched record batch can hold: the
// topics' max.message.bytes, which the gateway's MaxMessageBytes is meant
// to match, plus framing. Kafka hands a batch to a fetch whole, even one
// larger than the fetch's limits, so it is the unit of what sarama holds.
func (o Options) fetchUnit() int64 { return int64(o.MaxMessageBytes) + recordOverhead }

// memberBytes is the most a member of a topic with the given partitions,
// on the given number of brokers, holds. Per partition: the fetch response
// sarama is feeding to it and the message it handed over, which push
// copies and waits with (sarama's read-ahead channel is unbuffered, see
// consumerConfig). A fetch in flight per broker that leads one of the
// partitions, each at most one unit (Fetch.MaxBytes). And the member's
// own buffer with its leases, which can pass its bound by one message.
func (o Options) memberBytes(partitions, brokers, bufferBytes int) int64 {
	units := 2*partitions + min(partitions, max(brokers, 1)) + 1
	return int64(units)*o.fetchUnit() + int64(bufferBytes)
}

// messageOverhead is what a buffered message costs beyond its bytes: the
// ConsumerMessage and its slices.
const messageOverhead = 256

// headerOverhead is what each header costs beyond its bytes: its
// RecordHeader and its pointer. A message of many empty headers is small
// on the wire and not in memory.
const headerOverhead = 64

// messageBytes is what a buffered message costs.
func messageBytes(msg *sarama.ConsumerMessage) int {
	return messageOverhead + headerOverhead*len(msg.Headers) + dataBytes(msg)
}

// dataBytes is the size of a message's key, value and headers.
func dataBytes(msg *sarama.ConsumerMessage) int {
	n := len(msg.Key) + len(msg.Value)
	for _, h := range msg.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

func bytesOf(msgs []*sarama.ConsumerMessage) int {
	n := 0
	for _, msg := range msgs {
		n += messageBytes(msg)
	}
	return n
}

// copyMessage gives msg its own key, value and headers, in one allocation,
// and returns it: sarama's point into the fetch response they were decoded
// from, which one small buffered message would otherwise keep alive
// whole. msg itself is changed, not copied: sarama made it for this
// delivery alone and keeps no other use of it.
func copyMessage(msg *sarama.ConsumerMessage) *sarama.ConsumerMessage {
	buf := make([]byte, 0, dataBytes(msg))
	take := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		buf = append(buf, b...)
		return buf[len(buf)-len(b) : len(buf) : len(buf)]
	}
	msg.Key, msg.Value = take(msg.Key), take(msg.Value)
	if msg.Headers != nil {
		headers := make([]*sarama.RecordHeader, len(msg.Headers))
		for i, h := range msg.Headers {
			headers[i] = &sarama.RecordHeader{Key: take(h.Key), Value: take(h.Value)}
		}
		msg.Headers = headers
	}
	return msg
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
