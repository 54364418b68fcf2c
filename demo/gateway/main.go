// Command gateway runs the qaas gateway alone on this machine: an
// in-process Kafka-protocol broker with SASL/SCRAM and ACLs on, a demo
// tenant in it, and the gateway serving HTTPS in front of it. It prints
// how to use the endpoint with curl. It takes the gateway's own flags
// (but not the Kafka connection, which is its broker's) and --data-dir.
//
//	go run ./demo/gateway   # what `make demo-gateway` does
package main

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"qaas.dev/qaas/gateway/config"
	"qaas.dev/qaas/gateway/server"
	"qaas.dev/qaas/internal/command"
	"qaas.dev/qaas/internal/flagenv"
)

func main() { command.Main("gateway demo", run) }

// run starts the broker and the gateway, prints the instructions, and
// serves until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := config.Default()
	fs := config.NewFlagSet(&cfg)
	var dataDir string
	fs.StringVar(&dataDir, "data-dir", "", "keep the broker's data, the demo password and the certificate in this directory across restarts")
	if err := flagenv.Parse(fs, args, getenv, stderr, "Runs the qaas gateway on an in-process Kafka with a demo tenant."); err != nil {
		return err
	}
	if len(cfg.Kafka.Brokers) > 0 || cfg.CredentialsDir != "" {
		return errors.New("the demo runs its own broker and logs in as its demo user: do not give --kafka-brokers or --credentials-dir")
	}
	demo, err := StartDemo(dataDir, cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return err
	}
	defer demo.Close()
	cfg.Kafka.Brokers = []string{demo.Broker.Addr}
	cfg.TLSCertFile, cfg.TLSKeyFile = demo.CertFile, demo.KeyFile
	// Through the gateway's own parsing, as the gateway binary would take it.
	gatewayCfg, err := config.Parse(cfg.Args(), func(string) string { return "" }, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: gatewayCfg.LogLevel}))
	log.Info("embedded Kafka started", "address", demo.Broker.Addr, "sasl", "SCRAM-SHA-512", "acls", true)

	ls, err := server.Listen(gatewayCfg)
	if err != nil {
		return err
	}
	gw, err := server.New(gatewayCfg, log)
	if err != nil {
		ls.Close()
		return err
	}
	if err := demo.PrintInstructions(stdout, ls.API.Addr(), true); err != nil {
		ls.Close()
		return err
	}
	return gw.Serve(ctx, ls)
}
