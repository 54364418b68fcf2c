package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/gateway/config"
	"qaas.dev/qaas/gateway/server"
	"qaas.dev/qaas/internal/embeddedkafka"
	"qaas.dev/qaas/internal/selfsigned"
)

// Two tenants, named as the operator names them.
const (
	topicA  = "team-a.app.orders" // one partition: order is total
	topicA3 = "team-a.app.events" // three partitions
	userA   = "team-a.app.admin"
	readerA = "team-a.app.reader"
	topicB  = "team-b.app.orders"
	userB   = "team-b.app.admin"
)

// testBroker is an embedded broker (SASL SCRAM-SHA-512 and ACLs on) with
// tenants A and B provisioned, and the passwords of their users.
type testBroker struct {
	*embeddedkafka.Broker
	passwords map[string]string
	opts      embeddedkafka.BrokerOptions
}

func startBroker(t testing.TB, opts embeddedkafka.BrokerOptions) *testBroker {
	t.Helper()
	opts.AdminPassword = rand.Text()
	b, err := embeddedkafka.StartBroker(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	tb := &testBroker{Broker: b, opts: opts, passwords: map[string]string{
		userA: rand.Text(), readerA: rand.Text(), userB: rand.Text(),
	}}
	tb.provision(t)
	return tb
}

func (tb *testBroker) provision(t testing.TB) {
	t.Helper()
	err := tb.Provision(embeddedkafka.Tenant{
		Prefix: "team-a.app.",
		Topics: map[string]int32{topicA: 1, topicA3: 3},
		Users: []embeddedkafka.TenantUser{
			{Name: userA, Password: tb.passwords[userA], Role: queuev1alpha1.RoleReadWrite},
			{Name: readerA, Password: tb.passwords[readerA], Role: queuev1alpha1.RoleRead},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = tb.Provision(embeddedkafka.Tenant{
		Prefix: "team-b.app.",
		Topics: map[string]int32{topicB: 1},
		Users:  []embeddedkafka.TenantUser{{Name: userB, Password: tb.passwords[userB], Role: queuev1alpha1.RoleReadWrite}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// restart starts a stopped broker again on the same port with the same
// data directory.
func (tb *testBroker) restart(t testing.TB) {
	t.Helper()
	_, port, _ := net.SplitHostPort(tb.Addr)
	opts := tb.opts
	opts.Port, _ = strconv.Atoi(port)
	b, err := embeddedkafka.StartBroker(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	tb.Broker = b
}

// gateway is a gateway serving HTTPS on a loopback port.
type gateway struct {
	URL string
	// client checks every answer against openapi.json (withContract).
	client *http.Client
	// tls is the client's TLS configuration, for raw connections.
	tls  *tls.Config
	stop func()
	logs *logSink
}

// startGateway runs a gateway against tb with the given extra flags,
// parsed by the gateway's own flag set, and waits until it is healthy.
func startGateway(t testing.TB, tb *testBroker, extraArgs ...string) *gateway {
	t.Helper()
	dir := t.TempDir()
	cert, err := selfsigned.New("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeFile(t, certFile, cert.CertPEM)
	writeFile(t, keyFile, cert.KeyPEM)
	args := append([]string{
		"--listen-address", "127.0.0.1:0",
		"--kafka-brokers", tb.Addr,
		"--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--log-level", "warn",
	}, extraArgs...)
	cfg, err := config.Parse(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := server.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logSink{t: t}
	t.Cleanup(func() { logs.mustNotContain(tb.AdminPassword, tb.passwords) })
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gw, err := server.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ls) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("gateway shutdown: %v", err)
			}
		}
	}
	t.Cleanup(stop)

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cert.CertPEM)
	transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}
	g := &gateway{URL: "https://" + ls.API.Addr().String(), client: &http.Client{Transport: transport, Timeout: 60 * time.Second}, tls: transport.TLSClientConfig, stop: stop, logs: logs}
	withContract(t, g.client)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := g.client.Get(g.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway never became healthy: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logSink shows a gateway's logs in the test's log and checks at the end
// that no password reached them.
type logSink struct {
	t   testing.TB
	mu  sync.Mutex
	all strings.Builder
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.all.Write(p)
	l.mu.Unlock()
	l.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// String is every line logged so far.
func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

func (l *logSink) mustNotContain(admin string, passwords map[string]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if strings.Contains(l.all.String(), admin) {
		l.t.Error("the admin password reached the gateway's logs")
	}
	for user, p := range passwords {
		if strings.Contains(l.all.String(), p) {
			l.t.Errorf("the password of %s reached the gateway's logs", user)
		}
	}
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
	proto  string
}

// do sends a request with basic auth; contentType "" sends none.
func (g *gateway) do(t *testing.T, method, path, user, password, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, g.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b, proto: resp.Proto}
}

// curlForm is what `curl -d` sends.
const curlForm = "application/x-www-form-urlencoded"

func (g *gateway) post(t *testing.T, user, password, path, body string) response {
	t.Helper()
	return g.do(t, http.MethodPost, path, user, password, curlForm, []byte(body))
}

func (g *gateway) get(t *testing.T, user, password, path string) response {
	t.Helper()
	return g.do(t, http.MethodGet, path, user, password, "", nil)
}

// message is a consumed message as the API returns it.
type message struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       *string
	Value     *string
	Headers   []struct{ Key, Value string }
	Encoding  string
}

// placement is a produced message's place as the API returns it.
type placement struct {
	Topic     string
	Partition int32
	Offset    int64
}

// apiError is an error body.
type apiError struct {
	Status  int
	Error   string
	Message string
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decoding %q (status %d): %v", r.body, r.status, err)
	}
	return v
}

func expectStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

func values(msgs []message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = *m.Value
	}
	return out
}

// embeddedDefaults is a broker on any free port, state in memory.
func embeddedDefaults() embeddedkafka.BrokerOptions { return embeddedkafka.BrokerOptions{} }

// waitCommitted waits until group's committed offset of topic's partition
// reaches offset: delivered messages are committed soon after their
// response, not before it.
func waitCommitted(t *testing.T, tb *testBroker, group, topic string, partition int32, offset int64) {
	t.Helper()
	admin, err := tb.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {partition}})
		if err == nil {
			if b := resp.GetBlock(topic, partition); b != nil && b.Offset >= offset {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never committed offset %d of %s/%d (last error %v)", group, offset, topic, partition, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
