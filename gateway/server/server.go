// Package server assembles the gateway from its configuration and serves
// it until its context ends, then shuts down gracefully.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/IBM/sarama"

	"qaas.dev/qaas/gateway/auth"
	"qaas.dev/qaas/gateway/config"
	"qaas.dev/qaas/gateway/httpapi"
	"qaas.dev/qaas/gateway/kafka"
)

// Gateway is a configured gateway, ready to serve.
type Gateway struct {
	cfg     *config.Config
	log     *slog.Logger
	pool    *kafka.Pool
	handler http.Handler
}

// New builds the gateway: Kafka options, credentials, the user pool and
// the HTTP API. It does not contact Kafka.
func New(cfg *config.Config, log *slog.Logger) (*Gateway, error) {
	version, err := sarama.ParseKafkaVersion(cfg.KafkaVersion)
	if err != nil {
		return nil, fmt.Errorf("--kafka-version: %w", err)
	}
	opts := kafka.Options{
		Brokers:         cfg.KafkaBrokers,
		Mechanism:       cfg.KafkaSASLMechanism,
		Version:         version,
		MaxMessageBytes: cfg.MaxMessageBytes,
	}
	if cfg.KafkaTLS {
		if opts.TLS, err = kafkaTLS(cfg.KafkaCAFile); err != nil {
			return nil, err
		}
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
	pool := kafka.NewPool(opts, kafka.Tuning{
		ConsumerIdleTimeout: cfg.ConsumerIdleTimeout,
		ClientIdleTimeout:   cfg.ClientIdleTimeout,
		BufferBytes:         2 * cfg.MaxResponseBytes,
		LoginRate:           cfg.LoginRate,
	}, log)
	handler := httpapi.NewHandler(httpapi.Deps{
		Pool:        pool,
		Credentials: creds,
		Limits: httpapi.Limits{
			MaxRequestBytes:  cfg.MaxRequestBytes,
			MaxMessageBytes:  cfg.MaxMessageBytes,
			MaxBatchMessages: cfg.MaxBatchMessages,
			MaxResponseBytes: cfg.MaxResponseBytes,
		},
		Ready: func() error { return kafka.Ping(opts) },
		Log:   log,
	})
	return &Gateway{cfg: cfg, log: log, pool: pool, handler: handler}, nil
}

func kafkaTLS(caFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--kafka-ca-file: %w", err)
	}
	c.RootCAs = x509.NewCertPool()
	if !c.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--kafka-ca-file %s holds no PEM certificate", caFile)
	}
	return c, nil
}

// Serve answers on ln until ctx ends, then stops taking requests, lets
// in-flight ones finish (produces get their acknowledgements), commits what
// consumers handed out and closes the Kafka clients.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		// Long polls last up to httpapi.MaxTimeout plus the bounded waits
		// for a group assignment.
		WriteTimeout:   httpapi.MaxTimeout + 60*time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	tlsOn := g.cfg.TLSCertFile != ""
	if tlsOn {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	served := make(chan error, 1)
	go func() {
		if tlsOn {
			served <- srv.ServeTLS(ln, g.cfg.TLSCertFile, g.cfg.TLSKeyFile)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	g.log.Info("gateway listening", "address", ln.Addr().String(), "tls", tlsOn)

	select {
	case err := <-served:
		g.pool.Close()
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	g.log.Info("shutting down: finishing in-flight requests")
	// Long polls return at once, handing out nothing more.
	g.pool.Drain()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), g.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	g.pool.Close()
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		g.log.Warn("server stopped with an error", "error", err)
	}
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	g.log.Info("shut down")
	return nil
}
