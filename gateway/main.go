// Command gateway serves the qaas HTTP API (OVH Queue's contract) over
// Kafka: a tenant POSTs and GETs messages with a username and password,
// and the gateway produces and consumes as that tenant's Kafka user.
package main

import (
	"context"
	"io"
	"log/slog"

	"qaas.dev/qaas/gateway/config"
	"qaas.dev/qaas/gateway/server"
	"qaas.dev/qaas/internal/command"
)

func main() {
	command.Main("gateway", func(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
		return run(ctx, args, getenv, stderr)
	})
}

// run is the whole program: flags and environment in, logs to stderr,
// until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := config.Parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	ls, err := server.Listen(cfg)
	if err != nil {
		return err
	}
	gw, err := server.New(cfg, log)
	if err != nil {
		ls.Close()
		return err
	}
	return gw.Serve(ctx, ls)
}
