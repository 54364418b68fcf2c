package httpapi

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"qaas.dev/qaas/gateway/kafka"
)

// A GET on /topic/{topic} whose Accept prefers text/event-stream is a
// consume stream: the group's records as Server-Sent Events (in queue mode, the
// share group's, each accepted once written), as they arrive, until
// the client leaves or the gateway shuts down. It is a loop of consumes,
// each a long poll that takes a lease, writes its records as events,
// flushes them and settles the lease: what reached the connection is
// committed, and what did not comes again, as for a plain GET. So a stream
// reads the same on any replica (fetch forwards to the group's owner), and
// a client that reconnects with the id of the last event it got repeats at
// most the one round that was being written when it left.

const eventStreamType = "text/event-stream"

// StreamLimits bound consume streams.
type StreamLimits struct {
	// Heartbeat spaces the comments a stream writes while no record
	// arrives; it is also the long poll of each round.
	Heartbeat time.Duration
	// PerUser caps the streams one user holds open on this replica.
	PerUser int
}

// streamRetryAfter is what a stream over the cap is told to wait: a place
// frees only when one of the user's streams ends.
const streamRetryAfter = 5 * time.Second

// streamRoundBudget is how long one round of a stream (its long poll,
// then writing its records) may take before the connection counts as
// dead: what the server's WriteTimeout gives a plain GET. Nothing is
// written while the round polls.
const streamRoundBudget = MaxTimeout + time.Minute

// streamWriteBudget is how long writing a round's events may take once
// they were taken: well inside the lease a group's owner grants a
// forwarded round, so that a slow reader's round is given back by this
// replica rather than handed out again by the owner behind its back. A
// queue round has until its records' lock, less queueSettleMargin.
const streamWriteBudget = peerLeaseTimeout - 10*time.Second

// queueSettleMargin is what a queue round leaves of its records' lock for
// its acknowledgement to reach the broker.
const queueSettleMargin = time.Second

// streamDrainWriteBudget is what a write still under way gets once the
// gateway starts shutting down: a stalled client's round is given back
// well inside --shutdown-timeout.
const streamDrainWriteBudget = 3 * time.Second

// byAccept serves a GET with consume, or with stream when the client asks
// for an event stream.
func byAccept(consume, stream http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if acceptsEventStream(r.Header.Values("Accept")) {
			stream(w, r)
			return
		}
		consume(w, r)
	}
}

// acceptsEventStream says whether Accept headers prefer an event stream to
// JSON: text/event-stream named with a q above 0 and above the one JSON
// gets (application/json's own, else application/*'s, else */*'s; none is
// 0). EventSource sends "text/event-stream" alone; a generic client that
// lists both, or adds */*, gets the JSON answer of a plain GET.
func acceptsEventStream(accept []string) bool {
	// The q of each media range named, the highest where one is named
	// twice; an entry whose q is not a number from 0 to 1 counts for none.
	qs := map[string]float64{}
	for _, v := range accept {
		for _, mediaRange := range strings.Split(v, ",") {
			mediaType, params, err := mime.ParseMediaType(mediaRange)
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(v, 64); err != nil || q < 0 || q > 1 {
					continue
				}
			}
			if prev, ok := qs[mediaType]; !ok || q > prev {
				qs[mediaType] = q
			}
		}
	}
	streamQ := qs[eventStreamType]
	jsonQ, ok := qs["application/json"]
	if !ok {
		if jsonQ, ok = qs["application/*"]; !ok {
			jsonQ = qs["*/*"]
		}
	}
	return streamQ > 0 && streamQ > jsonQ
}

// parseStreamParams reads a stream's query: a GET's, but for what a
// stream does by itself.
func parseStreamParams(q url.Values) (consumeParams, error) {
	if q.Has("partition") || q.Has("offset") {
		return consumeParams{}, badRequest("partition and offset do not apply to a stream (Accept: text/event-stream): it reads its consumer group; read from a position with plain GETs")
	}
	p, err := parseConsumeParams(q)
	if err != nil {
		return p, err
	}
	switch {
	case p.ackTimeout > 0:
		return p, badRequest("ack=manual does not apply to a stream (Accept: text/event-stream): a stream commits each record once it was written to the connection; use a plain GET to commit yourself")
	case p.raw:
		return p, badRequest("format=raw does not apply to a stream (Accept: text/event-stream): each event carries one record as JSON")
	case q.Get("timeout") != "":
		return p, badRequest("timeout does not apply to a stream (Accept: text/event-stream): it waits for records as long as it is open")
	}
	return p, nil
}

// eventPosition is the record an event id names: events are
// "<partition>-<offset>".
type eventPosition struct {
	partition int32
	offset    int64
	set       bool
}

// parseLastEventID reads the id of the last event a reconnecting client
// got: the Last-Event-ID header (EventSource sends it), else ?lastEventId=.
func parseLastEventID(header, query string) (eventPosition, error) {
	v := header
	if v == "" {
		v = query
	}
	if v == "" {
		return eventPosition{}, nil
	}
	partition, offset, ok := strings.Cut(v, "-")
	p, perr := strconv.ParseInt(partition, 10, 32)
	o, oerr := strconv.ParseInt(offset, 10, 64)
	if !ok || perr != nil || oerr != nil || p < 0 || o < 0 {
		return eventPosition{}, badRequest("Last-Event-ID (or lastEventId) must be the id of an event of the stream: <partition>-<offset>, such as 0-42")
	}
	return eventPosition{partition: int32(p), offset: o, set: true}, nil
}

// covers says whether the client got m already: it is of the event's
// partition, at or before it.
func (e eventPosition) covers(m *sarama.ConsumerMessage) bool {
	return e.set && m.Partition == e.partition && m.Offset <= e.offset
}

// passedBy says whether writing m takes the stream past the event: m is of
// its partition and after it, so what comes at or before it later is a
// rewind (a reset, a recreated topic) the client has not seen.
func (e eventPosition) passedBy(m *sarama.ConsumerMessage) bool {
	return e.set && m.Partition == e.partition && m.Offset > e.offset
}

// streamSlots counts the streams open per user.
type streamSlots struct {
	perUser int
	mu      sync.Mutex
	open    map[string]int
}

func newStreamSlots(perUser int) *streamSlots {
	return &streamSlots{perUser: perUser, open: map[string]int{}}
}

// take counts a stream of user and returns how to uncount it; false when
// the user holds perUser streams already.
func (s *streamSlots) take(user string) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[user] >= s.perUser {
		return nil, false
	}
	s.open[user]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.open[user]--; s.open[user] == 0 {
			delete(s.open, user)
		}
	}, true
}

// stream serves a consume stream (see the top of this file).
func (s *server) stream(w http.ResponseWriter, r *http.Request) error {
	topic, q, err := topicAndQuery(r)
	if err != nil {
		return err
	}
	p, err := parseStreamParams(q)
	if err != nil {
		return err
	}
	// In queue mode, Last-Event-ID is ignored, not refused (EventSource
	// sends it on each reconnect, and a 400 ends an EventSource for good):
	// a record comes again only when it was not written, and the share
	// group hands out lower offsets at any time (released by another
	// consumer, its lock run out), which the client has not seen.
	var seen eventPosition
	if !p.queue {
		if seen, err = parseLastEventID(r.Header.Get("Last-Event-ID"), q.Get("lastEventId")); err != nil {
			return err
		}
	}
	user, err := s.authenticate(r)
	if err != nil {
		return err
	}
	defer s.Pool.Release(user)
	release, ok := s.streams.take(user.Name)
	if !ok {
		return &requestError{status: http.StatusTooManyRequests, retryAfter: streamRetryAfter,
			message: fmt.Sprintf("this user has %d consume streams open on this gateway replica, as many as it may (--max-streams-per-user): close one, or consume with plain GETs", s.Streams.PerUser)}
	}
	defer release()
	if err := user.CheckTopic(topic); err != nil {
		return err
	}

	// The server's WriteTimeout would cut the response: a stream lasts as
	// long as its client stays, and each round sets the write deadline
	// instead: long while it polls, short once it has events to write.
	// (Its ReadTimeout does not apply: net/http lifts it once a request
	// without a body was read.) Once the gateway starts shutting down, a
	// write gets streamDrainWriteBudget at most.
	rc := http.NewResponseController(w)
	var deadlineMu sync.Mutex
	drained := false
	writeBy := func(deadline time.Time) error {
		deadlineMu.Lock()
		defer deadlineMu.Unlock()
		if drained {
			return nil
		}
		return rc.SetWriteDeadline(deadline)
	}
	if err := writeBy(time.Now().Add(streamRoundBudget)); err != nil {
		return err
	}
	// The stream's consumes end when the client leaves or when the
	// gateway starts shutting down, a forwarded long poll included, and a
	// write blocked on a stalled client ends soon after. The watch ends
	// before the handler does: the deadline may not be set after that.
	ctx, cancel := context.WithCancel(r.Context())
	watched := make(chan struct{})
	defer func() {
		cancel()
		<-watched
	}()
	go func() {
		defer close(watched)
		select {
		case <-s.Pool.DrainStarted():
			deadlineMu.Lock()
			drained = true
			_ = rc.SetWriteDeadline(time.Now().Add(streamDrainWriteBudget))
			deadlineMu.Unlock()
			cancel()
		case <-ctx.Done():
		}
	}()

	// A round of a classic group is a consume, here or forwarded to the
	// group's owner; one of a queue group (mode=queue) is a batch of its
	// share group, accepted once written, released if not.
	round := func(req *http.Request, wait time.Duration) (batch, error) {
		if p.queue {
			return s.queueRound(req.Context(), user, topic, user.Name+"."+p.group, p.limit, wait)
		}
		return s.fetch(req, user, topic, p)
	}
	// The first round does not wait for records, so that what refuses
	// the consume (the group's ACL, its rebalancing, its mode) is a status.
	b, err := round(pollRequest(ctx, r, q, 0), 0)
	if err != nil {
		if ctx.Err() != nil && r.Context().Err() == nil {
			return &requestError{status: http.StatusServiceUnavailable, retryAfter: time.Second, message: "this gateway replica is shutting down; retry"}
		}
		return err
	}
	h := w.Header()
	h.Set("Content-Type", eventStreamType)
	h.Set("Cache-Control", "no-cache")
	// ingress-nginx (and nginx) then passes each event on at once.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s.metrics.streams.Inc()
	defer s.metrics.streams.Dec()

	poll := pollRequest(ctx, r, q, s.Streams.Heartbeat)
	p.timeout = s.Streams.Heartbeat
	var buf []byte
	var enc consumedEncoder
	var lastWrite time.Time
	for {
		var events int
		buf, events = appendRound(buf[:0], &enc, b.msgs, &seen, p.base64Values)
		// A round without records lasts about a heartbeat: one is written
		// once half of it passed, so that none is ever much more than a
		// heartbeat after the last write.
		if events == 0 && time.Since(lastWrite) >= s.Streams.Heartbeat/2 {
			buf = append(buf, ": heartbeat\n\n"...)
		}
		if r.Context().Err() != nil {
			// The client is gone: nothing more is written to it.
			s.settleRound(b, false, topic, events)
			return nil
		}
		delivered := true
		if len(buf) > 0 {
			deadline := time.Now().Add(streamWriteBudget)
			if lock := b.lockedUntil.Add(-queueSettleMargin); !b.lockedUntil.IsZero() && lock.Before(deadline) {
				deadline = lock
			}
			delivered = writeBy(deadline) == nil && writeFlushed(w, rc, buf) == nil
			lastWrite = time.Now()
		}
		s.settleRound(b, delivered, topic, events)
		if !delivered {
			s.log.Debug("a consume stream's client left or read too slowly; the records being written go to the group's next consume", "topic", topic, "records", events)
			return nil
		}
		s.metrics.consumed.Add(float64(events))

		if err := writeBy(time.Now().Add(streamRoundBudget)); err != nil {
			return nil
		}
		if b, err = round(poll, s.Streams.Heartbeat); err != nil {
			if ctx.Err() == nil && !s.Pool.Draining() {
				// The status can no longer be sent: the client
				// reconnects and gets it then, if it lasts.
				s.log.Info("a consume stream ended on an error", "topic", topic, "error", err)
			}
			return nil
		}
	}
}

// settleRound settles a round of a stream, and says so when the outcome
// did not take: its records are then handed out again (at least once).
func (s *server) settleRound(b batch, delivered bool, topic string, events int) {
	if err := b.settle(delivered); err != nil {
		s.log.Info("a consume stream's round could not be settled; its records are handed out again", "topic", topic, "records", len(b.msgs), "events", events, "delivered", delivered, "error", err)
	}
}

// queueRound takes one round of a stream in queue mode: a batch of the
// share group, whose records are accepted once written to the connection
// and released at once if not. The batch's lockedUntil is its earliest
// record's lock.
func (s *server) queueRound(ctx context.Context, user *kafka.User, topic, groupID string, limit int, wait time.Duration) (batch, error) {
	qb, err := user.QueueFetch(ctx, topic, groupID, limit, wait)
	if err != nil {
		return batch{}, err
	}
	b := batch{msgs: make([]*sarama.ConsumerMessage, len(qb.Records))}
	acks := make([]kafka.QueueAck, len(qb.Records))
	for i, rec := range qb.Records {
		b.msgs[i] = rec.Message
		acks[i] = kafka.QueueAck{Partition: rec.Message.Partition, Offset: rec.Message.Offset, Outcome: kafka.Accept}
		if b.lockedUntil.IsZero() || rec.LockedUntil.Before(b.lockedUntil) {
			b.lockedUntil = rec.LockedUntil
		}
	}
	b.settle = func(delivered bool) error {
		if len(acks) == 0 {
			return nil
		}
		if !delivered {
			for i := range acks {
				acks[i].Outcome = kafka.Release
			}
		}
		// The stream's context may be over: the outcome still goes out.
		actx, cancel := context.WithTimeout(context.Background(), ackTimeoutPerHolder)
		defer cancel()
		var failed []error
		for _, err := range user.QueueAck(actx, topic, groupID, qb.Member, qb.Batch, acks) {
			if err != nil {
				failed = append(failed, err)
			}
		}
		if len(failed) > 0 {
			return fmt.Errorf("%d of %d records: %w", len(failed), len(acks), failed[0])
		}
		return nil
	}
	return b, nil
}

// pollRequest is the stream's request as fetch reads it for one round:
// with ctx, and asking the group's owner, when fetch forwards it, for a
// long poll of wait.
func pollRequest(ctx context.Context, r *http.Request, q url.Values, wait time.Duration) *http.Request {
	query := url.Values{}
	for name, values := range q {
		query[name] = values
	}
	query.Del("lastEventId")
	if wait > 0 {
		query.Set("timeout", wait.String())
	}
	u := *r.URL
	u.RawQuery = query.Encode()
	pr := r.WithContext(ctx)
	pr.URL = &u
	return pr
}

// appendRound appends a round's records as events, but for those the
// client got before it reconnected (seen), which count as delivered with
// the rest of the round, until the stream writes a record of seen's
// partition after it: what comes at or before it afterwards was rewound.
// It returns buf and the number of events.
func appendRound(buf []byte, enc *consumedEncoder, msgs []*sarama.ConsumerMessage, seen *eventPosition, base64Values bool) ([]byte, int) {
	events := 0
	for _, m := range msgs {
		if seen.covers(m) {
			continue
		}
		if seen.passedBy(m) {
			*seen = eventPosition{}
		}
		buf = appendEvent(buf, enc, m, base64Values)
		events++
	}
	return buf, events
}

// appendEvent appends m as one event: its id, then its JSON object as a
// GET returns it, on one data line (JSON escapes line breaks).
func appendEvent(buf []byte, enc *consumedEncoder, m *sarama.ConsumerMessage, base64Values bool) []byte {
	buf = append(buf, "id: "...)
	buf = strconv.AppendInt(buf, int64(m.Partition), 10)
	buf = append(buf, '-')
	buf = strconv.AppendInt(buf, m.Offset, 10)
	buf = append(buf, "\ndata: "...)
	buf = enc.append(buf, m, base64Values)
	return append(buf, "\n\n"...)
}

// writeFlushed writes buf and flushes it to the connection.
func writeFlushed(w http.ResponseWriter, rc *http.ResponseController, buf []byte) error {
	if _, err := w.Write(buf); err != nil {
		return err
	}
	return rc.Flush()
}
