package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"qaas.dev/qaas/gateway/kafka"
)

// produce handles POST /topic/{topic}: a JSON array of messages, or with
// ?format=raw the body as one message. It answers once Kafka acknowledged
// every message. The body is read whatever its content type, since
// `curl -d` sends a form content type.
func (s *server) produce(w http.ResponseWriter, r *http.Request) error {
	topic, q, err := topicAndQuery(r)
	if err != nil {
		return err
	}
	raw, err := rawFormat(q.Get("format"))
	if err != nil {
		return err
	}
	base64Values, err := base64Encoding(q.Get("encoding"))
	if err != nil {
		return err
	}
	user, err := s.authenticate(r)
	if err != nil {
		return err
	}
	defer s.Pool.Release(user)

	body, err := readBody(w, r, s.Limits.MaxRequestBytes)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return tooLarge(fmt.Sprintf("body is larger than the %d bytes allowed", s.Limits.MaxRequestBytes))
		}
		if isTimeout(err) {
			return &requestError{status: http.StatusRequestTimeout, message: "the body did not arrive in time: send it without pausing, or send a smaller one"}
		}
		return badRequest("reading the body failed: " + err.Error())
	}
	var msgs []kafka.Message
	if raw {
		if len(body) > s.Limits.MaxMessageBytes {
			return tooLarge(fmt.Sprintf("message is %d bytes, more than the %d allowed", len(body), s.Limits.MaxMessageBytes))
		}
		msgs = []kafka.Message{{Value: body, Partition: -1}}
	} else {
		limits := bodyLimits{maxMessageBytes: s.Limits.MaxMessageBytes, maxBatchMessages: s.Limits.MaxBatchMessages}
		if msgs, err = decodeProduceBody(body, base64Values, limits); err != nil {
			return err
		}
	}

	if err := user.CheckTopic(topic); err != nil {
		return err
	}
	placements, err := user.Produce(r.Context(), topic, msgs)
	if err != nil {
		return err
	}
	s.metrics.produced.Add(float64(len(placements)))
	writeProducedJSON(w, topic, placements)
	return nil
}

// preallocatedBodyBytes bounds the buffer readBody makes before any of
// the body arrived.
const preallocatedBodyBytes = 1 << 20

// readBody reads the whole body, refusing more than max bytes. When the
// client gave the body's length, the body is read into one buffer of that
// size (io.ReadAll starts at 512 bytes and grows, copying as it goes), up
// to preallocatedBodyBytes: past that the buffer grows as bytes arrive, so
// that a client announcing a large body and sending nothing does not make
// the gateway hold its size.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, max)
	n := r.ContentLength
	if n < 0 || n > max {
		return io.ReadAll(body)
	}
	// One byte more than announced, so that a Read always has room and
	// the loop ends on the EOF that follows the body.
	buf := make([]byte, 0, min(n, preallocatedBodyBytes)+1)
	for {
		m, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		switch {
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return nil, err
		case len(buf) == cap(buf):
			// A body longer than preallocatedBodyBytes.
			buf = append(buf, 0)[:len(buf)]
		}
	}
}

// writeProducedJSON answers with where each message landed, a JSON array
// of produced, written in one pass as encoding/json writes it
// (TestProducedEncodingIsEncodingJSONs).
func writeProducedJSON(w http.ResponseWriter, topic string, placements []kafka.Placement) {
	buf := make([]byte, 0, 2+len(placements)*(48+len(topic)))
	buf = append(buf, '[')
	for i, p := range placements {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"Topic":`...)
		buf = appendJSONString(buf, []byte(topic))
		buf = append(buf, `,"Partition":`...)
		buf = strconv.AppendInt(buf, int64(p.Partition), 10)
		buf = append(buf, `,"Offset":`...)
		buf = strconv.AppendInt(buf, p.Offset, 10)
		buf = append(buf, '}')
	}
	buf = append(buf, "]\n"...)
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}

func rawFormat(format string) (bool, error) {
	switch format {
	case "", "json":
		return false, nil
	case "raw":
		return true, nil
	}
	return false, badRequest(fmt.Sprintf("format %q is not one of json, raw", format))
}

func base64Encoding(encoding string) (bool, error) {
	switch encoding {
	case "":
		return false, nil
	case "base64":
		return true, nil
	}
	return false, badRequest(fmt.Sprintf("encoding %q is not supported: use base64 or leave it out", encoding))
}
