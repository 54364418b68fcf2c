package kafka

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A queue is one replica's share of a share group (user, topic, group):
// members, each a kgo client in the group. The broker owns every record's
// state, so any replica serves any GET of the group and no replica owns it.
//
// A member hands out one batch at a time and is busy until each record of
// it is acknowledged or its lock ran out: kgo accepts whatever the previous
// poll returned and nobody acknowledged when it polls again, so a member
// polls only once every record it handed out has its outcome. Concurrent
// GETs of a group therefore use as many members as there are batches
// awaiting acknowledgement, up to maxQueueMembers per replica.

// maxQueueMembers bounds a queue's members on one replica: its batches
// awaiting acknowledgement at once.
const maxQueueMembers = 16

// queueMemberIdle is how long a member with nothing handed out stays in
// its group; past it, it leaves, and records a late fetch brought go back
// to the group at once rather than when their lock runs out.
const queueMemberIdle = 5 * time.Second

type queue struct {
	user    *User
	topic   string
	groupID string

	mu      sync.Mutex
	members map[uint64]*queueMember
	// free are the members with nothing handed out, most recently used last.
	free   []*queueMember
	nextID uint64
	// prepared is closed once the group's type was checked and its
	// settings given, by the first GET; err is its outcome.
	prepared chan struct{}
	err      error
	closed   bool
	// dropped is set when the user forgot the queue: a GET that found it
	// just before looks again.
	dropped bool
}

// errQueueDropped makes a GET look its queue up again.
var errQueueDropped = errors.New("queue dropped")

// QueueRecord is a record handed out in queue mode.
type QueueRecord struct {
	Message *sarama.ConsumerMessage
	// DeliveryCount is 1 at the first delivery, and counts redeliveries.
	DeliveryCount int
	// LockedUntil is when the broker gives the record to another consumer
	// unless it is acknowledged.
	LockedUntil time.Time
}

// QueueBatch is what a queue-mode GET hands out: records locked for this
// request by one member, which Ack settles.
type QueueBatch struct {
	Member uint64
	// Batch tells this batch from the member's others.
	Batch   uint64
	Records []QueueRecord
}

// Outcome is a client's verdict on a queue record.
type Outcome int8

const (
	// Accept: done; the record is never delivered again.
	Accept = Outcome(kgo.AckAccept)
	// Release: deliver it again now, to any consumer.
	Release = Outcome(kgo.AckRelease)
	// Reject: never deliver it again; Kafka archives it.
	Reject = Outcome(kgo.AckReject)
)

// QueueAck is an outcome for one record of a member's batch.
type QueueAck struct {
	Partition int32
	Offset    int64
	Outcome   Outcome
}

// ErrReceiptExpired says a record is no longer held for the client: its
// lock ran out, or the member that held it is gone. The record is
// delivered again (unless it reached the group's delivery limit).
var ErrReceiptExpired = errors.New("receipt expired")

// QueueFetch hands out up to limit records of user's share group groupID
// on topic, waiting up to wait for the first. The caller writes them to
// its client; they stay locked until QueueAck or their lock runs out.
func (u *User) QueueFetch(ctx context.Context, topic, groupID string, limit int, wait time.Duration) (*QueueBatch, error) {
	if isClosed(u.draining) {
		return nil, errDraining
	}
	// A replica shutting down hands out nothing more: what it handed out
	// it gives back as it leaves.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-u.draining:
			cancel()
		case <-ctx.Done():
		}
	}()
	var m *queueMember
	for m == nil {
		q := u.queue(topic, groupID)
		if err := q.prepare(ctx); err != nil {
			return nil, err
		}
		var err error
		m, err = q.take(limit)
		if err != nil && !errors.Is(err, errQueueDropped) {
			// A queue left without members is forgotten, not kept open.
			u.dropQueue(q)
			return nil, err
		}
	}
	q := m.queue
	batch, recs, err := m.poll(ctx, limit, wait)
	if err == nil && len(recs) == 0 && isClosed(u.draining) {
		err = errDraining
	}
	if err != nil || len(recs) == 0 {
		q.put(m)
		// A fetch still under way when the wait ended can bring records
		// after it: they are locked for a GET that is gone.
		time.AfterFunc(lateFetch, func() { q.releaseLate(m) })
		return &QueueBatch{Member: m.id}, err
	}
	return &QueueBatch{Member: m.id, Batch: batch, Records: recs}, nil
}

// QueueAck settles records of batch that member of user's share group
// groupID on topic handed out. The error of each ack is nil,
// ErrReceiptExpired, or what Kafka answered.
func (u *User) QueueAck(ctx context.Context, topic, groupID string, member, batch uint64, acks []QueueAck) []error {
	errs := make([]error, len(acks))
	u.queuesMu.Lock()
	q := u.queues[memberKey{topic, groupID}]
	u.queuesMu.Unlock()
	var m *queueMember
	if q != nil {
		q.mu.Lock()
		m = q.members[member]
		q.mu.Unlock()
	}
	if m == nil {
		for i := range errs {
			errs[i] = ErrReceiptExpired
		}
		return errs
	}
	if m.ack(ctx, batch, acks, errs) {
		m.releaseBuffered()
		q.put(m)
	}
	return errs
}

// queue returns the user's queue of groupID on topic, made if need be.
func (u *User) queue(topic, groupID string) *queue {
	u.queuesMu.Lock()
	defer u.queuesMu.Unlock()
	key := memberKey{topic, groupID}
	q := u.queues[key]
	if q == nil {
		q = &queue{user: u, topic: topic, groupID: groupID, members: map[uint64]*queueMember{}, prepared: make(chan struct{})}
		u.queues[key] = q
		go q.prepareOnce()
	}
	return q
}

// prepareOnce checks the group's type and gives it its settings, once per
// queue: a failure is the answer of every GET until the queue is closed.
func (q *queue) prepareOnce() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(q.user.opts.queueClientOptions(q.user.Name, q.user.password)...)
	if err == nil {
		err = prepareShareGroup(ctx, cl, q.groupID, q.user.opts.Queue)
		cl.Close()
	} else {
		err = queueError(err, q.groupID)
	}
	q.err = err
	close(q.prepared)
	if err != nil {
		// The next GET tries again.
		q.user.dropQueue(q)
	}
}

func (q *queue) prepare(ctx context.Context) error {
	select {
	case <-q.prepared:
		return q.err
	case <-ctx.Done():
		return newError(KindUnavailable, ctx.Err(), "Kafka is unavailable: timed out preparing queue group %s", q.groupID)
	}
}

// take returns a free member that fetches limit records at most, or a new
// one.
func (q *queue) take(limit int) (*queueMember, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil, newError(KindUnavailable, ErrDraining, "the gateway is shutting down")
	}
	if q.dropped {
		q.mu.Unlock()
		return nil, errQueueDropped
	}
	for i := len(q.free) - 1; i >= 0; i-- {
		if m := q.free[i]; m.limit == limit {
			q.free = append(q.free[:i], q.free[i+1:]...)
			m.idle.Stop()
			q.mu.Unlock()
			return m, nil
		}
	}
	if len(q.members) >= maxQueueMembers {
		// A free member fetching another limit makes room.
		if len(q.free) == 0 {
			q.mu.Unlock()
			err := newError(KindThrottled, nil, "%d batches of group %s await acknowledgement on this gateway replica; acknowledge some, or wait for their locks to run out", maxQueueMembers, q.groupID)
			err.RetryAfter = time.Second
			return nil, err
		}
		old := q.free[0]
		q.free = q.free[1:]
		delete(q.members, old.id)
		old.idle.Stop()
		go old.close()
	}
	q.nextID++
	id := q.nextID
	q.mu.Unlock()

	m, err := q.user.newQueueMember(q, id, limit)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.dropped {
		go m.close()
		if q.dropped {
			return nil, errQueueDropped
		}
		return nil, newError(KindUnavailable, ErrDraining, "the gateway is shutting down")
	}
	q.members[id] = m
	return m, nil
}

// put makes m free again once nothing it handed out awaits an outcome.
func (q *queue) put(m *queueMember) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.members[m.id] != m {
		return
	}
	q.free = append(q.free, m)
	m.idle.Reset(queueMemberIdle)
}

// lateFetch is how long after a GET that got nothing its member looks for
// records that came late: longer than a share fetch waits at the broker.
const lateFetch = 2 * queueFetchWait

// releaseLate gives back what came to m after its GET stopped waiting, if
// m is still free, so that other consumers get it now rather than when
// its lock runs out.
func (q *queue) releaseLate(m *queueMember) {
	if !q.takeFree(m) {
		return // handed out since: that GET gets them
	}
	m.releaseBuffered()
	q.put(m)
}

// takeFree takes m out of the free members, if it is one.
func (q *queue) takeFree(m *queueMember) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, f := range q.free {
		if f == m {
			q.free = append(q.free[:i], q.free[i+1:]...)
			m.idle.Stop()
			return true
		}
	}
	return false
}

// retire closes m after it was idle for queueMemberIdle.
func (q *queue) retire(m *queueMember) {
	if !q.takeFree(m) {
		return // taken meanwhile
	}
	q.mu.Lock()
	delete(q.members, m.id)
	empty := len(q.members) == 0
	q.mu.Unlock()
	m.close()
	if empty {
		q.user.dropQueue(q)
	}
}

// close closes every member once what it handed out is settled or its
// lock ran out; meanwhile the members still take acknowledgements.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	members := make([]*queueMember, 0, len(q.members))
	for _, m := range q.members {
		members = append(members, m)
	}
	q.free = nil
	q.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Go(m.close)
	}
	wg.Wait()
	q.mu.Lock()
	q.members = map[uint64]*queueMember{}
	q.mu.Unlock()
}

// dropQueue forgets q if it is still the user's queue of its group and has
// no members.
func (u *User) dropQueue(q *queue) {
	u.queuesMu.Lock()
	defer u.queuesMu.Unlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	key := memberKey{q.topic, q.groupID}
	if len(q.members) == 0 && u.queues[key] == q {
		delete(u.queues, key)
		q.dropped = true
	}
}

// closeQueues closes all of the user's queues; they take acknowledgements
// until they are closed.
func (u *User) closeQueues() {
	u.queuesMu.Lock()
	queues := make(map[memberKey]*queue, len(u.queues))
	maps.Copy(queues, u.queues)
	u.queuesMu.Unlock()
	var wg sync.WaitGroup
	for _, q := range queues {
		wg.Go(q.close)
	}
	wg.Wait()
	u.queuesMu.Lock()
	for key, q := range queues {
		if u.queues[key] == q {
			delete(u.queues, key)
		}
	}
	u.queuesMu.Unlock()
}
