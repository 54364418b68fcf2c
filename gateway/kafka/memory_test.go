package kafka

import (
	"testing"

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
