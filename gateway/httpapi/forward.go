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
	Token  string
	client *http.Client
	leases *peerLeases
}

// NewPeers returns the peer settings for token.
func NewPeers(token string) *Peers {
	return &Peers{
		Token: token,
		// Long polls last up to MaxTimeout plus the owner's bounded waits;
		// the client's own request context ends a forward sooner.
		client: &http.Client{Timeout: MaxTimeout + time.Minute},
		leases: &peerLeases{leases: map[string]*peerLease{}},
	}
}

// batch is what a consume hands to its response, from this replica or
// from the owner, and how to tell where it came from whether it was
// delivered.
type batch struct {
	msgs   []*sarama.ConsumerMessage
	settle func(delivered bool)
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
			return batch{msgs: lease.Messages, settle: func(delivered bool) {
				if delivered {
					lease.Ack()
				} else {
					lease.Release()
				}
			}}, nil
		}
		if s.Peers == nil {
			return batch{}, &requestError{status: http.StatusServiceUnavailable, retryAfter: retryAfterUnavailable * time.Second,
				message: "another gateway replica serves this consumer group and this one has no peers configured (--peer-listen-address)"}
		}
		if notOwner.Owner != "" {
			b, err := s.Peers.consume(r, notOwner.Owner, topic)
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
func (p *Peers) consume(r *http.Request, addr, topic string) (batch, error) {
	u := url.URL{Scheme: "http", Host: addr, Path: "/peer/v1/topic/" + topic, RawQuery: r.URL.RawQuery}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		return batch{}, err
	}
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	req.Header.Set(PeerTokenHeader, p.Token)
	resp, err := p.client.Do(req)
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
	return batch{msgs: msgs, settle: func(delivered bool) {
		if b.Lease != "" {
			p.settle(addr, auth, b.Lease, delivered)
		}
	}}, nil
}

// settle tells the owner at addr whether the client got lease's messages.
// When that fails the owner's lease times out and the messages are handed
// out again: at least once.
func (p *Peers) settle(addr, auth, lease string, delivered bool) {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	u := url.URL{Scheme: "http", Host: addr, Path: "/peer/v1/lease/" + lease, RawQuery: "delivered=" + strconv.FormatBool(delivered)}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set(PeerTokenHeader, p.Token)
	resp, err := p.client.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
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
