package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"qaas.dev/qaas/gateway/kafka"
)

// produced says where one message of a produce request landed, in the
// order of the request.
type produced struct {
	Topic     string `json:"Topic"`
	Partition int32  `json:"Partition"`
	Offset    int64  `json:"Offset"`
}

// produce handles POST /topic/{topic}: a JSON array of messages, or with
// ?format=raw the body as one message. It answers once Kafka acknowledged
// every message. The body is read whatever its content type, since
// `curl -d` sends a form content type.
func (s *server) produce(w http.ResponseWriter, r *http.Request) {
	if err := s.doProduce(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

func (s *server) doProduce(w http.ResponseWriter, r *http.Request) error {
	topic := r.PathValue("topic")
	if err := validTopic(topic); err != nil {
		return err
	}
	q, err := parseQuery(r.URL)
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

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.Limits.MaxRequestBytes))
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
	out := make([]produced, len(placements))
	for i, p := range placements {
		out[i] = produced{Topic: topic, Partition: p.Partition, Offset: p.Offset}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
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
