package config

import (
	"flag"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"qaas.dev/qaas/internal/kafkaconn"
)

// derived are the fields no flag sets, with the reason: Args leaves them
// out, so the fixture leaves them zero.
var derived = map[string]string{
	"PeerAdvertiseAddress": "set by server.Listen from --peer-advertise-host and the peer listener",
}

// everyFieldSet is a valid Config whose every field differs from its
// default. A new field must be given a value here: the test below fails
// until it is, and then fails again unless a flag reads it back.
func everyFieldSet() Config {
	return Config{
		ListenAddress:   "127.0.0.1:9443",
		TLSCertFile:     "/tls/tls.crt",
		TLSKeyFile:      "/tls/tls.key",
		ShutdownTimeout: 42 * time.Second,
		LogLevel:        slog.LevelDebug + 2,
		Kafka: kafkaconn.Settings{
			Brokers:       []string{"k0:9093", "k1:9093"},
			SASLMechanism: kafkaconn.ScramSHA256,
			TLS:           true,
			CAFile:        "/creds/kafka-ca.crt",
			Version:       "3.9.1",
		},
		CredentialsDir:         "/creds",
		PeerListenAddress:      ":8090",
		PeerAdvertiseHost:      "$(POD_IP)",
		PeerTokenFile:          "/creds/peer-token",
		MaxRequestBytes:        12345,
		MaxMessageBytes:        2345,
		MaxBatchMessages:       17,
		MaxResponseBytes:       99999,
		ConsumerBufferBytes:    54321,
		ConsumeMemoryBytes:     1 << 30,
		UserConsumeMemoryBytes: 1 << 28,
		ConsumerIdleTimeout:    90 * time.Second,
		ClientIdleTimeout:      3 * time.Hour,
		LoginRate:              2.5,
		StreamHeartbeat:        7 * time.Second,
		MaxStreamsPerUser:      9,
		QueueLockDuration:      45 * time.Second,
		QueueDeliveryLimit:     7,
		MaxConnections:         77,
		MaxHeaderBytes:         4321,
		ReadHeaderTimeout:      3 * time.Second,
		ReadTimeout:            33 * time.Second,
		IdleTimeout:            44 * time.Second,
	}
}

// The operator writes a gateway's flags with Args: parsed by the gateway,
// they give back the very Config, whatever its fields hold.
func TestArgsParseBackToTheSameConfig(t *testing.T) {
	want := everyFieldSet()
	checkEveryFieldDiffers(t, "Config", reflect.ValueOf(want), reflect.ValueOf(Default()))

	args := want.Args()
	flags := 0
	NewFlagSet(&Config{}).VisitAll(func(*flag.Flag) { flags++ })
	if len(args) != flags {
		t.Errorf("%d flags rendered of %d: %q", len(args), flags, args)
	}
	got, err := Parse(args, env(nil), io.Discard)
	if err != nil {
		t.Fatalf("the gateway refuses %q: %v", args, err)
	}
	if !reflect.DeepEqual(*got, want) {
		checkFieldsEqual(t, "Config", reflect.ValueOf(*got), reflect.ValueOf(want))
		t.Fatalf("rendered as %q", args)
	}
}

// A Config of defaults renders no flag at all.
func TestDefaultsRenderNoArgs(t *testing.T) {
	def := Default()
	if args := def.Args(); len(args) != 0 {
		t.Fatalf("defaults render %q", args)
	}
}

// checkEveryFieldDiffers fails for each field of v (recursing into
// structs) that is zero or equal to its default in def, derived fields
// excepted, which must be zero.
func checkEveryFieldDiffers(t *testing.T, path string, v, def reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		field, fieldDef := v.Field(i), def.Field(i)
		if why, ok := derived[name]; ok {
			if !field.IsZero() {
				t.Errorf("%s.%s is derived (%s): leave it zero", path, name, why)
			}
			continue
		}
		if field.Kind() == reflect.Struct {
			checkEveryFieldDiffers(t, path+"."+name, field, fieldDef)
			continue
		}
		if field.IsZero() || reflect.DeepEqual(field.Interface(), fieldDef.Interface()) {
			t.Errorf("%s.%s is at its default in everyFieldSet: give it another value, so the round trip covers it", path, name)
		}
	}
}

// checkFieldsEqual fails for each field of got (recursing into structs)
// that differs from want's.
func checkFieldsEqual(t *testing.T, path string, got, want reflect.Value) {
	t.Helper()
	for i := range got.NumField() {
		name := path + "." + got.Type().Field(i).Name
		if got.Field(i).Kind() == reflect.Struct {
			checkFieldsEqual(t, name, got.Field(i), want.Field(i))
			continue
		}
		if g, w := got.Field(i).Interface(), want.Field(i).Interface(); !reflect.DeepEqual(g, w) {
			t.Errorf("%s is %v once rendered and parsed back, want %v: does a flag render and read it?", name, g, w)
		}
	}
}
