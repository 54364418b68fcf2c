// Package config holds the gateway's settings, the flag set that parses
// them and the rendering of settings back into flags. It is the contract
// between the two binaries: the operator builds a Config for each gateway
// and writes its Args into the Deployment, so every flag it passes is one
// the gateway defines, spelt by the gateway.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"

	"qaas.dev/qaas/internal/flagenv"
	"qaas.dev/qaas/internal/kafkaconn"
)

// Config is everything the gateway needs to run.
type Config struct {
	ListenAddress   string
	TLSCertFile     string
	TLSKeyFile      string
	ShutdownTimeout time.Duration
	LogLevel        slog.Level

	// Kafka is how the gateway reaches Kafka (the --kafka-* flags).
	Kafka kafkaconn.Settings

	// CredentialsDir, when set, is a directory of users (a mounted Secret):
	// the gateway checks passwords itself before logging in to Kafka.
	// When empty, the supplied username and password are the Kafka login.
	CredentialsDir string

	// PeerListenAddress, when set, serves the other replicas of the same
	// application: they forward consumes of the groups this one owns.
	PeerListenAddress string
	PeerAdvertiseHost string
	// PeerAdvertiseAddress is where the other replicas reach this one:
	// set by server.Listen from PeerAdvertiseHost and the peer listener,
	// so no flag sets it and Args does not render it.
	PeerAdvertiseAddress string
	PeerTokenFile        string

	MaxRequestBytes  int64
	MaxMessageBytes  int
	MaxBatchMessages int
	MaxResponseBytes int
	// ConsumerBufferBytes, ConsumeMemoryBytes and UserConsumeMemoryBytes
	// bound what consumes hold in memory; see ConsumeMemory.
	ConsumerBufferBytes    int
	ConsumeMemoryBytes     int64
	UserConsumeMemoryBytes int64
	ConsumerIdleTimeout    time.Duration
	ClientIdleTimeout      time.Duration
	LoginRate              float64

	// QueueLockDuration and QueueDeliveryLimit are the Kafka configs
	// share.record.lock.duration.ms and share.delivery.count.limit that the
	// gateway sets on each queue group (share group) of the application
	// when it opens one; 0 leaves the broker's default.
	QueueLockDuration  time.Duration
	QueueDeliveryLimit int

	// StreamHeartbeat spaces the comments a consume stream (Server-Sent
	// Events) writes while no record arrives; MaxStreamsPerUser caps the
	// streams one user holds open on a replica.
	StreamHeartbeat   time.Duration
	MaxStreamsPerUser int

	MaxConnections    int
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
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

	cfg.Kafka.AddFlags(fs)

	fs.StringVar(&cfg.CredentialsDir, "credentials-dir", "", "directory of users (a mounted Secret: files <user>.username and <user>.password); when empty, the supplied username and password are used as the Kafka login")

	fs.StringVar(&cfg.PeerListenAddress, "peer-listen-address", "", "address (plain HTTP, for the pod network) where the other gateway replicas of the application forward consumes of the consumer groups this one owns; empty for a gateway without replicas")
	fs.StringVar(&cfg.PeerAdvertiseHost, "peer-advertise-host", "", "host or IP where the other replicas reach --peer-listen-address (the pod's IP); defaults to the listener's host when it names one")
	fs.StringVar(&cfg.PeerTokenFile, "peer-token-file", "", "file holding the secret the replicas of the application share; required with --peer-listen-address")

	fs.Int64Var(&cfg.MaxRequestBytes, "max-request-bytes", 10<<20, "largest request body accepted, in bytes (larger is 413)")
	fs.IntVar(&cfg.MaxMessageBytes, "max-message-bytes", 1000000, "largest single message value accepted, in bytes (larger is 413); keep it at or below the topics' max.message.bytes")
	fs.IntVar(&cfg.MaxBatchMessages, "max-batch-messages", 1000, "most messages accepted in one produce request (more is 413)")
	fs.IntVar(&cfg.MaxResponseBytes, "max-response-bytes", 8<<20, "a consume response stops adding messages once their keys, values and headers reach this many bytes (it always holds at least one)")
	fs.IntVar(&cfg.ConsumerBufferBytes, "consumer-buffer-bytes", 2<<20, "message bytes a consumer group member keeps fetched ahead of requests, or handed out and awaiting delivery; a response holds at most this much (and one message)")
	fs.Int64Var(&cfg.ConsumeMemoryBytes, "consume-memory-bytes", 0, "memory all consumer group members may hold together, in bytes; a member reserves its worst case (see README) and a new one that does not fit closes idle ones or gets 429; 0: half the Go memory limit (GOMEMLIMIT), or 512 MiB without one")
	fs.Int64Var(&cfg.UserConsumeMemoryBytes, "user-consume-memory-bytes", 0, "memory the consumer group members of one user may hold together, in bytes; 0: a quarter of --consume-memory-bytes")
	fs.DurationVar(&cfg.ConsumerIdleTimeout, "consumer-idle-timeout", 5*time.Minute, "a consumer group member unused for this long commits and leaves its group")
	fs.DurationVar(&cfg.ClientIdleTimeout, "client-idle-timeout", 10*time.Minute, "a user's Kafka client unused for this long is closed")
	fs.Float64Var(&cfg.LoginRate, "login-rate", 20, "new Kafka logins allowed per second across all users; beyond it requests get 429")

	fs.DurationVar(&cfg.QueueLockDuration, "queue-lock-duration", 0, "how long a record handed out in queue mode stays locked before it is delivered again, set on each queue group as share.record.lock.duration.ms; 0: the broker's default (30s; brokers accept 15s to 60s unless configured otherwise)")
	fs.IntVar(&cfg.QueueDeliveryLimit, "queue-delivery-limit", 0, "deliveries of a record in queue mode before Kafka archives it, set on each queue group as share.delivery.count.limit; 0: the broker's default (5; brokers accept 2 to 10 unless configured otherwise)")

	fs.DurationVar(&cfg.StreamHeartbeat, "stream-heartbeat", 15*time.Second, "a consume stream (Accept: text/event-stream) without records writes a heartbeat comment this often, so that proxies and clients see it alive; at most 30s")
	fs.IntVar(&cfg.MaxStreamsPerUser, "max-streams-per-user", 4, "most consume streams (Accept: text/event-stream) one user holds open on a gateway replica; past it a new one gets 429")

	// 2048 connections: the ingress controller in front multiplexes its
	// clients over a few hundred keep-alive connections, and an open TLS
	// connection holds tens of KiB, so the cap keeps a flood of them within
	// the gateway's default 256 MiB and far from the file limit.
	fs.IntVar(&cfg.MaxConnections, "max-connections", 2048, "most client connections held open; at the cap a new one replaces the longest idle, and when all are busy a few more serve only /healthz, /readyz and /metrics (other requests get 503) and the rest are closed on arrival")
	fs.IntVar(&cfg.MaxHeaderBytes, "max-header-bytes", 64<<10, "largest request line and headers accepted, in bytes (larger is 431)")
	fs.DurationVar(&cfg.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client has to send a request's headers (and its TLS handshake) before the connection is closed")
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", time.Minute, "how long a client has to send a whole request, body included (a produce body still arriving then is 408)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 2*time.Minute, "a keep-alive connection without a request for this long is closed")

	return fs
}

// Default is the Config of a gateway given no flags: every flag's default.
func Default() Config {
	var c Config
	NewFlagSet(&c)
	return c
}

// Args renders c as the flags that Parse reads back into c: each flag whose
// value differs from its default, as --name=value, in the flag set's
// (alphabetical) order, so that an unchanged Config renders the same args.
// It reads the values through the flags themselves, so a new flag is
// rendered with no change here.
func (c *Config) Args() []string {
	var rendered Config
	fs := NewFlagSet(&rendered)
	// The flags point into rendered: now they read c's values.
	rendered = *c
	var args []string
	fs.VisitAll(func(f *flag.Flag) {
		if v := f.Value.String(); v != f.DefValue {
			args = append(args, "--"+f.Name+"="+v)
		}
	})
	return args
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
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
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
	if c.MaxMessageBytes > maxMessageBytesLimit {
		errs = append(errs, fmt.Errorf("--max-message-bytes can be at most %d", maxMessageBytesLimit))
	}
	if c.ConsumerBufferBytes <= 0 || c.ConsumeMemoryBytes < 0 || c.UserConsumeMemoryBytes < 0 {
		errs = append(errs, errors.New("--consumer-buffer-bytes must be positive, --consume-memory-bytes and --user-consume-memory-bytes positive or 0 (derived)"))
	}
	if c.ConsumeMemoryBytes > 0 && c.UserConsumeMemoryBytes > c.ConsumeMemoryBytes {
		errs = append(errs, errors.New("--user-consume-memory-bytes cannot exceed --consume-memory-bytes"))
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
	if c.QueueLockDuration != 0 && (c.QueueLockDuration < MinQueueLock || c.QueueLockDuration > MaxQueueLock) {
		errs = append(errs, fmt.Errorf("--queue-lock-duration must be from %s to %s, or 0 for the broker's default", MinQueueLock, MaxQueueLock))
	}
	if c.QueueDeliveryLimit < 0 {
		errs = append(errs, errors.New("--queue-delivery-limit must be positive, or 0 for the broker's default"))
	}
	if c.StreamHeartbeat <= 0 || c.StreamHeartbeat > maxStreamHeartbeat {
		errs = append(errs, fmt.Errorf("--stream-heartbeat must be positive and at most %s", maxStreamHeartbeat))
	}
	if c.MaxStreamsPerUser <= 0 {
		errs = append(errs, errors.New("--max-streams-per-user must be positive"))
	}
	if c.LoginRate <= 0 {
		errs = append(errs, errors.New("--login-rate must be positive"))
	}
	return errors.Join(errs...)
}

// MinQueueLock and MaxQueueLock bound --queue-lock-duration: the gateway
// asks for acknowledgements a second before a lock runs out, and keeps the
// connection of a member holding a batch idle at most MaxQueueLock.
const (
	MinQueueLock = 5 * time.Second
	MaxQueueLock = 10 * time.Minute
)

// maxStreamHeartbeat is the longest --stream-heartbeat: a stream waits for
// records one heartbeat at a time, as a long poll, and a long poll
// forwarded to another replica is at most 30 seconds.
const maxStreamHeartbeat = 30 * time.Second

// maxMessageBytesLimit keeps a fetch's size, one message and its framing,
// within what a Kafka fetch request can ask for (an int32).
const maxMessageBytesLimit = 1 << 30

// defaultConsumeMemory is the consume budget of a gateway that has no Go
// memory limit.
const defaultConsumeMemory = 512 << 20

// ConsumeMemory returns the consume budgets, the gateway's and a user's:
// the flags' values, or when 0, half the Go memory limit (the other half
// is for requests in flight, the runtime and the garbage collector's
// headroom) and a quarter of that, so that one user cannot take it all.
// goMemLimit is the runtime's limit (debug.SetMemoryLimit(-1)), math.MaxInt64
// when none is set.
func (c *Config) ConsumeMemory(goMemLimit int64) (gateway, user int64) {
	gateway, user = c.ConsumeMemoryBytes, c.UserConsumeMemoryBytes
	if gateway == 0 {
		gateway = defaultConsumeMemory
		if goMemLimit < math.MaxInt64 {
			gateway = goMemLimit / 2
		}
	}
	if user == 0 {
		user = gateway / 4
	}
	return gateway, min(user, gateway)
}
