package kafka

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

const (
	// assignWait bounds how long a GET waits for its member to be given
	// partitions. Joining takes a few round trips, but after a replica
	// stopped without leaving (a crash, SIGKILL) Kafka waits for its
	// session to expire before it assigns the partitions again.
	assignWait = groupSessionTimeout + 5*time.Second
	// catchUpWait bounds how long a GET waits for messages Kafka is known
	// to hold for an assigned partition but has not fetched yet.
	catchUpWait = 5 * time.Second
	// retryBackoff spaces attempts to rejoin a group after an error.
	retryBackoff = time.Second
	// settleWait bounds how long a member that is leaving its group waits
	// for the outcome of the messages it handed out (see Lease).
	settleWait = 10 * time.Second
)

type memberKey struct{ topic, group string }

// member is one consumer group member kept in the gateway for a (user,
// topic, group). The group's owner strategy gives every partition to one
// member, the owner; it fetches their messages into per-partition buffers,
// and GET requests take from those buffers. The other members own nothing
// and know the owner's peer address, to which their replicas forward GETs.
// A message's offset is marked only once its response was delivered (see
// Lease), so messages fetched but not delivered are fetched again after a
// restart or a rebalance instead of being skipped.
type member struct {
	topic, groupID string
	// self is this replica's peer address; owner is the owner's, as the
	// last assignment said ("" until the first one).
	self, owner string
	client      sarama.Client
	group       sarama.ConsumerGroup
	// offsets is the user's shared client, used to look up partition
	// offsets: the member's own connections are held by long-poll fetches.
	offsets     sarama.Client
	log         *slog.Logger
	bufferBytes int
	// memory is the user's budget; the member holds reserved bytes of it
	// from its start to its close (see memberBytes).
	memory   *budget
	reserved int64
	cancel   context.CancelFunc
	stopped  chan struct{}
	commits  chan struct{}

	mu sync.Mutex
	// changed is closed and replaced on every change below that someone
	// waits for (watched, see watch), waking the waiters.
	changed  chan struct{}
	watched  bool
	sess     sarama.ConsumerGroupSession
	parts    map[int32]*partitionBuffer
	err      error
	active   int
	lastUsed time.Time
	// leases counts leases handed out and not yet settled.
	leases int
	// bufferedBytes is what the session's partition buffers hold,
	// leasedBytes what leases not yet settled hold, whatever their session:
	// together they stay within bufferBytes (and one message).
	bufferedBytes int
	leasedBytes   int
	// closed says the member stopped; kept is what it still holds of
	// reserved for leases not settled then (see stop).
	closed bool
	kept   int64
}

// partitionBuffer holds what was fetched from one partition and not yet
// handed out.
type partitionBuffer struct {
	msgs []*sarama.ConsumerMessage
	// next is the offset Kafka gives this member next; -1 until known.
	next int64
	// end is the high-water mark last seen: offsets below it exist.
	end int64
	// leased is the lease holding this partition's messages that were
	// handed out and await delivery; nothing more is handed out from the
	// partition meanwhile, which keeps it in order and read once.
	leased *Lease
}

func (pb *partitionBuffer) behind() bool { return pb.next < 0 || pb.next < pb.end }

// Consume hands out up to limit messages of topic to the user's consumer
// group groupID (see member.Take) under a lease: the caller settles it,
// Ack once the messages were delivered, Release if not. When another
// replica owns the group it returns a *NotOwnerError naming it.
func (u *User) Consume(ctx context.Context, topic, groupID string, limit, maxBytes int, wait time.Duration) (*Lease, error) {
	m, err := u.member(topic, groupID)
	if err != nil {
		return nil, err
	}
	defer m.use(-1)
	return m.Take(ctx, limit, maxBytes, wait, u.draining)
}

// member returns the user's consumer group member for (topic, group),
// joining the group on first use. groupID is the Kafka group id. The first
// request of a new member opens it; requests that come while it connects
// wait for it and share its outcome, so that clients joining a group
// together reserve one member's memory, not one each.
func (u *User) member(topic, groupID string) (res *member, err error) {
	if isClosed(u.draining) {
		// A member joining now would only delay the replica taking over.
		return nil, errDraining
	}
	key := memberKey{topic, groupID}
	u.membersMu.Lock()
	if u.pausedLocked(groupID) {
		u.membersMu.Unlock()
		return nil, errGroupReset
	}
	if m := u.members[key]; m != nil {
		m.use(+1)
		u.membersMu.Unlock()
		return m, nil
	}
	if o := u.opening[key]; o != nil {
		o.waiters++
		u.membersMu.Unlock()
		<-o.done
		if o.err != nil {
			return nil, o.err
		}
		return o.m, nil
	}
	o := &opening{done: make(chan struct{}), err: errOpeningFailed}
	u.opening[key] = o
	u.membersMu.Unlock()
	// The waiters are released whatever happens, a panic included:
	// otherwise every later request of the group would wait forever.
	defer close(o.done)
	var m *member
	defer func() {
		u.membersMu.Lock()
		delete(u.opening, key)
		if o.err == nil && isClosed(u.draining) {
			o.err = errDraining
		}
		if o.err == nil && u.pausedLocked(groupID) {
			// Its offsets are being reset: it must not join now.
			o.err = errGroupReset
		}
		if o.err == nil {
			// This request and every one that waited use it.
			m.use(1 + o.waiters)
			u.members[key] = m
			ctx, cancel := context.WithCancel(context.Background())
			m.cancel = cancel
			go m.run(ctx)
			go m.commitLoop(ctx)
			o.m = m
		}
		u.membersMu.Unlock()
		if o.err != nil {
			if m != nil {
				m.discard()
			}
			res, err = nil, o.err
		}
	}()
	m, o.err = u.openMember(topic, groupID)
	return m, o.err
}

// errOpeningFailed is what the requests waiting for a member get when its
// opening ended without an outcome (a panic).
var errOpeningFailed = newError(KindInternal, nil, "opening the consumer group member failed")

// opening is a member being opened, and what came of it.
type opening struct {
	done chan struct{}
	// waiters counts the requests waiting for it; set under membersMu.
	waiters int
	m       *member
	err     error
}

// openMember reserves the memory of a member of (topic, groupID) and
// connects it, not started yet.
func (u *User) openMember(topic, groupID string) (*member, error) {
	partitions, err := u.client.Partitions(topic)
	if err != nil {
		return nil, Classify(err, "topic "+topic)
	}
	reserved := u.opts.memberBytes(len(partitions), len(u.client.Brokers()), u.tuning.BufferBytes)
	if err := u.reserveMember(reserved, topic, len(partitions)); err != nil {
		return nil, err
	}
	// Connecting takes round trips to Kafka: other requests of the user,
	// and the making of room for them, do not wait for it.
	m, err := u.newMember(topic, groupID, reserved)
	if err != nil {
		u.memory.release(reserved)
		return nil, err
	}
	return m, nil
}

// newMember connects a member of groupID for topic, not started yet, that
// holds reserved bytes of the user's budget.
func (u *User) newMember(topic, groupID string, reserved int64) (*member, error) {
	m := &member{
		topic:       topic,
		groupID:     groupID,
		self:        u.opts.PeerAddress,
		offsets:     u.client,
		log:         u.log.With("topic", topic, "group", groupID),
		bufferBytes: u.tuning.BufferBytes,
		memory:      u.memory,
		reserved:    reserved,
		stopped:     make(chan struct{}),
		commits:     make(chan struct{}, 1),
		changed:     make(chan struct{}),
	}
	cfg := u.opts.consumerConfig(u.Name, u.password)
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{newOwnerStrategy(m.self, m.assigned)}
	client, err := sarama.NewClient(u.opts.Brokers, cfg)
	if err != nil {
		return nil, Classify(err, "group "+groupID)
	}
	group, err := sarama.NewConsumerGroupFromClient(groupID, client)
	if err != nil {
		_ = client.Close()
		return nil, Classify(err, "group "+groupID)
	}
	m.client, m.group = client, group
	return m, nil
}

// discard closes a member that was never started, and gives its memory
// back.
func (m *member) discard() {
	_ = m.group.Close()
	_ = m.client.Close()
	m.memory.release(m.reserved)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
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
	if m.active > 0 || m.leases > 0 {
		// Messages handed out await their outcome (a commit, with
		// ack=manual): the member is in use until they have it.
		return 0
	}
	return now.Sub(m.lastUsed)
}

// broadcast wakes everyone waiting on m.changed. m.mu must be held.
// Without a waiter it does nothing: the fetching side calls it for every
// message, and a channel made and closed each time cost a tenth of a
// drain's CPU.
func (m *member) broadcast() {
	if !m.watched {
		return
	}
	close(m.changed)
	m.changed = make(chan struct{})
	m.watched = false
}

// watch returns the channel the next broadcast closes, for a caller that
// is about to wait for a change. m.mu must be held.
func (m *member) watch() <-chan struct{} {
	m.watched = true
	return m.changed
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
	if errors.Is(err, sarama.ErrGroupIDNotFound) || errors.Is(err, sarama.ErrInconsistentGroupProtocol) {
		// Kafka keeps a group to the type of its first use: this one is
		// a share group, made by queue mode.
		err = newError(KindConflict, ErrGroupModeConflict, "group %s is used in queue mode (a Kafka share group); a classic GET needs a group of its own", m.groupID)
	}
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

// Setup is called by sarama when the member's session starts.
func (m *member) Setup(sess sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sess = sess
	m.parts = map[int32]*partitionBuffer{}
	for _, p := range sess.Claims()[m.topic] {
		m.parts[p] = &partitionBuffer{next: -1}
	}
	m.bufferedBytes = 0
	m.err = nil
	m.broadcast()
	return nil
}

// assigned is called by the owner strategy with each assignment the member
// receives: the owner's address and the partitions given to this member.
// Within a session (the cooperative protocol keeps it across rebalances)
// the buffers follow the assignment at once, so that a member that became
// the owner is not mistaken for a member that forwards, and a revoked
// partition's fetching stops.
func (m *member) assigned(owner string, topics map[string][]int32) {
	partitions := topics[m.topic]
	m.mu.Lock()
	defer m.mu.Unlock()
	m.owner = owner
	if m.sess != nil {
		for _, p := range partitions {
			if m.parts[p] == nil {
				m.parts[p] = &partitionBuffer{next: -1}
			}
		}
		for p, pb := range m.parts {
			if !slices.Contains(partitions, p) {
				m.dropPartition(p, pb)
			}
		}
	}
	m.broadcast()
}

// dropPartition forgets a partition the member no longer owns. Its
// buffered messages were not delivered, so they stay unmarked and the next
// owner fetches them again. m.mu must be held.
func (m *member) dropPartition(p int32, pb *partitionBuffer) {
	m.bufferedBytes -= bytesOf(pb.msgs)
	delete(m.parts, p)
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
		m.bufferedBytes = 0
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
// full. It returns false when the session ended. It copies msg first, so
// that while it waits, msg does not keep the fetch response it came in
// alive.
func (m *member) push(sess sarama.ConsumerGroupSession, msg *sarama.ConsumerMessage, hwm int64) bool {
	msg = copyMessage(msg)
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
		// The buffer can pass its bound by this one message; memberBytes
		// counts it.
		if m.bufferedBytes+m.leasedBytes < m.bufferBytes {
			pb.msgs = append(pb.msgs, msg)
			m.bufferedBytes += messageBytes(msg)
			pb.next = msg.Offset + 1
			pb.end = max(pb.end, hwm)
			m.broadcast()
			m.mu.Unlock()
			return true
		}
		changed := m.watch()
		m.mu.Unlock()
		select {
		case <-changed:
		case <-sess.Context().Done():
			return false
		}
	}
}

// close leaves the group once the messages it handed out are settled (or
// after settleWait); the session's end commits the marked offsets.
func (m *member) close() {
	m.waitSettled(settleWait)
	m.stop()
}

// leave leaves the group at once, for a reset of its offsets: the messages
// it handed out and whose outcome is not known yet are never committed
// (their leases belong to a session that ended), and requests still
// waiting on the member are told to retry.
func (m *member) leave() {
	m.stop()
	m.mu.Lock()
	m.err = errGroupReset
	m.broadcast()
	m.mu.Unlock()
}

// stop ends the member's session (committing the offsets marked so far),
// leaves the group and gives its memory back.
func (m *member) stop() {
	m.cancel()
	<-m.stopped
	if err := m.group.Close(); err != nil {
		m.log.Warn("leaving consumer group", "error", err)
	}
	if err := m.client.Close(); err != nil && !errors.Is(err, sarama.ErrClosedClient) {
		m.log.Warn("closing consumer client", "error", err)
	}
	// Messages under leases stay in memory until the leases settle (one
	// held for a client's commit, up to its ackTimeout): their bytes stay
	// reserved until then, and settle gives them back.
	m.mu.Lock()
	m.closed = true
	m.kept = min(int64(m.leasedBytes), m.reserved)
	if m.leases == 0 {
		m.kept = 0
	}
	kept := m.kept
	m.mu.Unlock()
	m.memory.release(m.reserved - kept)
}
