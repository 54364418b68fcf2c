package kafka

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

const (
	// assignWait bounds how long a GET waits for its member to be given
	// partitions (joining a group takes a few round trips).
	assignWait = 10 * time.Second
	// catchUpWait bounds how long a GET waits for messages Kafka is known
	// to hold for an assigned partition but has not fetched yet.
	catchUpWait = 5 * time.Second
	// maxPendingPerPartition bounds fetched messages kept per partition.
	maxPendingPerPartition = 1000
	// retryBackoff spaces attempts to rejoin a group after an error.
	retryBackoff = time.Second
)

type memberKey struct{ topic, group string }

// member is one consumer group member kept in the gateway for a (user,
// topic, group). Kafka assigns it partitions; it fetches their messages into
// per-partition buffers, and GET requests take from those buffers. A
// message's offset is marked only when it goes into a response, so messages
// fetched but not handed out are fetched again after a restart or a
// rebalance instead of being skipped.
type member struct {
	topic, groupID string
	client         sarama.Client
	group          sarama.ConsumerGroup
	// offsets is the user's shared client, used to look up partition
	// offsets: the member's own connections are held by long-poll fetches.
	offsets     sarama.Client
	log         *slog.Logger
	bufferBytes int
	cancel      context.CancelFunc
	stopped     chan struct{}
	commits     chan struct{}

	mu sync.Mutex
	// changed is closed and replaced on every change below, waking waiters.
	changed      chan struct{}
	sess         sarama.ConsumerGroupSession
	parts        map[int32]*partitionBuffer
	pendingBytes int
	err          error
	active       int
	lastUsed     time.Time
}

// partitionBuffer holds what was fetched from one partition and not yet
// handed out.
type partitionBuffer struct {
	msgs []*sarama.ConsumerMessage
	// next is the offset Kafka gives this member next; -1 until known.
	next int64
	// end is the high-water mark last seen: offsets below it exist.
	end int64
}

func (pb *partitionBuffer) behind() bool { return pb.next < 0 || pb.next < pb.end }

// Consume hands out up to limit messages of topic to the user's consumer
// group groupID (see member.Take). Once the messages are in the response,
// the caller calls commit so that the group does not get them again.
func (u *User) Consume(ctx context.Context, topic, groupID string, limit, maxBytes int, wait time.Duration) (msgs []*sarama.ConsumerMessage, commit func(), err error) {
	m, err := u.member(topic, groupID)
	if err != nil {
		return nil, nil, err
	}
	defer m.use(-1)
	msgs, err = m.Take(ctx, limit, maxBytes, wait, u.draining)
	return msgs, m.requestCommit, err
}

// member returns the user's consumer group member for (topic, group),
// joining the group on first use. groupID is the Kafka group id.
func (u *User) member(topic, groupID string) (*member, error) {
	key := memberKey{topic, groupID}
	u.membersMu.Lock()
	defer u.membersMu.Unlock()
	if m := u.members[key]; m != nil {
		m.use(+1)
		return m, nil
	}
	if len(u.members) >= maxMembersPerUser {
		err := newError(KindThrottled, nil, "user %s has %d consumer groups open in this gateway; each closes after %s unused",
			u.Name, maxMembersPerUser, u.tuning.ConsumerIdleTimeout)
		err.RetryAfter = u.tuning.ConsumerIdleTimeout
		return nil, err
	}
	client, err := sarama.NewClient(u.opts.Brokers, u.opts.consumerConfig(u.Name, u.password))
	if err != nil {
		return nil, Classify(err, "group "+groupID)
	}
	group, err := sarama.NewConsumerGroupFromClient(groupID, client)
	if err != nil {
		_ = client.Close()
		return nil, Classify(err, "group "+groupID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{
		topic:       topic,
		groupID:     groupID,
		client:      client,
		group:       group,
		offsets:     u.client,
		log:         u.log.With("topic", topic, "group", groupID),
		bufferBytes: u.tuning.BufferBytes,
		cancel:      cancel,
		stopped:     make(chan struct{}),
		commits:     make(chan struct{}, 1),
		changed:     make(chan struct{}),
	}
	m.use(+1)
	u.members[key] = m
	go m.run(ctx)
	go m.commitLoop(ctx)
	return m, nil
}

// use counts requests working with the member, so that it is not closed
// as idle under one of them.
func (m *member) use(delta int) {
	m.mu.Lock()
	m.active += delta
	m.lastUsed = time.Now()
	m.mu.Unlock()
}

func (m *member) idleSince(now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active > 0 {
		return 0
	}
	return now.Sub(m.lastUsed)
}

// broadcast wakes everyone waiting on m.changed. m.mu must be held.
func (m *member) broadcast() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *member) run(ctx context.Context) {
	defer close(m.stopped)
	go func() {
		// Errors of a running session (a failed fetch or commit) are
		// retried by sarama; they are only logged.
		for err := range m.group.Errors() {
			m.log.Warn("consumer group member error", "error", err)
		}
	}()
	for ctx.Err() == nil {
		started := time.Now()
		err := m.group.Consume(ctx, []string{m.topic}, m)
		if ctx.Err() != nil || errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return
		}
		if err != nil {
			// Joining failed after sarama's own retries: GETs waiting for
			// an assignment get this error.
			m.setErr(err)
		}
		if err != nil || time.Since(started) < retryBackoff {
			// A session that ends at once would otherwise spin.
			select {
			case <-time.After(retryBackoff):
			case <-ctx.Done():
			}
		}
	}
}

func (m *member) setErr(err error) {
	m.log.Warn("joining the consumer group failed", "error", err)
	m.mu.Lock()
	m.err = err
	m.broadcast()
	m.mu.Unlock()
}

// commitLoop commits marked offsets soon after each response, one commit
// at a time however many responses asked for one.
func (m *member) commitLoop(ctx context.Context) {
	for {
		select {
		case <-m.commits:
		case <-ctx.Done():
			return
		}
		m.mu.Lock()
		sess := m.sess
		m.mu.Unlock()
		if sess != nil && sess.Context().Err() == nil {
			sess.Commit()
		}
	}
}

// requestCommit asks for the offsets marked so far to be committed.
func (m *member) requestCommit() {
	select {
	case m.commits <- struct{}{}:
	default:
	}
}

// Setup is called by sarama when the member was given its partitions.
func (m *member) Setup(sess sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sess = sess
	m.parts = map[int32]*partitionBuffer{}
	for _, p := range sess.Claims()[m.topic] {
		m.parts[p] = &partitionBuffer{next: -1}
	}
	m.pendingBytes = 0
	m.err = nil
	m.broadcast()
	return nil
}

// Cleanup is called by sarama when the session ends. Messages still
// buffered are dropped unmarked: whoever owns the partition next fetches
// them again from the committed offset.
func (m *member) Cleanup(sess sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sess == sess {
		m.sess = nil
		m.parts = nil
		m.pendingBytes = 0
		m.err = nil
		m.broadcast()
	}
	return nil
}

// ConsumeClaim moves one partition's messages into its buffer.
func (m *member) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	next := claim.InitialOffset()
	if next < 0 {
		// No committed offset yet: the claim starts at the oldest message.
		resolved, err := m.offsets.GetOffset(m.topic, claim.Partition(), next)
		if err != nil {
			resolved = 0
		}
		next = resolved
	}
	end, err := m.offsets.GetOffset(m.topic, claim.Partition(), sarama.OffsetNewest)
	if err != nil {
		end = next
	}
	m.mu.Lock()
	if pb := m.parts[claim.Partition()]; m.sess == sess && pb != nil {
		pb.next, pb.end = next, end
		m.broadcast()
	}
	m.mu.Unlock()

	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok || !m.push(sess, msg, claim.HighWaterMarkOffset()) {
				return nil
			}
		case <-sess.Context().Done():
			return nil
		}
	}
}

// push appends msg to its partition's buffer, waiting while the buffer is
// full. It returns false when the session ended.
func (m *member) push(sess sarama.ConsumerGroupSession, msg *sarama.ConsumerMessage, hwm int64) bool {
	for {
		m.mu.Lock()
		if m.sess != sess || sess.Context().Err() != nil {
			m.mu.Unlock()
			return false
		}
		pb := m.parts[msg.Partition]
		if pb == nil {
			m.mu.Unlock()
			return false
		}
		if len(pb.msgs) == 0 || (len(pb.msgs) < maxPendingPerPartition && m.pendingBytes < m.bufferBytes) {
			pb.msgs = append(pb.msgs, msg)
			m.pendingBytes += len(msg.Value)
			pb.next = msg.Offset + 1
			pb.end = max(pb.end, hwm)
			m.broadcast()
			m.mu.Unlock()
			return true
		}
		changed := m.changed
		m.mu.Unlock()
		select {
		case <-changed:
		case <-sess.Context().Done():
			return false
		}
	}
}

// take hands out up to limit buffered messages, oldest first across
// partitions (so that a GET reads as the messages were posted), stopping
// early once their values reach maxBytes (but always giving at least one),
// and marks them. m.mu must be held and m.sess set.
func (m *member) take(limit, maxBytes int) []*sarama.ConsumerMessage {
	var out []*sarama.ConsumerMessage
	bytes := 0
	for len(out) < limit {
		var oldest *partitionBuffer
		for p, pb := range m.parts {
			if len(pb.msgs) == 0 {
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
		if len(out) > 0 && bytes+len(msg.Value) > maxBytes {
			break
		}
		oldest.msgs[0] = nil
		oldest.msgs = oldest.msgs[1:]
		bytes += len(msg.Value)
		out = append(out, msg)
		m.sess.MarkMessage(msg, "")
	}
	if len(out) > 0 {
		m.pendingBytes -= bytes
		m.broadcast()
	}
	return out
}

func olderThan(a, b *sarama.ConsumerMessage) bool { return a.Timestamp.Before(b.Timestamp) }

// Take hands out up to limit messages. It waits up to wait for a first
// message; and, whatever wait is, for the member to be assigned and for
// messages Kafka already holds for its partitions, within bounds. Once
// draining is closed (the gateway is shutting down) it hands out nothing.
func (m *member) Take(ctx context.Context, limit, maxBytes int, wait time.Duration, draining <-chan struct{}) ([]*sarama.ConsumerMessage, error) {
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
			return nil, nil
		default:
		}
		m.mu.Lock()
		// Nothing is handed out to a client that is gone, nor marked on a
		// session that is ending (its commit may not land).
		if err := ctx.Err(); err != nil {
			m.mu.Unlock()
			return nil, err
		}
		sess, lastErr := m.activeSession(), m.err
		behind := false
		var parts []int32
		if sess != nil {
			if catchUpDeadline.IsZero() {
				catchUpDeadline = later(pollDeadline, time.Now().Add(catchUpWait))
			}
			buffered, full := 0, m.pendingBytes >= m.bufferBytes
			for p, pb := range m.parts {
				behind = behind || pb.behind()
				parts = append(parts, p)
				buffered += len(pb.msgs)
				full = full || len(pb.msgs) >= maxPendingPerPartition
			}
			// While Kafka holds more than is buffered, a short answer
			// waits for the rest: POST then GET returns all that was
			// posted, not the first message of the batch.
			enough := buffered >= limit || m.pendingBytes >= maxBytes || full || !behind || !time.Now().Before(catchUpDeadline)
			if buffered > 0 && enough {
				out := m.take(limit, maxBytes)
				m.mu.Unlock()
				return out, nil
			}
		}
		changed := m.changed
		m.mu.Unlock()

		var deadline time.Time
		switch {
		case sess == nil:
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
			if sess == nil {
				return nil, newError(KindUnavailable, nil, "the consumer group %s is still being assigned partitions", m.groupID)
			}
			if behind {
				m.giveUpCatchingUp(sess)
			}
			return nil, nil
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

// close leaves the group; the session's end commits the marked offsets.
func (m *member) close() {
	m.cancel()
	<-m.stopped
	if err := m.group.Close(); err != nil {
		m.log.Warn("leaving consumer group", "error", err)
	}
	if err := m.client.Close(); err != nil && !errors.Is(err, sarama.ErrClosedClient) {
		m.log.Warn("closing consumer client", "error", err)
	}
}
