// Package config holds the gateway's settings and the flag set that parses
// them. It is a package of its own so that the operator can check the
// arguments it generates against the very flags the gateway defines.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"qaas.dev/qaas/internal/flagenv"
	"qaas.dev/qaas/internal/kafkasasl"
)

// Config is everything the gateway needs to run.
type Config struct {
	ListenAddress   string
	TLSCertFile     string
	TLSKeyFile      string
	ShutdownTimeout time.Duration
	LogLevel        slog.Level

	KafkaBrokers       []string
	KafkaSASLMechanism string
	KafkaTLS           bool
	KafkaCAFile        string
	KafkaVersion       string

	// CredentialsDir, when set, is a directory of users (a mounted Secret):
	// the gateway checks passwords itself before logging in to Kafka.
	// When empty, the supplied username and password are the Kafka login.
	CredentialsDir string

	// PeerListenAddress, when set, serves the other replicas of the same
	// application: they forward consumes of the groups this one owns.
	PeerListenAddress string
	PeerAdvertiseHost string
	// PeerAdvertiseAddress is where the other replicas reach this one:
	// set by server.Listen from PeerAdvertiseHost and the peer listener.
	PeerAdvertiseAddress string
	PeerTokenFile        string

	MaxRequestBytes     int64
	MaxMessageBytes     int
	MaxBatchMessages    int
	MaxResponseBytes    int
	ConsumerIdleTimeout time.Duration
	ClientIdleTimeout   time.Duration
	LoginRate           float64

	MaxConnections    int
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration

	EmbeddedKafka bool
	DataDir       string
}

// NewFlagSet returns the gateway's flags bound to cfg, with their defaults
// already stored in cfg.
func NewFlagSet(cfg *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.StringVar(&cfg.ListenAddress, "listen-address", ":8443", "address the HTTP(S) server listens on")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert-file", "", "PEM certificate for HTTPS; without it the gateway serves plain HTTP (for use behind a TLS-terminating ingress)")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key-file", "", "PEM private key for --tls-cert-file")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", time.Minute, "how long a shutdown waits for in-flight requests to finish")
	fs.TextVar(&cfg.LogLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")

	fs.Func("kafka-brokers", "comma-separated Kafka bootstrap servers (host:port)", func(s string) error {
		cfg.KafkaBrokers = flagenv.SplitList(s)
		return nil
	})
	fs.StringVar(&cfg.KafkaSASLMechanism, "kafka-sasl-mechanism", kafkasasl.ScramSHA512, "SASL mechanism for Kafka logins: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN")
	fs.BoolVar(&cfg.KafkaTLS, "kafka-tls", false, "connect to Kafka over TLS")
	fs.StringVar(&cfg.KafkaCAFile, "kafka-ca-file", "", "PEM CA bundle that signs the Kafka brokers' certificates (implies --kafka-tls)")
	fs.StringVar(&cfg.KafkaVersion, "kafka-version", "3.6.0", "Kafka protocol version to speak (the oldest broker version in the cluster)")

	fs.StringVar(&cfg.CredentialsDir, "credentials-dir", "", "directory of users (a mounted Secret: files <user>.username and <user>.password); when empty, the supplied username and password are used as the Kafka login")

	fs.StringVar(&cfg.PeerListenAddress, "peer-listen-address", "", "address (plain HTTP, for the pod network) where the other gateway replicas of the application forward consumes of the consumer groups this one owns; empty for a gateway without replicas")
	fs.StringVar(&cfg.PeerAdvertiseHost, "peer-advertise-host", "", "host or IP where the other replicas reach --peer-listen-address (the pod's IP); defaults to the listener's host when it names one")
	fs.StringVar(&cfg.PeerTokenFile, "peer-token-file", "", "file holding the secret the replicas of the application share; required with --peer-listen-address")

	fs.Int64Var(&cfg.MaxRequestBytes, "max-request-bytes", 10<<20, "largest request body accepted, in bytes (larger is 413)")
	fs.IntVar(&cfg.MaxMessageBytes, "max-message-bytes", 1000000, "largest single message value accepted, in bytes (larger is 413); keep it at or below the topics' max.message.bytes")
	fs.IntVar(&cfg.MaxBatchMessages, "max-batch-messages", 1000, "most messages accepted in one produce request (more is 413)")
	fs.IntVar(&cfg.MaxResponseBytes, "max-response-bytes", 8<<20, "a consume response stops adding messages once their values reach this many bytes (it always holds at least one)")
	fs.DurationVar(&cfg.ConsumerIdleTimeout, "consumer-idle-timeout", 5*time.Minute, "a consumer group member unused for this long commits and leaves its group")
	fs.DurationVar(&cfg.ClientIdleTimeout, "client-idle-timeout", 10*time.Minute, "a user's Kafka client unused for this long is closed")
	fs.Float64Var(&cfg.LoginRate, "login-rate", 20, "new Kafka logins allowed per second across all users; beyond it requests get 429")

	// 2048 connections: the ingress controller in front multiplexes its
	// clients over a few hundred keep-alive connections, and an open TLS
	// connection holds tens of KiB, so the cap keeps a flood of them within
	// the gateway's default 256 MiB and far from the file limit.
	fs.IntVar(&cfg.MaxConnections, "max-connections", 2048, "most client connections held open; at the cap a new one replaces the longest idle, and when all are busy a few more serve only /healthz, /readyz and /metrics (other requests get 503) and the rest are closed on arrival")
	fs.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", 64<<10, "largest request line and headers accepted, in bytes (larger is 431)")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client has to send a request's headers (and its TLS handshake) before the connection is closed")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", time.Minute, "how long a client has to send a whole request, body included (a produce body still arriving then is 408)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 2*time.Minute, "a keep-alive connection without a request for this long is closed")

	fs.BoolVar(&cfg.EmbeddedKafka, "embedded-kafka", false, "run an in-process Kafka-protocol broker (SASL and ACLs on) with a demo tenant, and print how to use it")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "with --embedded-kafka: keep the broker's data, the demo password and the certificate in this directory across restarts")
	return fs
}

// Parse reads args, then fills every flag not given on the command line
// from its environment-variable twin (see flagenv), then validates the
// result.
// Output (usage, errors) goes to out.
func Parse(args []string, getenv func(string) string, out io.Writer) (*Config, error) {
	cfg := &Config{}
	fs := NewFlagSet(cfg)
	if err := flagenv.Parse(fs, args, getenv, out, "Serves the qaas HTTP API over Kafka."); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (c *Config) validate() error {
	var errs []error
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("--tls-cert-file and --tls-key-file must be given together"))
	}
	if c.EmbeddedKafka {
		if len(c.KafkaBrokers) > 0 {
			errs = append(errs, errors.New("--embedded-kafka runs its own broker: do not also give --kafka-brokers"))
		}
		if c.CredentialsDir != "" {
			errs = append(errs, errors.New("--embedded-kafka uses its demo user's Kafka login: do not also give --credentials-dir"))
		}
	} else {
		if len(c.KafkaBrokers) == 0 {
			errs = append(errs, errors.New("--kafka-brokers is required (or --embedded-kafka for a local demo)"))
		}
		if c.DataDir != "" {
			errs = append(errs, errors.New("--data-dir only applies with --embedded-kafka"))
		}
	}
	if err := kafkasasl.Check(c.KafkaSASLMechanism); err != nil {
		errs = append(errs, fmt.Errorf("--kafka-sasl-mechanism: %w", err))
	}
	if c.KafkaCAFile != "" {
		c.KafkaTLS = true
	}
	if c.PeerListenAddress != "" && c.PeerTokenFile == "" {
		errs = append(errs, errors.New("--peer-listen-address needs --peer-token-file, the replicas' shared secret"))
	}
	if c.PeerListenAddress == "" && (c.PeerAdvertiseHost != "" || c.PeerTokenFile != "") {
		errs = append(errs, errors.New("--peer-advertise-host and --peer-token-file only apply with --peer-listen-address"))
	}
	if c.MaxRequestBytes <= 0 || c.MaxMessageBytes <= 0 || c.MaxBatchMessages <= 0 || c.MaxResponseBytes <= 0 {
		errs = append(errs, errors.New("--max-request-bytes, --max-message-bytes, --max-batch-messages and --max-response-bytes must be positive"))
	}
	if c.ConsumerIdleTimeout <= 0 || c.ClientIdleTimeout <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("--consumer-idle-timeout, --client-idle-timeout and --shutdown-timeout must be positive"))
	}
	if c.MaxConnections <= 0 || c.MaxHeaderBytes <= 0 {
		errs = append(errs, errors.New("--max-connections and --max-header-bytes must be positive"))
	}
	if c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.IdleTimeout <= 0 {
		errs = append(errs, errors.New("--read-header-timeout, --read-timeout and --idle-timeout must be positive"))
	}
	if c.LoginRate <= 0 {
		errs = append(errs, errors.New("--login-rate must be positive"))
	}
	return errors.Join(errs...)
}
