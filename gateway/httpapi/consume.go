package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

const (
	// DefaultLimit is the number of messages a GET returns at most when
	// ?limit= is not given.
	DefaultLimit = 10
	// MaxLimit is the largest ?limit= accepted.
	MaxLimit = 1000
	// MaxTimeout is the longest ?timeout= (long poll) accepted.
	MaxTimeout = 30 * time.Second
	// DefaultGroup is the consumer group used when ?group= is not given;
	// the Kafka group is "<username>.<group>".
	DefaultGroup = "default"
)

// maxGroupName bounds ?group=: it becomes part of a Kafka group id.
const maxGroupName = 100

type consumeParams struct {
	limit        int
	timeout      time.Duration
	group        string
	raw          bool
	base64Values bool
	// ackTimeout is how long the messages wait for their commit with
	// ?ack=manual; 0 acknowledges them once the response is written.
	ackTimeout time.Duration
	// queue is ?mode=queue: records of a share group, each acknowledged
	// on its own (queue.go).
	queue bool
}

func parseConsumeParams(q url.Values) (consumeParams, error) {
	p := consumeParams{limit: DefaultLimit, group: DefaultGroup}
	var err error
	if v := q.Get("limit"); v != "" {
		n, convErr := strconv.Atoi(v)
		if convErr != nil || n < 1 || n > MaxLimit {
			return p, badRequest(fmt.Sprintf("limit must be a whole number from 1 to %d", MaxLimit))
		}
		p.limit = n
	}
	if v := q.Get("timeout"); v != "" {
		if p.timeout, err = parseTimeout(v); err != nil {
			return p, err
		}
	}
	if p.group, err = parseGroup(q.Get("group")); err != nil {
		return p, err
	}
	if p.ackTimeout, err = parseAck(q.Get("ack"), q.Get("ackTimeout")); err != nil {
		return p, err
	}
	if p.raw, err = rawFormat(q.Get("format")); err != nil {
		return p, err
	}
	if p.base64Values, err = base64Encoding(q.Get("encoding")); err != nil {
		return p, err
	}
	if p.queue, err = parseMode(q.Get("mode")); err != nil {
		return p, err
	}
	switch {
	case p.queue && p.ackTimeout > 0:
		return p, badRequest("mode=queue acknowledges each record with POST /topic/{topic}/ack; ack=manual is for classic groups")
	case p.queue && p.raw:
		return p, badRequest("mode=queue answers JSON, where each record carries its receipt; format=raw cannot")
	}
	if p.raw {
		p.limit = 1
	}
	return p, nil
}

// parseMode reads ?mode=: true for queue, false for classic (the default).
func parseMode(v string) (bool, error) {
	switch v {
	case "", "classic":
		return false, nil
	case "queue":
		return true, nil
	}
	return false, badRequest(fmt.Sprintf("mode %q is not one of classic, queue", v))
}

// parseGroup reads ?group=: DefaultGroup when not given.
func parseGroup(v string) (string, error) {
	if v == "" {
		return DefaultGroup, nil
	}
	if !kafkaName(v, maxGroupName) {
		return "", badRequest("group must be 1 to 100 characters among letters, digits, '.', '_' and '-'")
	}
	return v, nil
}

// parseTimeout reads a long-poll timeout (see parseDuration).
func parseTimeout(v string) (time.Duration, error) {
	d, err := parseDuration(v)
	if err != nil {
		return 0, badRequest("timeout must be seconds (such as 5) or a duration (such as 500ms)")
	}
	if d < 0 || d > MaxTimeout {
		return 0, badRequest(fmt.Sprintf("timeout must be between 0 and %s", MaxTimeout))
	}
	return d, nil
}

// parseDuration reads seconds ("5", "0.5") or a duration ("500ms", "2s").
func parseDuration(v string) (time.Duration, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return d, nil
	}
	secs, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || math.Abs(secs) > math.MaxInt64/float64(time.Second) {
		return 0, errors.New("not seconds or a duration")
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// consume handles GET /topic/{topic}: up to ?limit= messages for the
// user's consumer group, each handed out once.
func (s *server) consume(w http.ResponseWriter, r *http.Request) error {
	topic, q, err := topicAndQuery(r)
	if err != nil {
		return err
	}
	if q.Has("partition") || q.Has("offset") {
		return s.consumeAt(w, r, topic, q)
	}
	p, err := parseConsumeParams(q)
	if err != nil {
		return err
	}
	user, err := s.authenticate(r)
	if err != nil {
		return err
	}
	defer s.Pool.Release(user)
	if err := user.CheckTopic(topic); err != nil {
		return err
	}
	if p.queue {
		return s.queueConsume(w, r, user, topic, p)
	}
	b, err := s.fetch(r, user, topic, p)
	if err != nil {
		return err
	}
	if p.ackTimeout > 0 && len(b.msgs) > 0 {
		// The messages wait for the client's commit (see commit.go).
		holder, id, giveBack := b.keep(user.Name, topic, p.group, p.ackTimeout)
		w.Header().Set(CommitTokenHeader, s.tokens.seal(holder, id))
		if writeConsumed(w, b.msgs, p) != nil {
			// No client can commit what it did not get.
			giveBack()
			return nil
		}
		s.metrics.consumed.Add(float64(len(b.msgs)))
		return nil
	}
	// The messages count as delivered once the whole response reached the
	// connection; if it did not, they are handed out again.
	delivered := writeConsumed(w, b.msgs, p) == nil
	_ = b.settle(delivered)
	if delivered {
		s.metrics.consumed.Add(float64(len(b.msgs)))
	} else {
		s.log.Debug("a consume response was not delivered; its messages go to the next request", "topic", topic, "messages", len(b.msgs))
	}
	return nil
}

// writeConsumed writes msgs as the response and flushes it, returning
// what kept it from reaching the connection.
func writeConsumed(w http.ResponseWriter, msgs []*sarama.ConsumerMessage, p consumeParams) error {
	var err error
	if p.raw {
		err = writeRaw(w, msgs)
	} else {
		err = writeConsumedJSON(w, msgs, p.base64Values)
	}
	if err != nil {
		return err
	}
	return http.NewResponseController(w).Flush()
}

// writeRaw answers with one message's value as the body, or 204 when there
// is none.
func writeRaw(w http.ResponseWriter, msgs []*sarama.ConsumerMessage) error {
	if len(msgs) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	m := msgs[0]
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Kafka-Topic", m.Topic)
	h.Set("Kafka-Partition", strconv.Itoa(int(m.Partition)))
	h.Set("Kafka-Offset", strconv.FormatInt(m.Offset, 10))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(m.Value)
	return err
}
