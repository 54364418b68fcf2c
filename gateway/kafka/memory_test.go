package kafka

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestABudgetReservesFromItsParentOrNotAtAll(t *testing.T) {
	gateway := newBudget(100, nil)
	a := newBudget(60, gateway)
	b := newBudget(60, gateway)
	if short := a.reserve(50); short != nil {
		t.Fatalf("a 50 of 60: short %+v", short)
	}
	if short := a.reserve(20); short != a {
		t.Fatalf("a 70 of 60: short %v, want a", short)
	}
	if short := b.reserve(55); short != gateway {
		t.Fatalf("b 55 with 50 left in the gateway: short %v, want gateway", short)
	}
	if a.Used() != 50 || b.Used() != 0 || gateway.Used() != 50 {
		t.Fatalf("a failed reservation took something: a %d b %d gateway %d", a.Used(), b.Used(), gateway.Used())
	}
	a.release(50)
	if short := b.reserve(55); short != nil || gateway.Used() != 55 {
		t.Fatalf("after a's release: short %v, gateway %d", short, gateway.Used())
	}
}

func TestABufferedMessageDoesNotShareTheFetchBuffer(t *testing.T) {
	fetched := []byte("keyvalueHKHV")
	msg := &sarama.ConsumerMessage{Key: fetched[0:3], Value: fetched[3:8],
		Headers: []*sarama.RecordHeader{{Key: fetched[8:10], Value: fetched[10:12]}}, Offset: 7}
	c := copyMessage(msg)
	for i := range fetched {
		fetched[i] = 'x'
	}
	if string(c.Key) != "key" || string(c.Value) != "value" || string(c.Headers[0].Key) != "HK" || string(c.Headers[0].Value) != "HV" || c.Offset != 7 {
		t.Fatalf("copy changed with the fetch buffer: %q %q %q %q", c.Key, c.Value, c.Headers[0].Key, c.Headers[0].Value)
	}
	if want := messageOverhead + headerOverhead + 12; messageBytes(c) != want {
		t.Fatalf("messageBytes %d, want %d", messageBytes(c), want)
	}
	if nilKey := copyMessage(&sarama.ConsumerMessage{Value: []byte("v")}); nilKey.Key != nil {
		t.Fatal("a message without a key got an empty one")
	}
	c.Key = append(c.Key, '!')
	if string(c.Value) != "value" {
		t.Fatal("appending to the key overwrote the value")
	}
}

// POST two messages (one partition), POST one more (another partition),
// GET 2: while the first partition's second message is still being handed
// over, the newer message of the other partition does not count towards a
// full answer; once it is in, all three do.
func TestSettledCountsWhatNothingUnfetchedCanPrecede(t *testing.T) {
	at := func(ms int64) time.Time { return time.UnixMilli(1_700_000_000_000 + ms) }
	first := &sarama.ConsumerMessage{Partition: 2, Offset: 0, Timestamp: at(287)}
	second := &sarama.ConsumerMessage{Partition: 2, Offset: 1, Timestamp: at(287)}
	raw := &sarama.ConsumerMessage{Partition: 0, Offset: 0, Timestamp: at(315)}
	p2 := &partitionBuffer{msgs: []*sarama.ConsumerMessage{first}, next: 1, end: 2}
	m := &member{parts: map[int32]*partitionBuffer{
		0: {msgs: []*sarama.ConsumerMessage{raw}, next: 1, end: 1},
		1: {next: 0, end: 4}, // behind, nothing fetched yet: sets no bound
		2: p2,
	}}
	if n := m.settled(2); n != 1 {
		t.Fatalf("with the second message of partition 2 still to come: %d settled, want 1 (the first)", n)
	}
	p2.msgs, p2.next = append(p2.msgs, second), 2
	if n := m.settled(3); n != 3 {
		t.Fatalf("with partition 2 caught up: %d settled, want 3", n)
	}
}
