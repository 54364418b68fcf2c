package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"qaas.dev/qaas/internal/flagenv"
)

func TestManagerOptions(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"QAAS_GATEWAY_IMAGE":      "registry.example.com/qaas:1.0",
		"QAAS_KAFKA_BROKERS":      "k0:9093,k1:9093",
		"QAAS_INGRESS_DOMAIN":     "queue.example.com",
		"QAAS_DEFAULT_ISSUER":     "ClusterIssuer/letsencrypt",
		"QAAS_KAFKA_CA_FILE":      ca,
		"QAAS_OPERATOR_NAMESPACE": "qaas-system",
	}
	o, err := parseOptions([]string{"--ingress-class", "nginx"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := o.settings
	if s.GatewayImage != env["QAAS_GATEWAY_IMAGE"] || strings.Join(s.Kafka.Brokers, ",") != "k0:9093,k1:9093" ||
		s.IngressDomain != "queue.example.com" || s.IngressClassName != "nginx" || s.DefaultIssuer.Kind != "ClusterIssuer" ||
		s.DefaultIssuer.Name != "letsencrypt" || !s.Kafka.TLS || string(s.Kafka.CAPEM) != "PEM" || o.namespace != "qaas-system" {
		t.Fatalf("settings %+v", s)
	}
}

func TestManagerOptionsExplainMistakes(t *testing.T) {
	cases := map[string]struct {
		args []string
		want string
	}{
		"nothing":         {nil, "--gateway-image is required"},
		"no brokers":      {[]string{"--gateway-image", "i"}, "--kafka-brokers is required"},
		"bad mechanism":   {[]string{"--gateway-image", "i", "--kafka-brokers", "k:9092", "--kafka-sasl-mechanism", "OAUTH"}, "OAUTH"},
		"bad issuer":      {[]string{"--gateway-image", "i", "--kafka-brokers", "k:9092", "--default-issuer", "letsencrypt"}, "ClusterIssuer/NAME"},
		"missing CA file": {[]string{"--gateway-image", "i", "--kafka-brokers", "k:9092", "--kafka-ca-file", "/nonexistent"}, "--kafka-ca-file"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := parseOptions(c.args, func(string) string { return "" }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestManagerHelpShowsEnvironmentTwins(t *testing.T) {
	var out strings.Builder
	_, err := parseOptions([]string{"--help"}, func(string) string { return "" }, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	newFlagSet(&options{}).VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out.String(), "--"+f.Name+"  ["+flagenv.Name(f.Name)+"]") {
			t.Errorf("--help lacks --%s [%s]", f.Name, flagenv.Name(f.Name))
		}
	})
}
