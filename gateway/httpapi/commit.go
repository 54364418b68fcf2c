package httpapi

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"qaas.dev/qaas/gateway/kafka"
)

// Explicit acknowledgement for classic consumer groups: a GET with
// ?ack=manual hands its messages out under a lease that outlives the
// response, and answers with a commit token (CommitTokenHeader). POSTing
// the token to /topic/{topic}/commit commits the messages' offsets; a token
// not posted within ?ackTimeout= releases them, and the group's next GETs
// get them again. Until then nothing more is handed out from the
// partitions they came from, which keeps each partition in order.
//
// The lease lives on the replica that owns the group. The token names that
// replica's peer address and the lease, sealed with a key derived from the
// replicas' shared token, so that any replica can forward a commit to the
// right one without clients learning pod addresses or making up tokens.

const (
	// CommitTokenHeader carries the token of a GET with ?ack=manual.
	CommitTokenHeader = "Kafka-Commit-Token"
	// DefaultAckTimeout is how long a manual lease waits for its commit.
	DefaultAckTimeout = 30 * time.Second
	// MinAckTimeout and MaxAckTimeout bound ?ackTimeout=. A lease holds
	// its partitions back from every other consumer of the group.
	MinAckTimeout = time.Second
	MaxAckTimeout = 5 * time.Minute
)

// errUnknownToken is the answer to a commit whose messages are no longer
// held: never handed out, already committed, timed out, or held by a
// replica that is gone.
var errUnknownToken = &requestError{status: http.StatusNotFound,
	message: "the commit token is unknown or expired: its messages were not committed and are delivered again"}

// parseAck reads ?ack= and ?ackTimeout=: 0 for automatic acknowledgement.
func parseAck(ack, timeout string) (time.Duration, error) {
	switch ack {
	case "", "auto":
		if timeout != "" {
			return 0, badRequest("ackTimeout applies to ack=manual only")
		}
		return 0, nil
	case "manual":
	default:
		return 0, badRequest(fmt.Sprintf("ack %q is not one of auto, manual", ack))
	}
	if timeout == "" {
		return DefaultAckTimeout, nil
	}
	d, err := parseDuration(timeout)
	if err != nil || d < MinAckTimeout || d > MaxAckTimeout {
		return 0, badRequest(fmt.Sprintf("ackTimeout must be seconds (such as 30) or a duration (such as 2m), from %s to %s", MinAckTimeout, MaxAckTimeout))
	}
	return d, nil
}

// heldLeases are leases handed out by this replica that wait to be settled
// from elsewhere: by the replica that forwarded the consume, or by the
// client's commit. Each is released when its time is up.
type heldLeases struct {
	mu     sync.Mutex
	leases map[string]*heldLease
}

type heldLease struct {
	user, topic, group string
	lease              *kafka.Lease
	timer              *time.Timer
}

func newHeldLeases() *heldLeases { return &heldLeases{leases: map[string]*heldLease{}} }

// add holds l for user's group of topic until it is taken or timeout
// passes (then it is released), and returns its id.
func (hl *heldLeases) add(user, topic, group string, l *kafka.Lease, timeout time.Duration) string {
	id := rand.Text()
	hl.mu.Lock()
	defer hl.mu.Unlock()
	hl.leases[id] = &heldLease{user: user, topic: topic, group: group, lease: l, timer: time.AfterFunc(timeout, func() {
		if hl.take(id, user, topic, group) != nil {
			l.Release()
		}
	})}
	return id
}

// take removes and returns lease id if user holds it for group of topic,
// nil otherwise. An empty topic and group match any: a replica of the
// previous version settles without them.
func (hl *heldLeases) take(id, user, topic, group string) *kafka.Lease {
	hl.mu.Lock()
	defer hl.mu.Unlock()
	h := hl.leases[id]
	if h == nil || h.user != user || (topic != "" || group != "") && (h.topic != topic || h.group != group) {
		return nil
	}
	delete(hl.leases, id)
	h.timer.Stop()
	return h.lease
}

// tokens seals and opens commit tokens.
type tokens struct{ aead cipher.AEAD }

// newTokens keys tokens with secret: the replicas' shared token, so that
// every replica opens what another sealed, or random bytes for a lone
// replica.
func newTokens(secret string) *tokens {
	if secret == "" {
		secret = rand.Text()
	}
	key := sha256.Sum256([]byte("qaas commit token\x00" + secret))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &tokens{aead: aead}
}

// seal makes the token of lease id held by the replica at holder (its peer
// address, empty for a replica without peers).
func (t *tokens) seal(holder, id string) string {
	nonce := make([]byte, t.aead.NonceSize(), t.aead.NonceSize()+len(holder)+1+len(id)+t.aead.Overhead())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(t.aead.Seal(nonce, nonce, []byte(holder+"\n"+id), nil))
}

// open returns the holder and lease id sealed in token.
func (t *tokens) open(token string) (holder, id string, ok bool) {
	// Strict: a token decodes from one spelling only, its own.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) < t.aead.NonceSize() {
		return "", "", false
	}
	plain, err := t.aead.Open(nil, raw[:t.aead.NonceSize()], raw[t.aead.NonceSize():], nil)
	if err != nil {
		return "", "", false
	}
	holder, id, ok = strings.Cut(string(plain), "\n")
	return holder, id, ok
}

// commitRequest is the body of POST /topic/{topic}/commit.
type commitRequest struct {
	Token string
}

// commit handles POST /topic/{topic}/commit?group=: it commits the
// messages handed out under a token, here or on the replica holding them.
func (s *server) commit(w http.ResponseWriter, r *http.Request) error {
	topic, group, err := topicAndGroup(r)
	if err != nil {
		return err
	}
	user, err := s.authenticate(r)
	if err != nil {
		return err
	}
	defer s.Pool.Release(user)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
	if err != nil {
		return badRequest(`the body must be {"Token": "<the Kafka-Commit-Token of the GET>"}, at most 4 KiB`)
	}
	var req commitRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Token == "" {
		return badRequest(`the body must be {"Token": "<the Kafka-Commit-Token of the GET>"}`)
	}
	holder, id, ok := s.tokens.open(req.Token)
	if !ok {
		return errUnknownToken
	}
	switch {
	case holder == s.self():
		lease := s.leases.take(id, user.Name, topic, group)
		if lease == nil {
			return errUnknownToken
		}
		if err := lease.Commit(); err != nil {
			return commitError(err)
		}
	case s.Peers == nil:
		return errUnknownToken
	default:
		ctx, cancel := context.WithTimeout(r.Context(), settleTimeout)
		defer cancel()
		if err := s.Peers.commit(ctx, holder, r.Header.Get("Authorization"), id, topic, group); err != nil {
			if errors.Is(err, errLeaseUnknown) || errors.Is(err, kafka.ErrCommitUnconfirmed) {
				return commitError(err)
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				// Nothing listens at the holder's address any more: its
				// leases died with it.
				return errUnknownToken
			}
			// The holder may still hold them: the commit can be retried
			// until the token times out.
			return &requestError{status: http.StatusServiceUnavailable, retryAfter: time.Second,
				message: "the gateway replica holding these messages did not answer; retry the commit (until its ackTimeout passes the messages stay held)"}
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// commitError is the answer to a commit that failed here or on the holder.
func commitError(err error) error {
	if errors.Is(err, kafka.ErrCommitUnconfirmed) {
		return &requestError{status: http.StatusServiceUnavailable, retryAfter: time.Second,
			message: "Kafka did not confirm the commit: the messages may be delivered again"}
	}
	return errUnknownToken
}

// self is this replica's peer address, the holder its tokens name.
func (s *server) self() string {
	if s.Peers == nil {
		return ""
	}
	return s.Peers.Self
}
