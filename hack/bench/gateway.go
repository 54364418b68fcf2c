package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"qaas.dev/qaas/gateway/config"
	"qaas.dev/qaas/internal/credentialsdir"
	"qaas.dev/qaas/internal/gomemory"
	"qaas.dev/qaas/internal/kafkaconn"
	"qaas.dev/qaas/internal/selfsigned"
)

// buildGateway builds the gateway binary into dir, as `make build` does.
func buildGateway(dir string) (string, error) {
	bin := filepath.Join(dir, "gateway")
	cmd := exec.Command("go", "build", "-o", bin, "qaas.dev/qaas/gateway")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the gateway (run the bench from the qaas module, or give -gateway-bin): %w", err)
	}
	return bin, nil
}

// startGateway runs the gateway binary as production runs it: HTTPS with a
// certificate, logins checked against a credentials directory (the one
// user the bench logs in as), the Kafka settings given, and the Go
// runtime's settings for a container of memoryLimit bytes (none for 0). It returns the
// process, the gateway's URL and the certificate to trust.
func startGateway(bin, godebug string, memoryLimit int64, dir string, kafka kafkaconn.Settings, user, password string) (*process, string, []byte, error) {
	cert, err := selfsigned.New("localhost", "127.0.0.1")
	if err != nil {
		return nil, "", nil, err
	}
	creds := filepath.Join(dir, "credentials")
	files := map[string][]byte{
		filepath.Join(dir, "tls.crt"):                             cert.CertPEM,
		filepath.Join(dir, "tls.key"):                             cert.KeyPEM,
		filepath.Join(creds, credentialsdir.UsernameKey("admin")): []byte(user),
		filepath.Join(creds, credentialsdir.PasswordKey("admin")): []byte(password),
	}
	if err := os.MkdirAll(creds, 0o700); err != nil {
		return nil, "", nil, err
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, "", nil, err
		}
	}
	cfg := config.Default()
	cfg.ListenAddress = "127.0.0.1:0"
	cfg.TLSCertFile, cfg.TLSKeyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	cfg.CredentialsDir = creds
	cfg.Kafka = kafka

	cmd := command(bin, cfg.Args()...)
	// The Go runtime is set as the operator sets it for a container of
	// that memory limit.
	cmd.Env = append(os.Environ(), gomemory.Environ(memoryLimit)...)
	if godebug != "" {
		cmd.Env = append(cmd.Env, "GODEBUG="+godebug)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", nil, err
	}
	p := child("gateway", cmd, terminate(cmd))
	listening := make(chan string, 1)
	go watchGatewayLog(stderr, listening)
	select {
	case addr, ok := <-listening:
		if ok {
			return p, "https://" + addr, cert.CertPEM, nil
		}
	case <-time.After(30 * time.Second):
	}
	p.close()
	return nil, "", nil, fmt.Errorf("the gateway did not start listening (its log is above)")
}

// watchGatewayLog sends the address of the "gateway listening" line to
// listening (closing it if the gateway exits first), and shows warnings,
// errors and what is not a log line (the runtime's, for GODEBUG) on stderr.
func watchGatewayLog(r io.Reader, listening chan<- string) {
	sent := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var line struct{ Level, Msg, Address string }
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Level == "WARN" || line.Level == "ERROR" {
			fmt.Fprintf(os.Stderr, "gateway: %s\n", sc.Bytes())
		}
		if line.Msg == "gateway listening" && !sent {
			listening <- line.Address
			sent = true
		}
	}
	if !sent {
		close(listening)
	}
}

// gatewayClient speaks to the gateway over one HTTP version.
type gatewayClient struct {
	url, user, password string
	http                *http.Client
	proto               int
}

// newGatewayClient trusts the gateway's certificate and speaks HTTP/1.1
// (one connection per concurrent client, as an ingress proxy does) or
// HTTP/2 (every client multiplexed on one connection).
func newGatewayClient(url string, caPEM []byte, protoMajor int, user, password string) *gatewayClient {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	t := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 256}
	if protoMajor == 2 {
		t.ForceAttemptHTTP2 = true
	} else {
		// A non-nil, empty map turns HTTP/2 off.
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &gatewayClient{url: url, user: user, password: password, http: &http.Client{Transport: t, Timeout: time.Minute}, proto: protoMajor}
}

// do sends one request and reads the whole answer, which must be a 200
// over the client's HTTP version.
func (g *gatewayClient) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(g.user, g.password)
	resp, err := g.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return nil, err
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(out)))
	case resp.ProtoMajor != g.proto:
		return nil, fmt.Errorf("%s %s: answered over %s, want HTTP/%d", method, path, resp.Proto, g.proto)
	}
	return out, nil
}

func (g *gatewayClient) close() { g.http.CloseIdleConnections() }
