package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"qaas.dev/qaas/gateway/kafka"
)

const (
	// NextOffsetHeader carries, on a read from a position, the offset to
	// ask for next to read on from where the answer ended.
	NextOffsetHeader = "Kafka-Next-Offset"
	// HighWatermarkHeader carries, on a read from a position, the
	// partition's end as Kafka last gave it: an answer whose next offset is
	// below it did not reach the end, empty or not.
	HighWatermarkHeader = "Kafka-High-Watermark"
)

// parsePosition reads a position as ?offset= and a reset's To give it: an
// offset, earliest, latest, or an RFC 3339 time (the first message at or
// after it).
func parsePosition(v string) (kafka.Position, bool) {
	switch v {
	case "earliest":
		return kafka.Position{At: kafka.AtEarliest}, true
	case "latest":
		return kafka.Position{At: kafka.AtLatest}, true
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return kafka.Position{At: kafka.AtOffset, Offset: n}, n >= 0
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return kafka.Position{At: kafka.AtTime, Time: t}, true
	}
	return kafka.Position{}, false
}

const positionHelp = "an offset (0 or more), earliest, latest, or an RFC 3339 time such as 2026-11-26T10:00:00Z (the first message at or after it)"

// readAtParams reads the query of a read from a position: ?partition= and
// ?offset= together, and none of a group's parameters.
func readAtParams(q url.Values) (int32, kafka.Position, error) {
	switch {
	case q.Has("group"), q.Has("ack"), q.Has("ackTimeout"):
		return 0, kafka.Position{}, badRequest("partition= and offset= read a partition outside any consumer group: leave out group=, ack= and ackTimeout=, or leave out partition= and offset= to consume through a group")
	case !q.Has("partition"):
		return 0, kafka.Position{}, badRequest("offset= needs partition=: give the partition to read, as in ?partition=0&offset=earliest")
	case !q.Has("offset"):
		return 0, kafka.Position{}, badRequest("partition= needs offset=: " + positionHelp)
	}
	partition, err := strconv.ParseInt(q.Get("partition"), 10, 32)
	if err != nil || partition < 0 {
		return 0, kafka.Position{}, badRequest(fmt.Sprintf("partition must be a whole number from 0 to %d", math.MaxInt32))
	}
	pos, ok := parsePosition(q.Get("offset"))
	if !ok {
		return 0, kafka.Position{}, badRequest("offset must be " + positionHelp)
	}
	return int32(partition), pos, nil
}

// consumeAt handles GET /topic/{topic}?partition=&offset=: up to ?limit=
// messages of one partition from a position, outside any consumer group.
// Nothing is committed; the answer's Kafka-Next-Offset says where to read
// on. Any replica serves it.
func (s *server) consumeAt(w http.ResponseWriter, r *http.Request, topic string, q url.Values) error {
	partition, pos, err := readAtParams(q)
	if err != nil {
		return err
	}
	p, err := parseConsumeParams(q)
	if err != nil {
		return err
	}
	if p.queue {
		return badRequest("partition and offset read outside any group; mode=queue reads a share group")
	}
	user, err := s.authenticate(r)
	if err != nil {
		return err
	}
	defer s.Pool.Release(user)
	if err := user.CheckTopic(topic); err != nil {
		return err
	}
	read, err := user.ReadAt(r.Context(), topic, partition, pos, p.limit, s.Limits.MaxResponseBytes, p.timeout)
	if err != nil {
		return err
	}
	w.Header().Set(NextOffsetHeader, strconv.FormatInt(read.Next, 10))
	w.Header().Set(HighWatermarkHeader, strconv.FormatInt(read.End, 10))
	if writeConsumed(w, read.Messages, p) == nil {
		s.metrics.consumed.Add(float64(len(read.Messages)))
	}
	return nil
}
