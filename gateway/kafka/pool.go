// Package kafka is the gateway's Kafka layer: one sarama client per user,
// reused across requests and closed when idle, a shared idempotent producer
// per user, and consumer group members kept per (user, topic, group).
package kafka

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/sync/singleflight"

	"qaas.dev/qaas/internal/kafkaconn"
)

// Tuning holds the pool's limits.
type Tuning struct {
	ConsumerIdleTimeout time.Duration
	ClientIdleTimeout   time.Duration
	// BufferBytes bounds the message bytes one consumer group member keeps
	// fetched ahead of requests or handed out and awaiting delivery.
	BufferBytes int
	// MemoryBytes bounds what all consumer group members hold together,
	// UserMemoryBytes what one user's hold (see memory.go).
	MemoryBytes     int64
	UserMemoryBytes int64
	// LoginRate is the number of new Kafka logins allowed per second.
	LoginRate float64
}

// Pool keeps one User per Kafka username.
type Pool struct {
	opts   Options
	tuning Tuning
	log    *slog.Logger
	logins singleflight.Group
	limit  *loginLimiter
	memory *budget
	// evictions counts idle members closed to make room for others.
	evictions atomic.Int64

	mu     sync.Mutex
	users  map[string]*User
	closed bool

	stop    chan struct{}
	stopped chan struct{}
	// draining is closed when the gateway starts shutting down.
	draining  chan struct{}
	drainOnce sync.Once
}

// NewPool starts a pool and its idle reaper.
func NewPool(opts Options, tuning Tuning, log *slog.Logger) *Pool {
	p := &Pool{
		opts:     opts,
		tuning:   tuning,
		log:      log,
		limit:    newLoginLimiter(tuning.LoginRate),
		memory:   newBudget(tuning.MemoryBytes, nil),
		users:    map[string]*User{},
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
		draining: make(chan struct{}),
	}
	go p.reapIdle()
	return p
}

// Get returns the user logged in with name and password, logging in to
// Kafka when no client for that pair is open. Call Release when done.
func (p *Pool) Get(name, password string) (*User, error) {
	hash := sha256.Sum256([]byte(password))
	if u, err := p.acquire(name, hash); u != nil || err != nil {
		return u, err
	}
	// A login that can never succeed is refused here: sent to Kafka, the
	// SCRAM client would fail before any exchange and the failure would
	// look like an outage. (An open login passed this check already: its
	// requests skip the SASLprep it costs.)
	if err := kafkaconn.CheckLogin(p.opts.Mechanism, name, password); err != nil {
		return nil, newError(KindUnauthenticated, err, "Kafka cannot accept this username and password: %v", err)
	}
	// Concurrent first requests of one user share one login.
	_, err, _ := p.logins.Do(name+"\x00"+hex.EncodeToString(hash[:]), func() (any, error) {
		if u, _ := p.acquire(name, hash); u != nil {
			p.Release(u)
			return nil, nil
		}
		if !p.limit.allow(name) {
			return nil, newError(KindThrottled, nil, "too many new logins; retry in a moment")
		}
		u, err := login(p.opts, p.tuning, p.log, p.draining, name, password)
		if err != nil {
			return nil, err
		}
		u.passwordHash = hash
		u.memory = newBudget(p.tuning.UserMemoryBytes, p.memory)
		u.reclaim = func(own bool) bool {
			if own {
				return p.closeIdleMember(u)
			}
			return p.closeIdleMember(nil)
		}
		u.lastUsed = time.Now()
		p.mu.Lock()
		old := p.users[name]
		p.users[name] = u
		closed := p.closed
		p.mu.Unlock()
		if closed {
			u.close()
			return nil, newError(KindUnavailable, sarama.ErrClosedClient, "the gateway is shutting down")
		}
		if old != nil {
			// The password changed: the old login goes once unused.
			p.retire(old)
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	if u, err := p.acquire(name, hash); u != nil || err != nil {
		return u, err
	}
	// Another password for the same name logged in meanwhile.
	return p.Get(name, password)
}

// acquire returns the open user for name if its password hash matches.
func (p *Pool) acquire(name string, hash [32]byte) (*User, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, newError(KindUnavailable, sarama.ErrClosedClient, "the gateway is shutting down")
	}
	u := p.users[name]
	if u == nil || subtle.ConstantTimeCompare(u.passwordHash[:], hash[:]) != 1 {
		return nil, nil
	}
	u.refs++
	u.lastUsed = time.Now()
	return u, nil
}

// Release ends a request's use of u.
func (p *Pool) Release(u *User) {
	p.mu.Lock()
	u.refs--
	u.lastUsed = time.Now()
	closeNow := u.retired && u.refs == 0
	p.mu.Unlock()
	if closeNow {
		go u.close()
	}
}

func (p *Pool) retire(u *User) {
	p.mu.Lock()
	u.retired = true
	closeNow := u.refs == 0
	p.mu.Unlock()
	if closeNow {
		go u.close()
	}
}

// reapIdle closes consumer group members and users that were not used for
// their idle timeout.
func (p *Pool) reapIdle() {
	defer close(p.stopped)
	every := max(time.Second, min(p.tuning.ConsumerIdleTimeout, p.tuning.ClientIdleTimeout)/4)
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
		case <-p.stop:
			return
		}
		now := time.Now()
		users := p.snapshot()
		var wg sync.WaitGroup
		for _, u := range users {
			wg.Go(func() {
				u.closeIdleMembers(now, p.tuning.ConsumerIdleTimeout)
				p.closeIfIdle(u, now)
			})
		}
		wg.Wait()
	}
}

func (p *Pool) closeIfIdle(u *User, now time.Time) {
	u.membersMu.Lock()
	hasMembers := len(u.members) > 0
	u.membersMu.Unlock()
	u.queuesMu.Lock()
	hasMembers = hasMembers || len(u.queues) > 0
	u.queuesMu.Unlock()
	p.mu.Lock()
	idle := u.refs == 0 && !hasMembers && now.Sub(u.lastUsed) >= p.tuning.ClientIdleTimeout && p.users[u.Name] == u
	if idle {
		delete(p.users, u.Name)
	}
	p.mu.Unlock()
	if idle {
		u.log.Debug("closing idle Kafka client")
		u.close()
	}
}

func (u *User) closeIdleMembers(now time.Time, timeout time.Duration) {
	u.membersMu.Lock()
	var idle []*member
	for key, m := range u.members {
		if m.idleSince(now) >= timeout {
			idle = append(idle, m)
			delete(u.members, key)
		}
	}
	u.membersMu.Unlock()
	var wg sync.WaitGroup
	for _, m := range idle {
		m.log.Debug("closing idle consumer group member")
		wg.Go(m.close)
	}
	wg.Wait()
}

// Stats counts what the pool holds open.
type Stats struct {
	Users   int
	Members int
	// MemoryBytes is what the open members reserved of MemoryLimit.
	MemoryBytes, MemoryLimit int64
	// Evictions counts idle members closed to make room for others.
	Evictions int64
}

// Stats reports the open users and consumer group members.
func (p *Pool) Stats() Stats {
	users := p.snapshot()
	st := Stats{Users: len(users), MemoryBytes: p.memory.Used(), MemoryLimit: p.memory.limit, Evictions: p.evictions.Load()}
	for _, u := range users {
		u.membersMu.Lock()
		st.Members += len(u.members)
		u.membersMu.Unlock()
	}
	return st
}

// snapshot returns the users open now.
func (p *Pool) snapshot() []*User {
	p.mu.Lock()
	defer p.mu.Unlock()
	users := make([]*User, 0, len(p.users))
	for _, u := range p.users {
		users = append(users, u)
	}
	return users
}

// Drain makes consumers hand out nothing more: long polls return at once.
// The gateway calls it when it starts shutting down.
func (p *Pool) Drain() { p.drainOnce.Do(func() { close(p.draining) }) }

// Draining tells whether Drain was called.
func (p *Pool) Draining() bool { return isClosed(p.draining) }

// DrainStarted is closed when Drain is called, for what waits on more than
// one consume (a consume stream) to stop.
func (p *Pool) DrainStarted() <-chan struct{} { return p.draining }

// LeaveGroups closes every consumer group member, each once its handed-out
// messages are settled, so that other replicas take the groups over.
func (p *Pool) LeaveGroups() {
	users := p.snapshot()
	var wg sync.WaitGroup
	for _, u := range users {
		// Every member counts as idle for a timeout of zero.
		wg.Go(func() { u.closeIdleMembers(time.Now(), 0) })
		// Queue members give back what they hold: clients' acks of it
		// answer that their receipts expired.
		wg.Go(u.closeQueues)
	}
	wg.Wait()
}

// Close stops the reaper and closes every user: members commit what they
// handed out and leave their groups, producers flush.
func (p *Pool) Close() {
	p.Drain()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	users := p.users
	p.users = map[string]*User{}
	p.mu.Unlock()
	close(p.stop)
	<-p.stopped
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(u.close)
	}
	wg.Wait()
}
