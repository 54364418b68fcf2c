package server_test

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// At --max-connections, a new client takes the place of the connection
// idle the longest; when every connection is busy, a few more still serve
// the probes and tell API clients why they are refused; past those, a
// connection is closed on arrival. Each is counted in /metrics.
func TestConnectionCap(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb, "--max-connections", "2")
	const headroom = 32

	// Two keep-alive connections between requests fill the cap; a third
	// client closes the one idle the longest and is served.
	first, firstReader := gw.request(t, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
	second, _ := gw.request(t, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
	r := gw.raw(t, "http/1.1", "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
	if r.status != http.StatusOK {
		t.Fatalf("a client at the cap got %d %s, want the idle connection's place", r.status, r.body)
	}
	if _, err := firstReader.ReadByte(); err == nil {
		t.Fatal("the connection idle the longest is still open")
	}
	first.Close()
	second.Close()

	// Two produces waiting for their bodies keep both connections busy.
	auth := base64.StdEncoding.EncodeToString([]byte(userA + ":" + tb.passwords[userA]))
	var held []*tls.Conn
	for range 2 {
		conn, br := gw.request(t, fmt.Sprintf("POST /topic/%s HTTP/1.1\r\nHost: gw\r\nAuthorization: Basic %s\r\nExpect: 100-continue\r\nContent-Length: 16\r\n\r\n", topicA, auth))
		if line, _ := br.ReadString('\n'); line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("busy produce got %q, want 100 Continue", line)
		}
		held = append(held, conn)
	}
	over := map[string]struct {
		request string
		status  int
		body    string
	}{
		"API request": {"GET /topic/" + topicA + " HTTP/1.1\r\nHost: gw\r\n\r\n", http.StatusServiceUnavailable,
			errorJSON(503, "the gateway holds as many connections as it may: retry in a moment, or reuse a keep-alive connection")},
		"liveness probe":  {"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n", http.StatusOK, `{"status":"ok"}` + "\n"},
		"readiness probe": {"GET /readyz HTTP/1.1\r\nHost: gw\r\n\r\n", http.StatusOK, `{"status":"ok"}` + "\n"},
	}
	for name, c := range over {
		conn := gw.dialTLS(t, "http/1.1")
		if _, err := io.WriteString(conn, c.request); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		r := readHTTPResponse(t, resp, err)
		if r.status != c.status || string(r.body) != c.body || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s over the cap: %d %q %s, want %d %s", name, r.status, r.header.Get("Content-Type"), r.body, c.status, c.body)
		}
		if !resp.Close || c.status == 503 && r.header.Get("Retry-After") != "1" {
			t.Errorf("%s over the cap: headers %v, want Connection: close (and Retry-After: 1 on 503)", name, r.header)
		}
		// The gateway closes it: the headroom is free again.
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("%s over the cap: the connection stays open (%v)", name, err)
		}
	}

	// Connections that send nothing fill the headroom; the next one is
	// closed during its handshake.
	for range headroom {
		held = append(held, gw.dialTLS(t, "http/1.1"))
	}
	cfg := gw.tls.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	if conn, err := tls.Dial("tcp", strings.TrimPrefix(gw.URL, "https://"), cfg); err == nil {
		conn.Close()
		t.Fatal("a connection past the cap and its headroom was served")
	}

	// Once the held connections are gone, the metrics show what happened.
	for _, conn := range held {
		conn.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		metrics := string(gw.get(t, "", "", "/metrics").body)
		missing := ""
		for _, want := range []string{
			"qaas_gateway_http_connections_refused_total 1\n",
			"qaas_gateway_http_connections 1\n",
		} {
			if !strings.Contains(metrics, want) {
				missing = want
			}
		}
		if strings.Contains(metrics, "qaas_gateway_http_connections_evicted_total 0\n") {
			missing = "an evicted connection"
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q:\n%s", missing, metrics)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// request sends a raw request on a new TLS connection, reads the response
// head of those that answer at once, and returns the connection and its
// reader for what follows.
func (g *gateway) request(t *testing.T, request string) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	conn := g.dialTLS(t, "http/1.1")
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if strings.HasPrefix(request, "GET") {
		resp, err := http.ReadResponse(br, nil)
		readHTTPResponse(t, resp, err)
	}
	return conn, br
}
