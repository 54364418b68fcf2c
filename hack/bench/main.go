// Command bench measures, in one run on loopback against one broker, the
// gateway over HTTPS (HTTP/1.1 and HTTP/2) beside a native sarama client
// doing the same work as the same Kafka user: single-message, batch and
// raw produce at several concurrencies, and the drain of a preloaded topic
// by a consumer group. It reports messages per second, request latencies,
// the gateway's CPU seconds per 100k messages and its peak memory, as a
// table and then as one JSON line. `make bench` runs it.
//
// By default it starts an embedded broker (kfake, SASL/SCRAM-SHA-512 and
// ACLs on) in a process of its own, so that the gateway's CPU figures are
// its own. With -kafka-brokers it uses that cluster instead, as
// -kafka-user, whose ACLs must allow, on -kafka-topic, Describe, Read and
// Write, and Read on the consumer groups named "<user>.bench-*" (the
// operator's readwrite role on the tenant's prefix allows all of it). Every
// run produces into the topic and drains it with new groups from its
// oldest message, so give it a topic of its own.
//
// It builds the gateway from this module unless -gateway-bin names one.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"qaas.dev/qaas/internal/flagenv"
	"qaas.dev/qaas/internal/gomemory"
	"qaas.dev/qaas/internal/kafkaconn"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the bench's flags.
type options struct {
	duration         time.Duration
	concurrency      []int
	batchSizes       []int
	batchConcurrency []int
	rawConcurrency   []int
	drainMessages    int64
	drainClients     []int
	valueBytes       int
	gatewayBin       string
	gatewayGODEBUG   string
	gatewayMemory    int64
	kafka            kafkaconn.Settings
	kafkaUser        string
	kafkaPassword    string
	kafkaTopic       string
	broker           bool
}

func parseOptions(args []string, getenv func(string) string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "how long each produce workload runs, through each path")
	intsVar(fs, &o.concurrency, "concurrency", "1,16,64", "concurrent clients of single-message produce")
	intsVar(fs, &o.batchSizes, "batch-sizes", "100,1000", "messages per request of batch produce")
	intsVar(fs, &o.batchConcurrency, "batch-concurrency", "1,16", "concurrent clients of batch produce")
	intsVar(fs, &o.rawConcurrency, "raw-concurrency", "64", "concurrent clients of ?format=raw produce")
	fs.Int64Var(&o.drainMessages, "drain-messages", 1000000, "messages each drain reads from the preloaded topic")
	intsVar(fs, &o.drainClients, "drain-clients", "1,4", "concurrent clients of one consumer group draining through the gateway")
	fs.IntVar(&o.valueBytes, "value-bytes", 100, "bytes of each message's value")
	fs.StringVar(&o.gatewayBin, "gateway-bin", "", "gateway binary to run; empty builds it from this module")
	fs.Int64Var(&o.gatewayMemory, "gateway-memory-limit", gomemory.DefaultContainerLimit, "memory limit in bytes of the gateway's container: the gateway gets the Go runtime settings (GOMEMLIMIT, GOGC) the operator gives such a container; 0 for none")
	fs.StringVar(&o.gatewayGODEBUG, "gateway-godebug", "", "GODEBUG of the gateway process alone, such as gctrace=1 to see its garbage collections")
	o.kafka.AddFlags(fs)
	fs.StringVar(&o.kafkaUser, "kafka-user", "", "with -kafka-brokers: the Kafka user both the gateway's client and the native one log in as")
	fs.StringVar(&o.kafkaPassword, "kafka-password", "", "with -kafka-brokers: the user's password")
	fs.StringVar(&o.kafkaTopic, "kafka-topic", "", "with -kafka-brokers: the topic to produce into and drain")
	fs.BoolVar(&o.broker, "broker", false, "run only the embedded broker and print where it listens (what the bench starts itself with)")
	if err := flagenv.Parse(fs, args, getenv, out, "Measures the gateway beside a native Kafka client."); err != nil {
		return nil, err
	}
	if len(o.kafka.Brokers) > 0 {
		if err := o.kafka.Validate(); err != nil {
			return nil, err
		}
		if o.kafkaUser == "" || o.kafkaPassword == "" || o.kafkaTopic == "" {
			return nil, errors.New("-kafka-brokers needs -kafka-user, -kafka-password and -kafka-topic")
		}
	}
	if o.duration <= 0 || o.drainMessages <= 0 || o.valueBytes <= 0 {
		return nil, errors.New("-duration, -drain-messages and -value-bytes must be positive")
	}
	if o.gatewayMemory < 0 {
		return nil, errors.New("-gateway-memory-limit must be 0 (none) or positive")
	}
	return o, nil
}

// intsVar binds a comma-separated list of positive numbers.
func intsVar(fs *flag.FlagSet, p *[]int, name, value, usage string) {
	set := func(s string) error {
		var list []int
		for f := range strings.SplitSeq(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return fmt.Errorf("%q is not a positive number", f)
			}
			list = append(list, n)
		}
		*p = list
		return nil
	}
	_ = set(value)
	fs.Func(name, usage+" (comma-separated; default "+value+")", set)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stderr)
	if err != nil {
		return err
	}
	if o.broker {
		return serveBroker(stdin, stdout)
	}
	dir, err := os.MkdirTemp("", "qaas-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	rep := &report{ValueBytes: o.valueBytes, DurationS: o.duration.Seconds(), Kafka: "external", CPUs: runtime.NumCPU(),
		GatewayEnv: gomemory.Environ(o.gatewayMemory)}
	procs := []*process{{name: "client", pid: os.Getpid()}}
	if len(o.kafka.Brokers) == 0 {
		broker, info, err := startBroker()
		if err != nil {
			return err
		}
		defer broker.close()
		procs = append(procs, broker)
		rep.Kafka = "embedded (kfake, SASL/SCRAM-SHA-512, ACLs)"
		o.kafka = kafkaconn.Settings{Brokers: []string{info.Addr}, SASLMechanism: kafkaconn.ScramSHA512, Version: kafkaconn.DefaultVersion}
		o.kafkaUser, o.kafkaPassword, o.kafkaTopic = info.User, info.Password, info.Topic
	}
	conn, err := o.kafka.Connect()
	if err != nil {
		return err
	}
	if o.gatewayBin == "" {
		if o.gatewayBin, err = buildGateway(dir); err != nil {
			return err
		}
	}
	gw, url, caPEM, err := startGateway(o.gatewayBin, o.gatewayGODEBUG, o.gatewayMemory, dir, o.kafka, o.kafkaUser, o.kafkaPassword)
	if err != nil {
		return err
	}
	defer gw.close()
	native, err := newNativeProducer(conn, o.kafkaUser, o.kafkaPassword)
	if err != nil {
		return err
	}
	defer native.close()
	b := &bench{
		o: o, stderr: stderr, native: native, conn: conn, rep: rep,
		gateway: []*process{gw}, always: procs,
		http1: newGatewayClient(url, caPEM, 1, o.kafkaUser, o.kafkaPassword),
		http2: newGatewayClient(url, caPEM, 2, o.kafkaUser, o.kafkaPassword),
		value: []byte(strings.Repeat("x", o.valueBytes)),
		// Groups of earlier runs on the same topic must not have
		// drained it already.
		runID: strings.ToLower(rand.Text()[:8]),
	}
	defer b.http1.close()
	defer b.http2.close()
	// The drains run first, while the topic holds their messages alone:
	// what the produce workloads write (the more, the faster the gateway)
	// would otherwise weigh on the broker's fetches, and on both drains
	// unequally. They are reported after the produce workloads.
	if err := b.drainAll(ctx); err != nil {
		return err
	}
	drains := b.rep.Workloads
	b.rep.Workloads = nil
	if err := b.produceAll(ctx); err != nil {
		return err
	}
	b.rep.Workloads = append(b.rep.Workloads, drains...)
	if rep.GatewayPeakRSSBytes, err = gw.peakRSS(); err != nil {
		return err
	}
	rep.finish()
	return rep.print(stdout)
}
