package kafkaconn

import (
	"crypto/sha256"
	"crypto/sha512"
	"fmt"

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
