package kafka

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lockMargin is taken off a record's lock when it is handed out: an
// acknowledgement needs a round trip to Kafka, perhaps through another
// replica, before the broker's lock runs out, and the broker starts the
// lock before its answer is sent.
const lockMargin = time.Second

// minHandOut is the least lock a record is handed out with; one that has
// less left (it waited in the member's buffer) goes back to the group.
const minHandOut = time.Second

// defaultLock stands for a lock the broker did not say the length of.
const defaultLock = 30 * time.Second

// queueMember is one kgo client in a share group, handing out one batch
// at a time (see queue).
type queueMember struct {
	id       uint64
	queue    *queue
	limit    int
	cl       *kgo.Client
	reserved int64
	// idle retires the member once it was free for queueMemberIdle.
	idle *time.Timer

	// pollMu serializes the client's polls.
	pollMu sync.Mutex

	// mu guards the batch handed out: its records awaiting an outcome,
	// until lockedUntil, when expiry releases them.
	mu          sync.Mutex
	batch       uint64
	held        map[recordKey]*kgo.Record
	lockedUntil time.Time
	expiry      *time.Timer
	// settled is closed when the batch has no record awaiting an outcome.
	settled chan struct{}

	resultsMu sync.Mutex
	results   kgo.ShareAckResults
}

type recordKey struct {
	partition int32
	offset    int64
}

// newQueueMember makes member id of q, fetching at most limit records at a
// time; it joins the group at its first poll.
func (u *User) newQueueMember(q *queue, id uint64, limit int) (*queueMember, error) {
	reserved := u.opts.queueMemberBytes()
	if err := u.reserveMember(reserved, q.topic, 1); err != nil {
		return nil, err
	}
	m := &queueMember{id: id, queue: q, limit: limit, reserved: reserved, held: map[recordKey]*kgo.Record{}}
	cl, err := kgo.NewClient(u.opts.shareMemberOptions(u.Name, u.password, q.topic, q.groupID, limit, m.collectResults)...)
	if err != nil {
		u.memory.release(reserved)
		return nil, queueError(err, q.groupID)
	}
	m.cl = cl
	m.idle = time.AfterFunc(time.Hour, func() { q.retire(m) })
	m.idle.Stop()
	return m, nil
}

func (m *queueMember) collectResults(_ *kgo.Client, rs kgo.ShareAckResults) {
	m.resultsMu.Lock()
	m.results = append(m.results, rs...)
	m.resultsMu.Unlock()
}

// poll hands out up to limit records as a new batch, waiting up to wait
// for the first; it is called only while nothing awaits an outcome.
// Nothing is held when it returns none.
func (m *queueMember) poll(ctx context.Context, limit int, wait time.Duration) (batch uint64, recs []QueueRecord, err error) {
	m.pollMu.Lock()
	defer m.pollMu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var fetches kgo.Fetches
	for {
		fetches = m.cl.PollRecords(pctx, limit)
		if fetches.NumRecords() > 0 || pctx.Err() != nil || fetches.IsClientClosed() {
			break
		}
		if err := fetchError(fetches); err != nil {
			return 0, nil, queueError(err, m.queue.groupID)
		}
	}
	now := time.Now()
	var handOut, stale []*kgo.Record
	until := time.Time{}
	for _, r := range fetches.Records() {
		d := r.AcquisitionDeadline()
		if d.IsZero() {
			d = now.Add(defaultLock)
		}
		d = d.Add(-lockMargin)
		if d.Sub(now) < minHandOut {
			// It waited in the buffer, fetched while the member still
			// held its previous batch: too little of its lock is left.
			stale = append(stale, r)
			continue
		}
		handOut = append(handOut, r)
		if until.IsZero() || d.Before(until) {
			until = d
		}
	}
	if len(stale) > 0 {
		for _, r := range stale {
			r.Ack(kgo.AckRelease)
		}
		m.flushFor(10 * time.Second)
	}
	if len(handOut) == 0 {
		if err := fetchError(fetches); err != nil {
			return 0, nil, queueError(err, m.queue.groupID)
		}
		if fetches.IsClientClosed() {
			return 0, nil, errDraining
		}
		return 0, nil, nil
	}
	// Every record of the batch gets the earliest lock of them, so that
	// one deadline covers the batch.
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batch = randomID()
	m.settled = make(chan struct{})
	recs = make([]QueueRecord, len(handOut))
	for i, r := range handOut {
		m.held[recordKey{r.Partition, r.Offset}] = r
		recs[i] = QueueRecord{Message: consumerMessage(r), DeliveryCount: int(r.DeliveryCount()), LockedUntil: until}
	}
	m.lockedUntil = until
	m.expiry = time.AfterFunc(time.Until(until), m.expire)
	return m.batch, recs, nil
}

// randomID names a batch, so that a receipt of an earlier batch, or of
// another member that had the same id, never settles this one.
func randomID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// fetchError is the first error of fetches that is not the end of a wait.
func fetchError(fetches kgo.Fetches) error {
	var err error
	fetches.EachError(func(_ string, _ int32, e error) {
		if err == nil && !errors.Is(e, context.DeadlineExceeded) && !errors.Is(e, context.Canceled) && !errors.Is(e, kgo.ErrClientClosed) {
			err = e
		}
	})
	var session *kgo.ErrGroupSession
	if errors.As(err, &session) {
		return session.Err
	}
	return err
}

// consumerMessage is r as the rest of the gateway carries messages.
func consumerMessage(r *kgo.Record) *sarama.ConsumerMessage {
	msg := &sarama.ConsumerMessage{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		msg.Headers = append(msg.Headers, &sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	return msg
}

// ack gives records of batch their outcomes and sends them to Kafka,
// setting errs[i] for acks[i] that failed; it tells whether this settled
// the batch.
func (m *queueMember) ack(ctx context.Context, batch uint64, acks []QueueAck, errs []error) bool {
	m.mu.Lock()
	if batch != m.batch || len(m.held) == 0 || !time.Now().Before(m.lockedUntil) {
		m.mu.Unlock()
		for i := range errs {
			errs[i] = ErrReceiptExpired
		}
		return false
	}
	var sent []int
	for i, a := range acks {
		key := recordKey{a.Partition, a.Offset}
		r := m.held[key]
		if r == nil {
			errs[i] = ErrReceiptExpired // settled already
			continue
		}
		r.Ack(kgo.AckStatus(a.Outcome))
		delete(m.held, key)
		sent = append(sent, i)
	}
	settled := len(m.held) == 0
	if settled {
		m.expiry.Stop()
		close(m.settled)
	}
	m.mu.Unlock()
	if len(sent) > 0 {
		failed, all := m.flush(ctx)
		for _, i := range sent {
			if err, ok := failed[acks[i].Partition]; ok || all != nil {
				if all != nil {
					err = all
				}
				errs[i] = queueError(err, m.queue.groupID)
			}
		}
	}
	return settled
}

// expire gives back, for another delivery, what the client did not
// acknowledge in time, and frees the member.
func (m *queueMember) expire() {
	m.mu.Lock()
	if len(m.held) == 0 {
		m.mu.Unlock()
		return
	}
	for key, r := range m.held {
		r.Ack(kgo.AckRelease)
		delete(m.held, key)
	}
	close(m.settled)
	m.mu.Unlock()
	m.flushFor(10 * time.Second)
	m.releaseBuffered()
	m.queue.put(m)
}

// releaseBuffered gives back the records m fetched that no GET took: a
// fetch that landed after its GET stopped waiting, or one kgo made while
// the member still held its batch.
func (m *queueMember) releaseBuffered() {
	m.pollMu.Lock()
	defer m.pollMu.Unlock()
	// kgo takes a nil context as "what is buffered, without waiting".
	//lint:ignore SA1012 see above
	fetches := m.cl.PollRecords(nil, m.limit)
	if fetches.NumRecords() == 0 {
		return
	}
	fetches.EachRecord(func(r *kgo.Record) { r.Ack(kgo.AckRelease) })
	m.flushFor(10 * time.Second)
}

// flushFor flushes, waiting up to d; what it could not send, the broker
// releases when its lock runs out.
func (m *queueMember) flushFor(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, _ = m.flush(ctx)
}

// flush sends the outcomes given so far. It returns the partitions Kafka
// did not take them for, with why, or an error for all of them when the
// flush did not finish. Two flushes at once may each see the other's
// results: a failure is then reported for both, never a success for a
// failure.
func (m *queueMember) flush(ctx context.Context) (map[int32]error, error) {
	m.resultsMu.Lock()
	m.results = nil
	m.resultsMu.Unlock()
	if err := m.cl.FlushAcks(ctx); err != nil {
		return nil, err
	}
	m.resultsMu.Lock()
	defer m.resultsMu.Unlock()
	failed := map[int32]error{}
	for _, r := range m.results {
		if r.Err != nil {
			failed[r.Partition] = r.Err
		}
	}
	return failed, nil
}

// close leaves the group once the batch handed out is settled or its lock
// ran out, at the latest; kgo gives back what the member still holds.
func (m *queueMember) close() {
	m.mu.Lock()
	settled, until := m.settled, m.lockedUntil
	m.mu.Unlock()
	if settled != nil {
		select {
		case <-settled:
		case <-time.After(time.Until(until)):
		}
	}
	m.mu.Lock()
	if m.expiry != nil {
		m.expiry.Stop()
	}
	m.held = map[recordKey]*kgo.Record{}
	m.mu.Unlock()
	m.cl.Close()
	m.queue.user.memory.release(m.reserved)
}
