package kafka

import (
	"errors"
	"io"
	"syscall"

	"github.com/IBM/sarama"
)

// loginRefused tells whether Kafka refused a login, as opposed to being
// unreachable. Brokers refuse a login either with SASL_AUTHENTICATION_FAILED
// or, with the v0 handshake and in some implementations, by closing the
// connection during authentication. So when a broker answers an
// unauthenticated ApiVersions request but drops the same login's
// connection, the login was refused.
func loginRefused(opts Options, cfg *sarama.Config, loginErr error) bool {
	if errors.Is(loginErr, sarama.ErrSASLAuthenticationFailed) {
		return true
	}
	if Ping(opts) != nil {
		return false
	}
	for _, addr := range opts.Brokers {
		b := sarama.NewBroker(addr)
		if err := b.Open(cfg); err != nil {
			continue
		}
		// Connected waits for the connection attempt, authentication
		// included, to finish.
		_, connErr := b.Connected()
		_ = b.Close()
		switch {
		case connErr == nil:
			return false
		case errors.Is(connErr, sarama.ErrSASLAuthenticationFailed),
			errors.Is(connErr, io.EOF),
			errors.Is(connErr, io.ErrUnexpectedEOF),
			errors.Is(connErr, syscall.ECONNRESET):
			return true
		}
	}
	return false
}
