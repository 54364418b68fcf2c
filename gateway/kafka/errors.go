package kafka

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// Kind says what a failure means to the HTTP client, independently of which
// Kafka call produced it.
type Kind int

const (
	// KindUnavailable: Kafka could not be reached or did not answer in
	// time; retrying later can succeed.
	KindUnavailable Kind = iota
	// KindUnauthenticated: Kafka refused the username and password.
	KindUnauthenticated
	// KindForbidden: an ACL denies the user this topic or group.
	KindForbidden
	// KindNotFound: the topic does not exist.
	KindNotFound
	// KindTooLarge: Kafka refused a message or batch as too large.
	KindTooLarge
	// KindBadRequest: the request asked for something impossible, such as
	// a partition the topic does not have.
	KindBadRequest
	// KindThrottled: the gateway refuses new logins or consumer groups
	// for a moment.
	KindThrottled
	// KindInternal: the gateway or its configuration is at fault.
	KindInternal
	// KindRebalancing: Kafka has not assigned a consumer group's
	// partitions yet, typically while a member that stopped without
	// leaving waits out its session; Kafka itself is fine.
	KindRebalancing
	// KindConflict: the state or the mode of a consumer group keeps
	// Kafka from doing what was asked, such as members still in a group
	// being reset, or queue mode on a classic consumer group.
	KindConflict
	// KindOutOfRange: an offset outside what a partition holds.
	KindOutOfRange
)

// Error is a failure classified for the client. Message never contains a
// secret: it is built from names and Kafka error texts only.
type Error struct {
	Kind    Kind
	Message string
	Err     error
	// RetryAfter, when set, is how long the client should wait.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

func newError(kind Kind, err error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...), Err: err}
}

// Classify turns an error from sarama into an *Error; subject names what the
// call was about ("topic x", "group y") for the message.
func Classify(err error, subject string) *Error {
	var classified *Error
	if errors.As(err, &classified) {
		return classified
	}
	switch {
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed):
		return newError(KindUnauthenticated, err, "Kafka refused the username and password")
	case errors.Is(err, sarama.ErrUnsupportedSASLMechanism):
		return newError(KindInternal, err, "Kafka does not accept the gateway's SASL mechanism (--kafka-sasl-mechanism)")
	case errors.Is(err, sarama.ErrTopicAuthorizationFailed):
		return newError(KindForbidden, err, "not authorized for %s", subject)
	case errors.Is(err, sarama.ErrGroupAuthorizationFailed):
		return newError(KindForbidden, err, "not authorized for %s", subject)
	case errors.Is(err, sarama.ErrClusterAuthorizationFailed):
		return newError(KindForbidden, err, "not authorized for this operation on the Kafka cluster")
	case errors.Is(err, sarama.ErrUnknownTopicOrPartition):
		return newError(KindNotFound, err, "%s does not exist", subject)
	case errors.Is(err, sarama.ErrMessageSizeTooLarge):
		return newError(KindTooLarge, err, "Kafka refused the message as too large for %s", subject)
	case errors.Is(err, sarama.ErrOffsetOutOfRange):
		return newError(KindOutOfRange, err, "offset out of range for %s: Kafka no longer holds it (retention) or does not hold it yet", subject)
	case errors.Is(err, sarama.ErrInvalidPartition):
		return newError(KindBadRequest, err, "partition out of range for %s", subject)
	case errors.As(err, new(sarama.ConfigurationError)):
		return newError(KindInternal, err, "the gateway refused its own Kafka request: %v", err)
	}
	return newError(KindUnavailable, err, "Kafka is unavailable: %s", kafkaReason(err))
}

// kafkaReason gives a short, secret-free cause for an unavailability.
func kafkaReason(err error) string {
	var kerr sarama.KError
	var netErr net.Error
	switch {
	case errors.As(err, &kerr):
		return kerr.Error()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case errors.Is(err, sarama.ErrOutOfBrokers), errors.Is(err, sarama.ErrClosedClient):
		return "no broker reachable"
	case errors.Is(err, sarama.ErrNotConnected):
		return "not connected"
	}
	return "request failed"
}
