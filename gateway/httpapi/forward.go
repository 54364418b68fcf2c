package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"qaas.dev/qaas/gateway/kafka"
)

const (
	// ownerWait bounds how long a consume looks for the group's owner: it
	// covers a crashed owner's session timeout and the rebalance after it.
	ownerWait = 20 * time.Second
	// ownerRetryBackoff spaces the attempts to reach an owner.
	ownerRetryBackoff = 250 * time.Millisecond
	// settleTimeout bounds telling the owner the outcome of a delivery.
	settleTimeout = 5 * time.Second
)

// Peers is how this replica reaches the other replicas of its application.
type Peers struct {
	// Token is the replicas' shared secret.
	Token string
	// Self is the address the other replicas reach this one at.
	Self   string
	client *http.Client
}

// NewPeers returns the peer settings for token, of the replica the others
// reach at self.
func NewPeers(token, self string) *Peers {
	return &Peers{
		Token: token,
		Self:  self,
		// Long polls last up to MaxTimeout plus the owner's bounded waits;
		// the client's own request context ends a forward sooner.
		client: &http.Client{Timeout: MaxTimeout + time.Minute},
	}
}

// batch is what a consume hands to its response, from this replica or
// from the owner, and how to tell where it came from what became of it:
// settle says whether the client got the messages; keep, instead, holds
// them for the client's commit (ack=manual) and returns the replica
// holding them, the lease's id there, and how to give them back at once.
type batch struct {
	msgs []*sarama.ConsumerMessage
	// settle says whether the client got msgs; its error says the outcome
	// did not take (the lease or lock ran out: they come again).
	settle func(delivered bool) error
	keep   func(user, topic, group string, timeout time.Duration) (holder, id string, giveBack func())
	// lockedUntil is when a queue-mode batch's records go to another
	// consumer unless accepted; zero for a classic group's.
	lockedUntil time.Time
}

// fetch takes the messages of a consume here when this replica owns the
// group, else from the owner, looking for it again while it moves.
func (s *server) fetch(r *http.Request, user *kafka.User, topic string, p consumeParams) (batch, error) {
	deadline := time.Now().Add(ownerWait)
	for {
		lease, err := user.Consume(r.Context(), topic, user.Name+"."+p.group, p.limit, s.Limits.MaxResponseBytes, p.timeout)
		var notOwner *kafka.NotOwnerError
		if !errors.As(err, &notOwner) {
			if err != nil {
				return batch{}, err
			}
			return batch{msgs: lease.Messages, settle: func(delivered bool) error {
				if delivered {
					lease.Ack()
				} else {
					lease.Release()
				}
				return nil
			}, keep: func(user, topic, group string, timeout time.Duration) (string, string, func()) {
				lease.Hold()
				id := s.leases.add(user, topic, group, lease, timeout)
				return s.self(), id, func() {
					if l := s.leases.take(id, user, topic, group); l != nil {
						l.Release()
					}
				}
			}}, nil
		}
		if s.Peers == nil {
			return batch{}, &requestError{status: http.StatusServiceUnavailable, retryAfter: retryAfterUnavailable * time.Second,
				message: "another gateway replica serves this consumer group and this one has no peers configured (--peer-listen-address)"}
		}
		if notOwner.Owner != "" {
			b, err := s.Peers.consume(r, notOwner.Owner, topic, p.group)
			if !errors.Is(err, errOwnerMoved) {
				return b, err
			}
		}
		if time.Now().After(deadline) {
			return batch{}, &requestError{status: http.StatusServiceUnavailable, retryAfter: time.Second,
				message: "the gateway replica serving this consumer group is not reachable; it is being replaced, retry"}
		}
		select {
		case <-time.After(ownerRetryBackoff):
		case <-r.Context().Done():
			return batch{}, r.Context().Err()
		}
	}
}

// errOwnerMoved says that the owner could not be reached or no longer owns
// the group.
var errOwnerMoved = errors.New("the group's owner moved")

// consume forwards the client's consume r to the owner at addr, with the
// client's own credentials.
func (p *Peers) consume(r *http.Request, addr, topic, group string) (batch, error) {
	resp, err := p.call(r.Context(), http.MethodGet, addr, r.Header.Get("Authorization"), "/peer/v1/topic/"+topic, r.URL.Query(), nil)
	if err != nil {
		if r.Context().Err() != nil {
			return batch{}, r.Context().Err()
		}
		return batch{}, errOwnerMoved
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict, http.StatusMisdirectedRequest:
		return batch{}, errOwnerMoved
	default:
		return batch{}, relayedError(resp)
	}
	var b peerBatch
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		// The owner handed the messages out and will take them back when
		// the lease times out, as the id is unknown here.
		return batch{}, errOwnerMoved
	}
	msgs := make([]*sarama.ConsumerMessage, len(b.Messages))
	for i, m := range b.Messages {
		msgs[i] = m.consumerMessage()
	}
	auth := r.Header.Get("Authorization")
	settle := func(delivered bool) error {
		if b.Lease == "" {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		defer cancel()
		// When this fails the owner's lease times out and the messages
		// are handed out again: at least once.
		return p.settle(ctx, addr, auth, b.Lease, topic, group, delivered)
	}
	return batch{msgs: msgs, settle: settle, keep: func(string, string, string, time.Duration) (string, string, func()) {
		// The owner holds the lease for the commit: the forwarded query
		// asked for ack=manual and its ackTimeout.
		return addr, b.Lease, func() { _ = settle(false) }
	}}, nil
}

// call sends a request to the peer API of the replica at addr, with the
// client's credentials auth and the replicas' token. Names go into path
// already checked (topics, lease ids), and what may be "." or ".." (a
// group) into query, so that no path is cleaned into another.
func (p *Peers) call(ctx context.Context, method, addr, auth, path string, query url.Values, body io.Reader) (*http.Response, error) {
	u := url.URL{Scheme: "http", Host: addr, Path: path, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set(PeerTokenHeader, p.Token)
	return p.client.Do(req)
}

// errLeaseUnknown says that the replica asked to settle a lease does not
// hold it (any more).
var errLeaseUnknown = errors.New("no such lease")

// settle tells the replica at addr whether the client got the messages of
// lease, which it holds for the client's group of topic.
func (p *Peers) settle(ctx context.Context, addr, auth, lease, topic, group string, delivered bool) error {
	return p.settleLease(ctx, addr, auth, lease, url.Values{"delivered": {strconv.FormatBool(delivered)}, "topic": {topic}, "group": {group}})
}

// commit has the replica at addr commit the messages of lease, as settle
// with delivered=true does, and answer once their offsets are in Kafka.
func (p *Peers) commit(ctx context.Context, addr, auth, lease, topic, group string) error {
	return p.settleLease(ctx, addr, auth, lease, url.Values{"delivered": {"true"}, "commit": {"true"}, "topic": {topic}, "group": {group}})
}

func (p *Peers) settleLease(ctx context.Context, addr, auth, lease string, q url.Values) error {
	resp, err := p.call(ctx, http.MethodPost, addr, auth, "/peer/v1/lease/"+lease, q, nil)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil
	case http.StatusNotFound:
		return errLeaseUnknown
	case http.StatusServiceUnavailable:
		return kafka.ErrCommitUnconfirmed
	}
	return fmt.Errorf("settling a lease: the replica at %s answered %d", addr, resp.StatusCode)
}

// relayedError passes the owner's error answer on to the client unchanged.
func relayedError(resp *http.Response) error {
	var body errorBody
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil || body.Message == "" {
		body.Message = fmt.Sprintf("the gateway replica serving this consumer group answered %d", resp.StatusCode)
	}
	e := &requestError{status: resp.StatusCode, message: body.Message}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		e.retryAfter = time.Duration(secs) * time.Second
	}
	return e
}
