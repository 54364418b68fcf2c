package httpapi

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/IBM/sarama"

	"qaas.dev/qaas/gateway/kafka"
)

// The peer API is how a gateway replica serves the consumes other replicas
// forward to it because it owns the consumer group (see
// docs/consume-ownership.md). It listens on its own address, on the pod
// network, and takes a request only with the replicas' shared token as well
// as the client's own credentials, which it checks as for any request: a
// replica forwards a client's request, never its own.

// PeerTokenHeader carries the replicas' shared token.
const PeerTokenHeader = "Qaas-Peer-Token"

// peerLeaseTimeout bounds how long messages handed to another replica wait
// for that replica to say whether its client got them (ack=auto); past it
// they are handed out again.
const peerLeaseTimeout = 30 * time.Second

// peerBatch is the owner's answer to a forwarded consume.
type peerBatch struct {
	// Lease names the lease to settle once the client got the messages.
	Lease    string        `json:"lease"`
	Messages []peerMessage `json:"messages"`
}

// peerMessage carries a message byte for byte ([]byte is base64 in JSON,
// and a nil key stays null).
type peerMessage struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp time.Time    `json:"timestamp"`
	Key       []byte       `json:"key"`
	Value     []byte       `json:"value"`
	Headers   []peerHeader `json:"headers,omitempty"`
}

type peerHeader struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
}

func toPeerMessage(m *sarama.ConsumerMessage) peerMessage {
	pm := peerMessage{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp, Key: m.Key, Value: m.Value}
	for _, h := range m.Headers {
		pm.Headers = append(pm.Headers, peerHeader{Key: h.Key, Value: h.Value})
	}
	return pm
}

func (pm peerMessage) consumerMessage() *sarama.ConsumerMessage {
	m := &sarama.ConsumerMessage{Topic: pm.Topic, Partition: pm.Partition, Offset: pm.Offset, Timestamp: pm.Timestamp, Key: pm.Key, Value: pm.Value}
	for _, h := range pm.Headers {
		m.Headers = append(m.Headers, &sarama.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return m
}

// peerOnly lets through requests that carry the replicas' token.
func (s *server) peerOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get(PeerTokenHeader)
		if s.Peers == nil || subtle.ConstantTimeCompare([]byte(token), []byte(s.Peers.Token)) != 1 {
			// 421, not 403: a replica with another token (during a
			// rollout that changed it) looks for the owner again
			// rather than telling its client it is forbidden.
			writeJSON(w, http.StatusMisdirectedRequest, errorBody{Status: http.StatusMisdirectedRequest, Error: http.StatusText(http.StatusMisdirectedRequest), Message: "not a gateway replica of this application"})
			return
		}
		h(w, r)
	}
}

// peerConsume serves a consume forwarded by another replica. It never
// forwards: a replica that does not own the group answers 409, and the
// forwarding replica looks for the owner again.
func (s *server) peerConsume(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	q, err := parseQuery(r.URL)
	var p consumeParams
	if err == nil {
		p, err = parseConsumeParams(q)
	}
	if err == nil {
		err = validTopic(topic)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	user, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer s.Pool.Release(user)
	lease, err := user.Consume(r.Context(), topic, user.Name+"."+p.group, p.limit, s.Limits.MaxResponseBytes, p.timeout)
	var notOwner *kafka.NotOwnerError
	switch {
	case errors.As(err, &notOwner), errors.Is(err, kafka.ErrDraining):
		writeJSON(w, http.StatusConflict, errorBody{Status: http.StatusConflict, Error: http.StatusText(http.StatusConflict), Message: "this replica does not serve the group now"})
		return
	case err != nil:
		s.writeError(w, r, err)
		return
	}
	batch := peerBatch{Messages: make([]peerMessage, len(lease.Messages))}
	for i, m := range lease.Messages {
		batch.Messages[i] = toPeerMessage(m)
	}
	if len(lease.Messages) > 0 {
		// Held until the forwarding replica says whether its client got
		// them, or, with ack=manual, until the client's commit.
		timeout := peerLeaseTimeout
		if p.ackTimeout > 0 {
			lease.Hold()
			timeout = p.ackTimeout
		}
		batch.Lease = s.leases.add(user.Name, topic, p.group, lease, timeout)
	}
	writeJSON(w, http.StatusOK, batch)
}

// peerSettle settles a lease: ?delivered=true acknowledges its messages,
// false gives them back. ?topic= and ?group= must be the lease's.
func (s *server) peerSettle(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	delivered, err := strconv.ParseBool(q.Get("delivered"))
	if err != nil {
		s.writeError(w, r, badRequest("delivered must be true or false"))
		return
	}
	user, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Pool.Release(user)
	lease := s.leases.take(r.PathValue("id"), user.Name, q.Get("topic"), q.Get("group"))
	if lease == nil {
		// Timed out (released) or never handed out.
		s.writeError(w, r, &requestError{status: http.StatusNotFound, message: "no such lease"})
		return
	}
	switch {
	case !delivered:
		lease.Release()
	case q.Get("commit") == "true":
		// A client's commit, forwarded: its answer says whether the
		// offsets are in Kafka.
		if err := lease.Commit(); err != nil {
			s.writeError(w, r, commitError(err))
			return
		}
	default:
		lease.Ack()
	}
	w.WriteHeader(http.StatusNoContent)
}
