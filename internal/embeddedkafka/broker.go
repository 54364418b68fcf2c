// Package embeddedkafka runs an in-process Kafka-protocol broker (kfake)
// with SASL/SCRAM and ACLs switched on, as a production cluster would have
// them, and provisions tenants in it through sarama's admin API. The demos
// and the tests use it; the product's binaries never link it.
package embeddedkafka

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"qaas.dev/qaas/internal/kafkaconn"
)

// AdminUser is the broker's superuser; it bypasses ACLs.
const AdminUser = "admin"

// BrokerOptions configures an embedded broker.
type BrokerOptions struct {
	// Host is the address to listen on and to advertise to clients;
	// empty is 127.0.0.1. Another address lets clients elsewhere (pods on
	// the node, say) reach the broker.
	Host string
	// Port to listen on, 0 for any free port.
	Port int
	// DataDir keeps topics, users and ACLs across restarts when set.
	DataDir string
	// AdminPassword is the superuser's password.
	AdminPassword string
	// TLS, when set, makes the broker accept only TLS connections.
	TLS *tls.Config
	// ClientTLS is what the admin client trusts when TLS is set.
	ClientTLS *tls.Config
	// PlainUsers are users (name to password) who log in with SASL/PLAIN;
	// Provision grants them ACLs like any user.
	PlainUsers map[string]string
	// Configs are broker configs, such as the share groups' defaults
	// (group.share.record.lock.duration.ms), which the in-process broker
	// applies to every group.
	Configs map[string]string
}

// Broker is a running embedded broker.
type Broker struct {
	Addr          string
	AdminPassword string
	cluster       *kfake.Cluster
	clientTLS     *tls.Config
}

// StartBroker starts a one-node broker, on 127.0.0.1 unless o.Host says otherwise.
func StartBroker(o BrokerOptions) (*Broker, error) {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(o.Port),
		kfake.EnableSASL(),
		kfake.EnableACLs(),
		kfake.Superuser("SCRAM-SHA-512", AdminUser, o.AdminPassword),
		kfake.ClusterID("qaas-embedded"),
	}
	for user, password := range o.PlainUsers {
		opts = append(opts, kfake.User("PLAIN", user, password))
	}
	if len(o.Configs) > 0 {
		opts = append(opts, kfake.BrokerConfigs(o.Configs))
	}
	if o.DataDir != "" {
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	if o.TLS != nil {
		opts = append(opts, kfake.TLS(o.TLS))
	}
	if o.Host != "" {
		// kfake listens on 127.0.0.1 and advertises the address it
		// listens on: listening on Host makes it advertise Host.
		opts = append(opts, kfake.ListenFn(func(network, address string) (net.Listener, error) {
			_, port, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(o.Host, port))
		}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting embedded Kafka: %w", err)
	}
	return &Broker{Addr: c.ListenAddrs()[0], AdminPassword: o.AdminPassword, cluster: c, clientTLS: o.ClientTLS}, nil
}

// Close stops the broker; with a DataDir, its state is kept there.
func (b *Broker) Close() { b.cluster.Close() }

// ObserveRequests calls fn with the key of every request the broker
// handles, for tests that count what reaches Kafka.
func (b *Broker) ObserveRequests(fn func(key int16)) {
	b.cluster.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		fn(req.Key())
		return nil, nil, false
	})
}

// Client opens a sarama client logged in as the superuser.
func (b *Broker) Client() (sarama.Client, error) {
	conn := kafkaconn.Connection{Brokers: []string{b.Addr}, Mechanism: kafkaconn.ScramSHA512, Version: sarama.V3_6_0_0, TLS: b.clientTLS}
	cfg := conn.Config("qaas-embedded-admin", AdminUser, b.AdminPassword)
	cfg.Admin.Timeout = 10 * time.Second
	c, err := sarama.NewClient([]string{b.Addr}, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to embedded Kafka as %s: %w", AdminUser, err)
	}
	return c, nil
}

// Admin opens a sarama ClusterAdmin logged in as the superuser; closing it
// closes its client.
func (b *Broker) Admin() (sarama.ClusterAdmin, error) {
	c, err := b.Client()
	if err != nil {
		return nil, err
	}
	admin, err := sarama.NewClusterAdminFromClient(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("connecting to embedded Kafka as %s: %w", AdminUser, err)
	}
	return admin, nil
}
