package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/internal/embeddedkafka"
	"qaas.dev/qaas/internal/ovh"
	"qaas.dev/qaas/internal/selfsigned"
)

// The demo tenant follows the operator's naming: namespace "default",
// QueueApp "demo", user "admin", topic "messages".
const (
	DemoPrefix = "default.demo."
	DemoUser   = DemoPrefix + "admin"
	DemoTopic  = DemoPrefix + "messages"
)

// Demo is an embedded broker provisioned with the demo tenant, and a TLS
// certificate for the gateway.
type Demo struct {
	Broker   *embeddedkafka.Broker
	Password string
	CertFile string
	KeyFile  string
	tempDir  string
}

// demoSecrets are kept in the data directory so that a restarted demo
// accepts the same logins.
type demoSecrets struct {
	AdminPassword string `json:"adminPassword"`
	DemoPassword  string `json:"demoPassword"`
}

// StartDemo starts the broker and provisions the demo tenant. With dataDir,
// the broker's state, the passwords and the certificate live there and
// survive restarts; without, they live in a temporary directory removed by
// Close. A certificate is generated unless certFile is given.
func StartDemo(dataDir, certFile, keyFile string) (*Demo, error) {
	d := &Demo{CertFile: certFile, KeyFile: keyFile}
	dir := dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "qaas-demo-")
		if err != nil {
			return nil, err
		}
		dir, d.tempDir = tmp, tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()

	secrets, err := loadOrCreateSecrets(filepath.Join(dir, "demo-secrets.json"))
	if err != nil {
		return nil, err
	}
	d.Password = secrets.DemoPassword
	if d.CertFile == "" {
		d.CertFile, d.KeyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
		if err := ensureCertificate(d.CertFile, d.KeyFile); err != nil {
			return nil, err
		}
	}
	brokerDir := ""
	if dataDir != "" {
		brokerDir = filepath.Join(dir, "kafka")
	}
	if d.Broker, err = embeddedkafka.StartBroker(embeddedkafka.BrokerOptions{DataDir: brokerDir, AdminPassword: secrets.AdminPassword}); err != nil {
		return nil, err
	}
	err = d.Broker.Provision(embeddedkafka.Tenant{
		Prefix: DemoPrefix,
		Topics: map[string]int32{DemoTopic: 1},
		Users:  []embeddedkafka.TenantUser{{Name: DemoUser, Password: d.Password, Role: queuev1alpha1.RoleReadWrite}},
	})
	if err != nil {
		return nil, fmt.Errorf("provisioning the demo tenant: %w", err)
	}
	ok = true
	return d, nil
}

// Close stops the broker and removes temporary files.
func (d *Demo) Close() {
	if d.Broker != nil {
		d.Broker.Close()
	}
	if d.tempDir != "" {
		_ = os.RemoveAll(d.tempDir)
	}
}

// PrintInstructions writes the block a user pastes into a shell to try the
// gateway listening on addr.
func (d *Demo) PrintInstructions(w io.Writer, addr net.Addr, tlsOn bool) error {
	host := "localhost"
	if tcp, ok := addr.(*net.TCPAddr); ok && !tcp.IP.IsUnspecified() && !tcp.IP.IsLoopback() {
		host = tcp.IP.String()
	}
	port := addr.(*net.TCPAddr).Port
	scheme := "https"
	if !tlsOn {
		scheme = "http"
	}
	_, err := fmt.Fprintf(w, `qaas gateway with an embedded Kafka is running. Try it from another shell:

export URL=%s://%s
export SASL_USERNAME=%s
export SASL_PASSWORD=%s
export TOPIC=%s
export CURL_CA_BUNDLE=%s

%s
`, scheme, net.JoinHostPort(host, fmt.Sprint(port)), DemoUser, d.Password, DemoTopic, d.CertFile, ovh.Calls)
	return err
}

func loadOrCreateSecrets(path string) (demoSecrets, error) {
	var s demoSecrets
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &s); err != nil || s.AdminPassword == "" || s.DemoPassword == "" {
			return s, fmt.Errorf("%s is damaged; remove the data directory to start afresh", path)
		}
		return s, nil
	case !errors.Is(err, fs.ErrNotExist):
		return s, err
	}
	s = demoSecrets{AdminPassword: rand.Text(), DemoPassword: rand.Text()}
	b, err = json.Marshal(s)
	if err != nil {
		return s, err
	}
	return s, os.WriteFile(path, b, 0o600)
}

func ensureCertificate(certFile, keyFile string) error {
	if _, err := os.Stat(certFile); err == nil {
		return nil
	}
	cert, err := selfsigned.New("localhost", "127.0.0.1", "::1")
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, cert.KeyPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, cert.CertPEM, 0o644)
}
