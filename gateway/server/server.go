// Package server assembles the gateway from its configuration and serves
// it until its context ends, then shuts down gracefully.
package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"qaas.dev/qaas/gateway/auth"
	"qaas.dev/qaas/gateway/config"
	"qaas.dev/qaas/gateway/connlimit"
	"qaas.dev/qaas/gateway/httpapi"
	"qaas.dev/qaas/gateway/kafka"
)

// Gateway is a configured gateway, ready to serve.
type Gateway struct {
	cfg     *config.Config
	log     *slog.Logger
	pool    *kafka.Pool
	handler http.Handler
	// conns caps the API's connections.
	conns *connlimit.Limiter
	// peerHandler serves the other replicas; nil without peers.
	peerHandler http.Handler
}

// Listeners are the gateway's sockets.
type Listeners struct {
	API net.Listener
	// Peer serves the other replicas; nil without --peer-listen-address.
	Peer net.Listener
}

// Listen opens the gateway's listeners and sets the address the other
// replicas reach this one at: --peer-advertise-host, else the peer
// listener's own host, with the peer listener's port.
func Listen(cfg *config.Config) (Listeners, error) {
	var ls Listeners
	var err error
	if ls.API, err = net.Listen("tcp", cfg.ListenAddress); err != nil {
		return ls, err
	}
	if cfg.PeerListenAddress == "" {
		return ls, nil
	}
	if ls.Peer, err = net.Listen("tcp", cfg.PeerListenAddress); err != nil {
		ls.API.Close()
		return ls, fmt.Errorf("--peer-listen-address: %w", err)
	}
	addr := ls.Peer.Addr().(*net.TCPAddr)
	host := cfg.PeerAdvertiseHost
	if host == "" {
		if addr.IP.IsUnspecified() {
			ls.Close()
			return ls, errors.New("--peer-advertise-host is required when --peer-listen-address names no host")
		}
		host = addr.IP.String()
	}
	cfg.PeerAdvertiseAddress = net.JoinHostPort(host, strconv.Itoa(addr.Port))
	return ls, nil
}

// Close closes the listeners.
func (ls Listeners) Close() {
	ls.API.Close()
	if ls.Peer != nil {
		ls.Peer.Close()
	}
}

// New builds the gateway: Kafka options, credentials, the user pool and
// the HTTP API. It does not contact Kafka.
func New(cfg *config.Config, log *slog.Logger) (*Gateway, error) {
	conn, err := cfg.Kafka.Connect()
	if err != nil {
		return nil, err
	}
	log.Info("speaking Kafka", "brokers", conn.Brokers, "version", conn.Version.String(), "sasl", conn.Mechanism, "tls", conn.TLS != nil)
	opts := kafka.Options{
		Connection:      conn,
		MaxMessageBytes: cfg.MaxMessageBytes,
		PeerAddress:     cfg.PeerAdvertiseAddress,
		Queue:           kafka.QueueSettings{LockDuration: cfg.QueueLockDuration, DeliveryLimit: cfg.QueueDeliveryLimit},
	}
	var creds *auth.Credentials
	if cfg.CredentialsDir != "" {
		if creds, err = auth.LoadDir(cfg.CredentialsDir); err != nil {
			return nil, err
		}
		log.Info("checking HTTP logins against the credentials directory", "users", creds.Len())
	} else {
		log.Info("passing HTTP logins through to Kafka")
	}
	var peers *httpapi.Peers
	if cfg.PeerListenAddress != "" {
		token, err := os.ReadFile(cfg.PeerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("--peer-token-file: %w", err)
		}
		if len(bytes.TrimSpace(token)) < 16 {
			return nil, fmt.Errorf("--peer-token-file %s holds fewer than 16 characters", cfg.PeerTokenFile)
		}
		peers = httpapi.NewPeers(string(bytes.TrimSpace(token)), cfg.PeerAdvertiseAddress)
	}
	goMemLimit := debug.SetMemoryLimit(-1)
	consumeMemory, userConsumeMemory := cfg.ConsumeMemory(goMemLimit)
	log.Info("consume memory budgets", "gateway_bytes", consumeMemory, "user_bytes", userConsumeMemory,
		"member_buffer_bytes", cfg.ConsumerBufferBytes, "go_memory_limit_bytes", goMemLimit)
	pool := kafka.NewPool(opts, kafka.Tuning{
		ConsumerIdleTimeout: cfg.ConsumerIdleTimeout,
		ClientIdleTimeout:   cfg.ClientIdleTimeout,
		BufferBytes:         cfg.ConsumerBufferBytes,
		MemoryBytes:         consumeMemory,
		UserMemoryBytes:     userConsumeMemory,
		LoginRate:           cfg.LoginRate,
	}, log)
	conns := connlimit.New(cfg.MaxConnections, connectionHeadroom)
	deps := httpapi.Deps{
		Pool:        pool,
		Credentials: creds,
		Limits: httpapi.Limits{
			MaxRequestBytes:  cfg.MaxRequestBytes,
			MaxMessageBytes:  cfg.MaxMessageBytes,
			MaxBatchMessages: cfg.MaxBatchMessages,
			MaxResponseBytes: cfg.MaxResponseBytes,
			MaxHeaderBytes:   cfg.MaxHeaderBytes,
		},
		Peers:       peers,
		KafkaCheck:  func() error { return kafka.Ping(opts) },
		Connections: conns,
		Streams:     httpapi.StreamLimits{Heartbeat: cfg.StreamHeartbeat, PerUser: cfg.MaxStreamsPerUser},
		Log:         log,
	}
	api, peer := httpapi.NewHandlers(deps)
	return &Gateway{cfg: cfg, log: log, pool: pool, handler: api, conns: conns, peerHandler: peer}, nil
}

// Serve answers on ls until ctx ends, then stops taking requests, leaves
// its consumer groups once the messages it handed out are settled (so that
// another replica takes them over), lets in-flight requests finish
// (produces get their acknowledgements) and closes the Kafka clients.
func (g *Gateway) Serve(ctx context.Context, ls Listeners) error {
	srv := g.httpServer(g.handler)
	srv.ConnState = g.conns.ConnState
	srv.ConnContext = g.conns.ConnContext
	api := g.conns.Wrap(ls.API)
	tlsOn := g.cfg.TLSCertFile != ""
	if tlsOn {
		srv.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			// Go refuses a TLS handshake whose ALPN offers none of
			// these, and curl --http1.0 offers only http/1.0.
			NextProtos: []string{"h2", "http/1.1", "http/1.0"},
		}
	}
	served := make(chan error, 2)
	go func() {
		if tlsOn {
			served <- srv.ServeTLS(api, g.cfg.TLSCertFile, g.cfg.TLSKeyFile)
		} else {
			served <- srv.Serve(api)
		}
	}()
	g.log.Info("gateway listening", "address", ls.API.Addr().String(), "tls", tlsOn)
	var peerSrv *http.Server
	if ls.Peer != nil && g.peerHandler != nil {
		peerSrv = g.httpServer(g.peerHandler)
		go func() { served <- peerSrv.Serve(ls.Peer) }()
		g.log.Info("serving the other replicas", "address", ls.Peer.Addr().String(), "advertised", g.cfg.PeerAdvertiseAddress)
	}

	select {
	case err := <-served:
		ls.Close()
		g.pool.Close()
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	g.log.Info("shutting down: finishing in-flight requests")
	// Consumes hand out nothing more, and the groups are left as soon as
	// what was handed out is settled; the peer API stays up meanwhile, for
	// the replicas that settle leases here.
	g.pool.Drain()
	left := make(chan struct{})
	go func() {
		g.pool.LeaveGroups()
		close(left)
	}()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	<-left
	g.pool.Close()
	if peerSrv != nil {
		_ = peerSrv.Shutdown(shutdownCtx)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		g.log.Warn("server stopped with an error", "error", err)
	}
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	g.log.Info("shut down")
	return nil
}

func (g *Gateway) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: g.cfg.ReadHeaderTimeout,
		ReadTimeout:       g.cfg.ReadTimeout,
		// Long polls last up to httpapi.MaxTimeout plus the bounded waits
		// for a group assignment or its owner.
		WriteTimeout: httpapi.MaxTimeout + 60*time.Second,
		IdleTimeout:  g.cfg.IdleTimeout,
		// The API answers headers over --max-header-bytes with a JSON 431.
		// net/http answers its own plain-text 431 past this ceiling, where
		// it stops reading: reading on to answer in JSON would let one
		// connection make the gateway hold any amount of headers.
		MaxHeaderBytes: headerCeiling * g.cfg.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
}

// headerCeiling is how many times --max-header-bytes net/http reads before
// it stops with a plain-text 431.
const headerCeiling = 4

// connectionHeadroom is how many connections over --max-connections still
// serve /healthz, /readyz and /metrics when every connection is busy: a
// few probes and scrapes at a time.
const connectionHeadroom = 32
