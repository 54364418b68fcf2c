// Command gateway serves the qaas HTTP API (OVH Queue's contract) over
// Kafka: a tenant POSTs and GETs messages with a username and password,
// and the gateway produces and consumes as that tenant's Kafka user.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"qaas.dev/qaas/gateway/config"
	"qaas.dev/qaas/gateway/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
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
