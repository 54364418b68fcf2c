package kafkaconn

import (
	"crypto/tls"
	"time"

	"github.com/IBM/sarama"
	"github.com/rcrowley/go-metrics"
)

// sarama records meters and histograms into go-metrics registries for every
// request and message it handles. Nothing here reads them, and at the
// gateway's request rates the locks and sampling cost a few percent of its
// CPU, so every go-metrics constructor returns its no-op stub instead.
func init() { metrics.UseNilMetrics = true }

// Connection is how a sarama client reaches the cluster: Settings with
// the version parsed and the CA read.
type Connection struct {
	Brokers []string
	// Mechanism is SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN.
	Mechanism string
	Version   sarama.KafkaVersion
	// TLS, when not nil, is used for every broker connection.
	TLS *tls.Config
}

// NewConfig is a sarama configuration that reaches the cluster as
// clientID, not yet logged in (see Config for a login).
func (c Connection) NewConfig(clientID string) *sarama.Config {
	sc := sarama.NewConfig()
	sc.ClientID = clientID
	sc.Version = c.Version
	// A broker that does not answer must turn into an error a caller can
	// report (an HTTP 503, a condition) well before its own deadline.
	sc.Net.DialTimeout = 5 * time.Second
	sc.Net.ReadTimeout = 15 * time.Second
	sc.Net.WriteTimeout = 15 * time.Second
	if c.TLS != nil {
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = c.TLS
	}
	return sc
}

// Config is NewConfig logged in as user with the connection's mechanism.
func (c Connection) Config(clientID, user, password string) *sarama.Config {
	sc := c.NewConfig(clientID)
	Login(sc, c.Mechanism, user, password)
	return sc
}
