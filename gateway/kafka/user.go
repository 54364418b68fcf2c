package kafka

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// topicCheckTTL is how long a topic found to exist and be visible to a user
// is not asked about again. Kafka still enforces its ACLs on every request.
const topicCheckTTL = 30 * time.Second

// User is one Kafka login: a sarama client shared by all of that user's
// requests, the producer built on it, and the user's consumer group members.
type User struct {
	Name     string
	password string
	opts     Options
	log      *slog.Logger
	tuning   Tuning
	// draining is closed when the gateway shuts down.
	draining <-chan struct{}

	client sarama.Client

	producerMu     sync.RWMutex
	producer       sarama.AsyncProducer
	producerClosed bool
	resultsDone    chan struct{}

	topicsMu sync.Mutex
	topics   map[string]time.Time

	membersMu sync.Mutex
	members   map[memberKey]*member
	// opening holds the members being opened: the requests that come
	// meanwhile wait for the one opening it instead of each reserving a
	// member's worth of the budget and connecting (see User.member).
	opening map[memberKey]*opening
	// memory is the user's budget for its members (see memory.go);
	// reclaim closes an idle member to make room, the user's own or
	// anyone's, and tells whether there was one.
	memory  *budget
	reclaim func(own bool) bool
	// paused holds the groups whose offsets are being reset: for each, the
	// resets under way and until when at most each holds it. No member of
	// theirs joins meanwhile (see PauseGroup). Guarded by membersMu.
	paused map[string]map[string]time.Time

	// reads has a slot per read from a position under way (see ReadAt).
	reads chan struct{}
	// reader reads from a position, outside groups (see readerClient).
	readerMu     sync.Mutex
	reader       sarama.Client
	readerClosed bool

	// queues are the user's share groups of queue mode (see queue.go).
	queuesMu sync.Mutex
	queues   map[memberKey]*queue

	// Guarded by the pool's lock.
	passwordHash [32]byte
	refs         int
	lastUsed     time.Time
	retired      bool
}

// login opens a client for name and checks the password with Kafka.
func login(opts Options, tuning Tuning, log *slog.Logger, draining <-chan struct{}, name, password string) (*User, error) {
	cfg := opts.producerConfig(name, password)
	client, err := sarama.NewClient(opts.Brokers, cfg)
	if err != nil {
		if loginRefused(opts, cfg, err) {
			return nil, newError(KindUnauthenticated, err, "Kafka refused the username and password")
		}
		return nil, Classify(err, "login")
	}
	return &User{
		Name:     name,
		password: password,
		opts:     opts,
		tuning:   tuning,
		draining: draining,
		log:      log.With("user", name),
		client:   client,
		topics:   map[string]time.Time{},
		members:  map[memberKey]*member{},
		opening:  map[memberKey]*opening{},
		queues:   map[memberKey]*queue{},
		paused:   map[string]map[string]time.Time{},
		reads:    make(chan struct{}, maxReadsPerUser),
	}, nil
}

// CheckTopic asks Kafka whether topic exists and is visible to the user:
// Kafka answers "not authorized" both for topics the user may not see and
// for absent topics whose name the user may not describe.
func (u *User) CheckTopic(topic string) error {
	u.topicsMu.Lock()
	checked, ok := u.topics[topic]
	u.topicsMu.Unlock()
	if ok && time.Since(checked) < topicCheckTTL {
		return nil
	}
	if err := u.checkTopicWithKafka(topic); err != nil {
		return err
	}
	u.topicsMu.Lock()
	u.topics[topic] = time.Now()
	u.topicsMu.Unlock()
	return nil
}

// A user's requests share sarama's one connection per broker, and sarama
// closes it when any of them meets a transport error. A request that took
// the connection just before then finds it closed, and for a few
// milliseconds, while the close completes, reopening it is refused as
// "already initiated". The topic check therefore tries again a few times,
// briefly, before it calls Kafka unavailable.
const (
	metadataAttempts = 5
	metadataBackoff  = 10 * time.Millisecond
)

// checkTopicWithKafka asks Kafka for topic's metadata as the user.
func (u *User) checkTopicWithKafka(topic string) error {
	var err error
	for attempt := range metadataAttempts {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * metadataBackoff)
		}
		broker := u.client.LeastLoadedBroker()
		if broker == nil {
			return newError(KindUnavailable, sarama.ErrOutOfBrokers, "Kafka is unavailable: no broker reachable")
		}
		var resp *sarama.MetadataResponse
		resp, err = broker.GetMetadata(sarama.NewMetadataRequest(u.opts.Version, []string{topic}))
		if err == nil {
			if len(resp.Topics) != 1 {
				return newError(KindUnavailable, nil, "Kafka is unavailable: no metadata for topic %s", topic)
			}
			if kerr := resp.Topics[0].Err; kerr != sarama.ErrNoError {
				return Classify(kerr, "topic "+topic)
			}
			return nil
		}
		if !connectionLost(err) {
			// sarama keeps a connection that timed out; drop it so that
			// the next request dials again.
			_ = broker.Close()
			break
		}
	}
	return Classify(err, "topic "+topic)
}

// connectionLost tells whether err means the broker connection was closed,
// by this request's failure or another's, rather than a slow or refusing
// broker. sarama has already closed such a connection, and the next
// LeastLoadedBroker opens a new one.
func connectionLost(err error) bool {
	return errors.Is(err, sarama.ErrNotConnected) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}

// ensureProducer starts the user's producer on first use. It is not started
// at login: an idempotent producer needs Write on some topic, which a
// read-only user does not have.
func (u *User) ensureProducer() error {
	u.producerMu.RLock()
	ready, closed := u.producer != nil, u.producerClosed
	u.producerMu.RUnlock()
	if ready {
		return nil
	}
	if closed {
		return newError(KindUnavailable, sarama.ErrClosedClient, "the gateway is shutting down")
	}
	u.producerMu.Lock()
	defer u.producerMu.Unlock()
	if u.producer != nil {
		return nil
	}
	if u.producerClosed {
		return newError(KindUnavailable, sarama.ErrClosedClient, "the gateway is shutting down")
	}
	p, err := sarama.NewAsyncProducerFromClient(u.client)
	if err != nil {
		if errors.Is(err, sarama.ErrClusterAuthorizationFailed) {
			return newError(KindForbidden, err, "user %s may not write to any topic", u.Name)
		}
		return Classify(err, "producer")
	}
	u.producer = p
	u.resultsDone = make(chan struct{})
	go deliverResults(p, u.resultsDone)
	return nil
}

// close stops the user's consumer group members (committing what they
// handed out), flushes the producer and closes the client.
func (u *User) close() {
	u.membersMu.Lock()
	members := u.members
	u.members = map[memberKey]*member{}
	u.membersMu.Unlock()
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Go(m.close)
	}
	wg.Go(u.closeQueues)
	wg.Wait()
	u.closeReader()

	u.producerMu.Lock()
	u.producerClosed = true
	p, done := u.producer, u.resultsDone
	u.producerMu.Unlock()
	if p != nil {
		p.AsyncClose()
		<-done
	}
	if err := u.client.Close(); err != nil && !errors.Is(err, sarama.ErrClosedClient) {
		u.log.Warn("closing Kafka client", "error", err)
	}
}
