package httpapi

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"qaas.dev/qaas/gateway/kafka"
)

// errorBody is the JSON of every error response.
type errorBody struct {
	Status  int    `json:"status"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

// requestError is a problem with the request itself.
type requestError struct {
	status  int
	message string
	// retryAfter, when set, goes out as Retry-After.
	retryAfter time.Duration
}

func (e *requestError) Error() string { return e.message }

func badRequest(message string) *requestError {
	return &requestError{status: http.StatusBadRequest, message: message}
}

func tooLarge(message string) *requestError {
	return &requestError{status: http.StatusRequestEntityTooLarge, message: message}
}

// statusClientClosedRequest marks requests whose client left first.
const statusClientClosedRequest = 499

// Seconds a client is asked to wait before retrying.
const (
	retryAfterUnavailable = 5
	retryAfterThrottled   = 1
)

// writeError answers with the status and message err calls for.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var reqErr *requestError
	if r.Context().Err() != nil && !(errors.As(err, &reqErr) && reqErr.status == http.StatusRequestTimeout) {
		// The client went away: nobody reads an answer, and the metrics
		// count it as nginx does. A body that timed out also ends the
		// request's context, but its client is still there to read 408.
		w.WriteHeader(statusClientClosedRequest)
		return
	}
	status, message := http.StatusInternalServerError, "internal error"
	retryAfter := time.Duration(0)
	var kafkaErr *kafka.Error
	switch {
	case errors.As(err, &reqErr):
		status, message, retryAfter = reqErr.status, reqErr.message, reqErr.retryAfter
	case errors.As(err, &kafkaErr):
		status, message, retryAfter = kafkaStatus(kafkaErr.Kind), kafkaErr.Message, kafkaErr.RetryAfter
		s.metrics.kafkaErrors.WithLabelValues(kindLabel(kafkaErr.Kind)).Inc()
	}
	switch {
	case retryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter.Seconds())))
	case status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterUnavailable))
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterThrottled))
	}
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="qaas", charset="UTF-8"`)
	}
	if status >= 500 {
		s.log.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
	}
	writeJSON(w, status, errorBody{Status: status, Error: http.StatusText(status), Message: message})
}

func kafkaStatus(k kafka.Kind) int {
	switch k {
	case kafka.KindUnauthenticated:
		return http.StatusUnauthorized
	case kafka.KindForbidden:
		return http.StatusForbidden
	case kafka.KindNotFound:
		return http.StatusNotFound
	case kafka.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case kafka.KindBadRequest:
		return http.StatusBadRequest
	case kafka.KindThrottled:
		return http.StatusTooManyRequests
	case kafka.KindInternal:
		return http.StatusInternalServerError
	case kafka.KindConflict:
		return http.StatusConflict
	case kafka.KindOutOfRange:
		return http.StatusRequestedRangeNotSatisfiable
	}
	return http.StatusServiceUnavailable
}

func kindLabel(k kafka.Kind) string {
	switch k {
	case kafka.KindUnauthenticated:
		return "unauthenticated"
	case kafka.KindForbidden:
		return "forbidden"
	case kafka.KindNotFound:
		return "not_found"
	case kafka.KindTooLarge:
		return "too_large"
	case kafka.KindBadRequest:
		return "bad_request"
	case kafka.KindThrottled:
		return "throttled"
	case kafka.KindInternal:
		return "internal"
	case kafka.KindRebalancing:
		return "rebalancing"
	case kafka.KindConflict:
		return "conflict"
	case kafka.KindOutOfRange:
		return "out_of_range"
	}
	return "unavailable"
}

// isTimeout says whether a read failed on the server's read deadline
// (HTTP/1) or the stream's read timeout (HTTP/2).
func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout()
}

// jsonContentType is the Content-Type of JSON answers, set as the map
// entry itself so that setting it allocates nothing per request. Sharing
// the slice is safe: net/http copies a handler's header (Header.Clone)
// before it adds to it and never writes into a value slice.
var jsonContentType = []string{"application/json"}

// writeJSON answers with v; the error says the body did not reach the
// connection, which only a consume needs to know.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
