package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Lease holds messages handed out to one response until the caller knows
// whether they were delivered. Ack marks their offsets, so the group does
// not get them again; Release puts them back at the front of their
// partitions, to be handed out next. Until then nothing more is handed out
// from those partitions. A lease left unsettled when its member's session
// ends counts as released: the offsets were never marked.
type Lease struct {
	Messages []*sarama.ConsumerMessage

	m     *member
	sess  sarama.ConsumerGroupSession
	taken map[int32][]*sarama.ConsumerMessage
	// bytes is what the messages count in the member's leasedBytes.
	bytes int
	once  sync.Once
	// held says the messages wait for a client's commit (ack=manual), for
	// as long as its ackTimeout: other GETs do not wait for them to come
	// back. Guarded by the member's mu.
	held bool
}

// Hold marks the lease as waiting for a client's commit rather than for
// the end of a response.
func (l *Lease) Hold() {
	if l.m == nil {
		return
	}
	l.m.mu.Lock()
	l.held = true
	l.m.mu.Unlock()
}

// Ack records the messages as delivered.
func (l *Lease) Ack() { l.settle(true) }

// Release gives the messages back, undelivered.
func (l *Lease) Release() { l.settle(false) }

// ErrLeaseLost says that a lease's messages can no longer be acknowledged:
// it was settled already, or the group was rebalanced since they were
// handed out, and they are delivered again.
var ErrLeaseLost = errors.New("the messages can no longer be acknowledged")

// Commit records the messages as delivered and commits their offsets to
// Kafka before it returns.
func (l *Lease) Commit() error {
	if l.m == nil {
		return nil
	}
	if !l.settle(true) {
		return ErrLeaseLost
	}
	// sarama's blocking commit reports Kafka's refusals only to the
	// group's errors: the group's coordinator is asked afterwards whether
	// the offsets are there, and the commit tried again when not.
	for attempt := range commitAttempts {
		if attempt > 0 {
			time.Sleep(commitRetryBackoff)
		}
		l.sess.Commit()
		if l.committed() {
			return nil
		}
	}
	return ErrCommitUnconfirmed
}

const (
	commitAttempts     = 3
	commitRetryBackoff = 100 * time.Millisecond
)

// ErrCommitUnconfirmed says that Kafka did not confirm a commit: the
// messages may be delivered again.
var ErrCommitUnconfirmed = errors.New("the commit was not confirmed by Kafka")

// committed tells whether the group's coordinator has the offsets after
// every message of the lease committed.
func (l *Lease) committed() bool {
	m := l.m
	want := map[int32]int64{}
	var partitions []int32
	for p, msgs := range l.taken {
		want[p] = msgs[len(msgs)-1].Offset + 1
		partitions = append(partitions, p)
	}
	coordinator, err := m.client.Coordinator(m.groupID)
	if err != nil {
		return false
	}
	resp, err := coordinator.FetchOffset(sarama.NewOffsetFetchRequest(m.client.Config().Version, m.groupID, map[string][]int32{m.topic: partitions}))
	if err != nil || offsetFetchError(resp, m.groupID) != nil {
		return false
	}
	for p, offset := range want {
		if b := resp.GetBlock(m.topic, p); b == nil || !errors.Is(b.Err, sarama.ErrNoError) || b.Offset < offset {
			return false
		}
	}
	return true
}

// settle settles the lease once and tells whether it was this call that
// did, with every message still the lease's.
func (l *Lease) settle(delivered bool) (ok bool) {
	if l.m == nil {
		return true
	}
	l.once.Do(func() { ok = l.m.settle(l, delivered) })
	return ok
}

// NotOwnerError says that another gateway replica owns the group: GETs
// for it go there.
type NotOwnerError struct {
	Group string
	// Owner is the owner's peer address; empty when the owner has none.
	Owner string
}

func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("consumer group %s is served by the gateway replica at %s", e.Group, e.Owner)
}

// take hands out up to limit buffered messages of partitions not under a
// lease, oldest first across partitions (so that a GET reads as the
// messages were posted), stopping early once their keys, values and
// headers reach maxBytes (but always giving at least one). m.mu must be
// held and m.sess set.
func (m *member) take(limit, maxBytes int) *Lease {
	l := &Lease{m: m, sess: m.sess, taken: map[int32][]*sarama.ConsumerMessage{}}
	taken := 0
	for len(l.Messages) < limit {
		var oldest *partitionBuffer
		for p, pb := range m.parts {
			if len(pb.msgs) == 0 || (pb.leased != nil && pb.leased != l) {
				continue
			}
			if oldest == nil || olderThan(pb.msgs[0], oldest.msgs[0]) || (pb.msgs[0].Timestamp.Equal(oldest.msgs[0].Timestamp) && p < oldest.msgs[0].Partition) {
				oldest = pb
			}
		}
		if oldest == nil {
			break
		}
		msg := oldest.msgs[0]
		if len(l.Messages) > 0 && taken+dataBytes(msg) > maxBytes {
			break
		}
		oldest.msgs[0] = nil
		oldest.msgs = oldest.msgs[1:]
		oldest.leased = l
		taken += dataBytes(msg)
		l.Messages = append(l.Messages, msg)
		l.taken[msg.Partition] = append(l.taken[msg.Partition], msg)
	}
	// The messages count as leased until the lease settles: until then
	// they are in memory as much as buffered ones.
	l.bytes = bytesOf(l.Messages)
	m.bufferedBytes -= l.bytes
	m.leasedBytes += l.bytes
	m.leases++
	m.broadcast()
	return l
}

func olderThan(a, b *sarama.ConsumerMessage) bool { return a.Timestamp.Before(b.Timestamp) }

// settled counts the buffered messages (buffered in all, outside leases)
// that the rest of a partition being fetched cannot be older than: a
// partition that is behind brings messages newer than its own buffered
// ones, but maybe older than another partition's. Handing out the oldest
// messages across partitions (take) is then exact for those: a POST of two
// messages and then one more, each batch on its own partition, reads back
// as posted, even when the second partition's message is handed over by
// sarama between the first partition's two. Within a partition, timestamps
// are taken as ordered (they are unless producers set them out of order,
// and the order across partitions is best effort then). m.mu must be held.
func (m *member) settled(buffered int) int {
	var horizon time.Time
	bounded := false
	for _, pb := range m.parts {
		// A partition with nothing buffered sets no bound: at worst the
		// answer is as it was before any of it was fetched.
		if pb.leased != nil || !pb.behind() || len(pb.msgs) == 0 {
			continue
		}
		if last := pb.msgs[len(pb.msgs)-1].Timestamp; !bounded || last.Before(horizon) {
			horizon, bounded = last, true
		}
	}
	if !bounded {
		return buffered
	}
	n := 0
	for _, pb := range m.parts {
		if pb.leased == nil {
			n += sort.Search(len(pb.msgs), func(i int) bool { return pb.msgs[i].Timestamp.After(horizon) })
		}
	}
	return n
}

// settle ends a lease: delivered messages are marked (and a commit is
// asked for), undelivered ones go back in front of their partitions. A
// lease of an ended session or a revoked partition changes nothing there;
// it tells whether every partition of the lease was still its.
func (m *member) settle(l *Lease, delivered bool) (current bool) {
	m.mu.Lock()
	m.leases--
	m.leasedBytes -= l.bytes
	var free int64
	if m.closed {
		// The member stopped: what it kept reserved for this lease goes.
		free = min(int64(l.bytes), m.kept)
		if m.leases == 0 {
			free = m.kept
		}
		m.kept -= free
	}
	current = true
	for p, msgs := range l.taken {
		pb := m.parts[p]
		if m.sess != l.sess || pb == nil || pb.leased != l {
			// The session ended or the partition was revoked meanwhile:
			// whoever owns it next fetches the messages again.
			current = false
			continue
		}
		pb.leased = nil
		if delivered {
			for _, msg := range msgs {
				l.sess.MarkMessage(msg, "")
			}
			continue
		}
		pb.msgs = append(msgs, pb.msgs...)
		m.bufferedBytes += bytesOf(msgs)
	}
	m.broadcast()
	m.mu.Unlock()
	if free > 0 {
		m.memory.release(free)
	}
	if delivered {
		m.requestCommit()
	}
	return current
}

// waitSettled waits up to timeout for the member's leases to be settled.
func (m *member) waitSettled(timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		leases, changed := m.leases, m.watch()
		m.mu.Unlock()
		if leases == 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			m.log.Warn("leaving the group with messages whose delivery is unknown; they will be delivered again", "leases", leases)
			return
		}
	}
}

// Take hands out up to limit messages under a lease. It waits up to wait
// for a first message; and, whatever wait is, for the member to be
// assigned and for messages Kafka already holds for its partitions, within
// bounds. A member that owns nothing returns a *NotOwnerError. Once
// draining is closed (the gateway is shutting down) it hands out nothing.
func (m *member) Take(ctx context.Context, limit, maxBytes int, wait time.Duration, draining <-chan struct{}) (*Lease, error) {
	start := time.Now()
	pollDeadline := start.Add(wait)
	assignDeadline := start.Add(assignWait)
	// The catch-up wait counts from when the member has partitions, so a
	// slow join does not eat it.
	var catchUpDeadline time.Time
	refreshed := false
	for {
		select {
		case <-draining:
			return nil, errDraining
		default:
		}
		m.mu.Lock()
		// Nothing is handed out to a client that is gone, nor on a
		// session that is ending (its commit may not land).
		if err := ctx.Err(); err != nil {
			m.mu.Unlock()
			return nil, err
		}
		sess, lastErr := m.activeSession(), m.err
		assigned := sess != nil && len(m.parts) > 0
		if sess != nil && !assigned {
			// A member given partitions has their buffers at once (see
			// assigned), so a session without any is not the owner's.
			m.mu.Unlock()
			return nil, &NotOwnerError{Group: m.groupID, Owner: m.owner}
		}
		behind := false
		var parts []int32
		if assigned {
			if catchUpDeadline.IsZero() {
				catchUpDeadline = later(pollDeadline, time.Now().Add(catchUpWait))
			}
			buffered, full := 0, m.bufferedBytes+m.leasedBytes >= m.bufferBytes
			for p, pb := range m.parts {
				parts = append(parts, p)
				// Messages under another response's lease may come
				// back: until it settles, the partition counts as
				// holding more than is buffered (not so for a lease
				// held for a client's commit, which can last minutes).
				behind = behind || pb.behind() || pb.leased != nil && !pb.leased.held
				if pb.leased == nil {
					buffered += len(pb.msgs)
				}
			}
			// While Kafka holds more than is buffered, a short answer
			// waits for the rest: POST then GET returns all that was
			// posted, not the first message of the batch. And a full
			// answer holds only messages that nothing still to be
			// fetched can be older than (see settled).
			enough := m.settled(buffered) >= limit || m.bufferedBytes >= maxBytes || full || !behind || !time.Now().Before(catchUpDeadline)
			if buffered > 0 && enough {
				l := m.take(limit, maxBytes)
				m.mu.Unlock()
				return l, nil
			}
		}
		changed := m.watch()
		m.mu.Unlock()

		var deadline time.Time
		switch {
		case !assigned:
			// sarama retries joining by itself; an error here is one
			// it gave up on since the member last had partitions.
			if lastErr != nil {
				return nil, Classify(lastErr, "group "+m.groupID)
			}
			deadline = assignDeadline
		case behind:
			deadline = catchUpDeadline
		case !refreshed:
			// Messages may have arrived since the last fetch: an empty
			// answer needs Kafka to confirm there is nothing.
			refreshed = true
			if err := m.refreshEnds(sess, parts); err != nil {
				return nil, Classify(err, "topic "+m.topic)
			}
			continue
		default:
			deadline = pollDeadline
		}
		if time.Until(deadline) <= 0 {
			if !assigned {
				err := newError(KindRebalancing, nil, "consumer group %s is being rebalanced and has no partitions assigned after %s: a member that stopped without leaving holds them until its %s session expires; retry",
					m.groupID, assignWait, groupSessionTimeout)
				err.RetryAfter = time.Second
				return nil, err
			}
			if behind {
				m.giveUpCatchingUp(sess)
			}
			return &Lease{}, nil
		}
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-changed:
		case <-timer.C:
		case <-draining:
		case <-ctx.Done():
		}
		timer.Stop()
	}
}

// ErrDraining is what consumes get from a gateway that is shutting down:
// another replica serves the group once this one has left it.
var ErrDraining = errors.New("the gateway is shutting down")

var errDraining = &Error{Kind: KindUnavailable, Err: ErrDraining,
	Message: "this gateway replica is shutting down; retry", RetryAfter: time.Second}

// activeSession is the current session unless it is ending. m.mu must be
// held.
func (m *member) activeSession() sarama.ConsumerGroupSession {
	if m.sess == nil || m.sess.Context().Err() != nil {
		return nil
	}
	return m.sess
}

// giveUpCatchingUp stops waiting for offsets that never arrive: a
// partition's end can sit past its last message (transaction markers,
// compaction), and every GET would otherwise wait out the catch-up bound.
func (m *member) giveUpCatchingUp(sess sarama.ConsumerGroupSession) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sess != sess {
		return
	}
	for _, pb := range m.parts {
		if pb.next >= 0 && pb.next < pb.end && len(pb.msgs) == 0 {
			pb.end = pb.next
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// refreshEnds reads the high-water marks of parts from Kafka.
func (m *member) refreshEnds(sess sarama.ConsumerGroupSession, parts []int32) error {
	for _, p := range parts {
		end, err := m.offsets.GetOffset(m.topic, p, sarama.OffsetNewest)
		if err != nil {
			return err
		}
		m.mu.Lock()
		if pb := m.parts[p]; m.sess == sess && pb != nil && end > pb.end {
			pb.end = end
			m.broadcast()
		}
		m.mu.Unlock()
	}
	return nil
}
