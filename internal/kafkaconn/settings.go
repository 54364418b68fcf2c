// Package kafkaconn is how both binaries reach Kafka: the flags that name
// the cluster (bootstrap servers, SASL mechanism, TLS and its CA, protocol
// version), checked the same way, and the sarama configuration they make.
// The operator runs its gateways with its own settings, so one definition
// keeps the two from drifting apart.
package kafkaconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/IBM/sarama"

	"qaas.dev/qaas/internal/flagenv"
)

// DefaultVersion is the Kafka protocol version spoken unless
// --kafka-version says otherwise.
const DefaultVersion = "3.6.0"

// Settings are the Kafka connection flags, as a user gives them.
type Settings struct {
	// Brokers are the bootstrap servers, host:port.
	Brokers []string
	// SASLMechanism is SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN.
	SASLMechanism string
	// TLS says whether the brokers speak TLS.
	TLS bool
	// CAFile, when set, is a PEM bundle that signs the brokers'
	// certificates; it implies TLS.
	CAFile string
	// Version is the Kafka protocol version to speak, such as 3.6.0.
	Version string
}

// AddFlags binds s to the --kafka-* flags of fs, with their defaults
// stored in s.
func (s *Settings) AddFlags(fs *flag.FlagSet) {
	flagenv.ListVar(fs, &s.Brokers, "kafka-brokers", "comma-separated Kafka bootstrap servers (host:port)")
	fs.StringVar(&s.SASLMechanism, "kafka-sasl-mechanism", ScramSHA512, "SASL mechanism for Kafka logins: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN")
	fs.BoolVar(&s.TLS, "kafka-tls", false, "connect to Kafka over TLS")
	fs.StringVar(&s.CAFile, "kafka-ca-file", "", "PEM CA bundle that signs the Kafka brokers' certificates (implies --kafka-tls)")
	fs.StringVar(&s.Version, "kafka-version", DefaultVersion, "Kafka protocol version to speak (the oldest broker version in the cluster)")
}

// Validate explains every flag that is missing or wrong; a CA file turns
// TLS on.
func (s *Settings) Validate() error {
	var errs []error
	if len(s.Brokers) == 0 {
		errs = append(errs, errors.New("--kafka-brokers is required"))
	}
	if err := checkMechanism(s.SASLMechanism); err != nil {
		errs = append(errs, fmt.Errorf("--kafka-sasl-mechanism: %w", err))
	}
	if _, err := sarama.ParseKafkaVersion(s.Version); err != nil {
		errs = append(errs, fmt.Errorf("--kafka-version: %w", err))
	}
	if s.CAFile != "" {
		s.TLS = true
	}
	return errors.Join(errs...)
}

// Connect reads the CA file and returns what a sarama client needs.
func (s Settings) Connect() (Connection, error) {
	c := Connection{Brokers: s.Brokers, Mechanism: s.SASLMechanism}
	var err error
	if c.Version, err = sarama.ParseKafkaVersion(s.Version); err != nil {
		return c, fmt.Errorf("--kafka-version: %w", err)
	}
	if !s.TLS && s.CAFile == "" {
		return c, nil
	}
	var ca []byte
	if s.CAFile != "" {
		if ca, err = os.ReadFile(s.CAFile); err != nil {
			return c, fmt.Errorf("--kafka-ca-file: %w", err)
		}
	}
	if c.TLS, err = TLSConfig(ca); err != nil {
		return c, fmt.Errorf("--kafka-ca-file %s: %w", s.CAFile, err)
	}
	return c, nil
}

// TLSConfig is the TLS of broker connections: the system's roots, or
// caPEM's certificates when given.
func TLSConfig(caPEM []byte) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) == 0 {
		return c, nil
	}
	c.RootCAs = x509.NewCertPool()
	if !c.RootCAs.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("it holds no PEM certificate")
	}
	return c, nil
}
