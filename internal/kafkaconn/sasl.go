package kafkaconn

import (
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// The SASL mechanisms qaas logs in with.
const (
	ScramSHA512 = sarama.SASLTypeSCRAMSHA512
	ScramSHA256 = sarama.SASLTypeSCRAMSHA256
	Plain       = sarama.SASLTypePlaintext
)

// checkMechanism says whether mechanism is one qaas can log in with.
func checkMechanism(mechanism string) error {
	switch mechanism {
	case ScramSHA512, ScramSHA256, Plain:
		return nil
	}
	return fmt.Errorf("%q is not one of SCRAM-SHA-512, SCRAM-SHA-256, PLAIN", mechanism)
}

// Login makes c log in as user with mechanism (SCRAM-SHA-512,
// SCRAM-SHA-256 or PLAIN); sarama leaves the SCRAM client to its users.
func Login(c *sarama.Config, mechanism, user, password string) {
	c.Net.SASL.Enable = true
	c.Net.SASL.Handshake = true
	c.Net.SASL.User = user
	c.Net.SASL.Password = password
	switch mechanism {
	case sarama.SASLTypeSCRAMSHA512:
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha512.New} }
	case sarama.SASLTypeSCRAMSHA256:
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha256.New} }
	default:
		c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	}
}

// scramClient adapts xdg-go/scram to sarama's SCRAMClient.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramClient) Begin(user, password, authzID string) error {
	client, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = client.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *scramClient) Done() bool                            { return s.conv.Done() }

// Bounds of a login the gateway passes to Kafka. Kafka sets none, but a
// login is a header value held in memory and sent to a broker on every
// attempt: longer ones are refused as impossible rather than forwarded.
const (
	MaxUsernameBytes = 256
	MaxPasswordBytes = 1024
)

// CheckLogin says why user and password can never be a Kafka login with
// mechanism, without dialing Kafka: empty, too long, not UTF-8, holding a
// control character, or refused by SCRAM's SASLprep (RFC 4013). The error
// names the field and the reason, never the value.
func CheckLogin(mechanism, user, password string) error {
	if err := checkText("username", user, MaxUsernameBytes); err != nil {
		return err
	}
	if err := checkText("password", password, MaxPasswordBytes); err != nil {
		return err
	}
	switch mechanism {
	case ScramSHA512, ScramSHA256:
		// The SCRAM client prepares both with SASLprep before it sends
		// anything; what it refuses would fail on every attempt.
		if _, err := scram.SHA256.NewClient(user, "", ""); err != nil {
			return errors.New("the username holds characters SCRAM does not allow")
		}
		if _, err := scram.SHA256.NewClient("u", password, ""); err != nil {
			return errors.New("the password holds characters SCRAM does not allow")
		}
	}
	return nil
}

func checkText(what, s string, maxBytes int) error {
	switch {
	case s == "":
		return fmt.Errorf("the %s is empty", what)
	case len(s) > maxBytes:
		return fmt.Errorf("the %s is longer than %d bytes", what, maxBytes)
	case !utf8.ValidString(s):
		return fmt.Errorf("the %s is not valid UTF-8", what)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("the %s holds a control character", what)
	}
	return nil
}
