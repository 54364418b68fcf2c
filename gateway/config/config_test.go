package config

import (
	"errors"
	"flag"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"qaas.dev/qaas/internal/flagenv"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestEveryFlagHasAnEnvironmentTwin(t *testing.T) {
	cfg, err := Parse([]string{"--max-batch-messages", "7"}, env(map[string]string{
		"QAAS_KAFKA_BROKERS":         "k1:9092, k2:9092",
		"QAAS_KAFKA_SASL_MECHANISM":  "SCRAM-SHA-256",
		"QAAS_CONSUMER_IDLE_TIMEOUT": "90s",
		"QAAS_MAX_BATCH_MESSAGES":    "9", // the flag wins
		"QAAS_LOG_LEVEL":             "debug",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Kafka.Brokers, ",") != "k1:9092,k2:9092" || cfg.Kafka.SASLMechanism != "SCRAM-SHA-256" ||
		cfg.ConsumerIdleTimeout != 90*time.Second || cfg.MaxBatchMessages != 7 || cfg.LogLevel.String() != "DEBUG" {
		t.Fatalf("config %+v does not reflect flags and environment", cfg)
	}

	var usage strings.Builder
	if _, err := Parse([]string{"--help"}, env(nil), &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	NewFlagSet(&Config{}).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(usage.String(), "--"+f.Name+"  ["+flagenv.Name(f.Name)+"]") {
			t.Errorf("--help does not show --%s with %s", f.Name, flagenv.Name(f.Name))
		}
	})
}

func TestInvalidConfigurationIsExplained(t *testing.T) {
	cases := map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"no Kafka":                {args: nil, want: "--kafka-brokers is required"},
		"half a TLS pair":         {args: []string{"--kafka-brokers", "k:9092", "--tls-cert-file", "c.pem"}, want: "must be given together"},
		"unknown mechanism":       {args: []string{"--kafka-brokers", "k:9092", "--kafka-sasl-mechanism", "GSSAPI"}, want: `"GSSAPI" is not one of`},
		"unknown Kafka version":   {args: []string{"--kafka-brokers", "k:9092", "--kafka-version", "three"}, want: "--kafka-version"},
		"zero limit":              {args: []string{"--kafka-brokers", "k:9092", "--max-batch-messages", "0"}, want: "must be positive"},
		"bad environment":         {env: map[string]string{"QAAS_MAX_MESSAGE_BYTES": "lots", "QAAS_KAFKA_BROKERS": "k:9092"}, want: "QAAS_MAX_MESSAGE_BYTES"},
		"long heartbeat":          {args: []string{"--kafka-brokers", "k:9092", "--stream-heartbeat", "31s"}, want: "--stream-heartbeat must be positive and at most 30s"},
		"stray argument":          {args: []string{"--kafka-brokers", "k:9092", "extra"}, want: "unexpected arguments"},
		"negative lock duration":  {args: []string{"--kafka-brokers", "k:9092", "--queue-lock-duration", "-1s"}, want: "--queue-lock-duration"},
		"too short a lock":        {args: []string{"--kafka-brokers", "k:9092", "--queue-lock-duration", "1s"}, want: "from 5s to 10m0s"},
		"too long a lock":         {args: []string{"--kafka-brokers", "k:9092", "--queue-lock-duration", "11m"}, want: "from 5s to 10m0s"},
		"negative delivery limit": {env: map[string]string{"QAAS_KAFKA_BROKERS": "k:9092", "QAAS_QUEUE_DELIVERY_LIMIT": "-3"}, want: "--queue-delivery-limit"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(c.args, env(c.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	var out strings.Builder
	_, err := Parse([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "QAAS_KAFKA_BROKERS") {
		t.Fatalf("--help: %v, output %q", err, out.String())
	}
}

// The queue settings are the broker's defaults unless given; given, the
// gateway holds them as they were written.
func TestQueueSettings(t *testing.T) {
	cfg, err := Parse([]string{"--kafka-brokers", "k:9092"}, env(nil), io.Discard)
	if err != nil || cfg.QueueLockDuration != 0 || cfg.QueueDeliveryLimit != 0 {
		t.Fatalf("defaults %+v, err %v: want 0 (the broker's defaults) for both", cfg, err)
	}
	cfg, err = Parse([]string{"--kafka-brokers", "k:9092", "--queue-lock-duration", "45s", "--queue-delivery-limit", "3"}, env(nil), io.Discard)
	if err != nil || cfg.QueueLockDuration != 45*time.Second || cfg.QueueDeliveryLimit != 3 {
		t.Fatalf("cfg %+v, err %v: want a 45s lock and 3 deliveries", cfg, err)
	}
}

func TestCAFileImpliesKafkaTLS(t *testing.T) {
	cfg, err := Parse([]string{"--kafka-brokers", "k:9093", "--kafka-ca-file", "ca.pem"}, env(nil), io.Discard)
	if err != nil || !cfg.Kafka.TLS {
		t.Fatalf("cfg %+v, err %v: want KafkaTLS on", cfg, err)
	}
}

func TestConsumeMemoryIsDerivedFromTheGoMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		flags         []string
		goLimit       int64
		gateway, user int64
	}{
		{nil, math.MaxInt64, 512 << 20, 128 << 20},
		{nil, 200 << 20, 100 << 20, 25 << 20},
		{[]string{"--consume-memory-bytes=1000"}, 200 << 20, 1000, 250},
		{[]string{"--user-consume-memory-bytes=300"}, 200 << 20, 100 << 20, 300},
		{[]string{"--consume-memory-bytes=1000", "--user-consume-memory-bytes=1000"}, math.MaxInt64, 1000, 1000},
	} {
		cfg, err := Parse(append([]string{"--kafka-brokers=k:9092"}, tc.flags...), func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if g, u := cfg.ConsumeMemory(tc.goLimit); g != tc.gateway || u != tc.user {
			t.Errorf("%v with a Go limit of %d: %d and %d, want %d and %d", tc.flags, tc.goLimit, g, u, tc.gateway, tc.user)
		}
	}
	if _, err := Parse([]string{"--kafka-brokers=k:9092", "--consume-memory-bytes=10", "--user-consume-memory-bytes=11"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("a user budget over the gateway's was accepted")
	}
}
