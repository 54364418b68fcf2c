package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"qaas.dev/qaas/internal/embeddedkafka"
	"qaas.dev/qaas/internal/selfsigned"
)

// metric reads one unlabelled value from /metrics.
func (g *gateway) metric(t *testing.T, name string) float64 {
	t.Helper()
	return metricIn(t, g.get(t, "", "", "/metrics").body, name)
}

// metricIn reads one unlabelled value from a /metrics page.
func metricIn(t testing.TB, page []byte, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(string(page), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

func TestKafkaOverTLSWithCAFile(t *testing.T) {
	cert, err := selfsigned.New("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cert.CertPEM)
	tb := startBroker(t, embeddedkafka.BrokerOptions{
		TLS:       &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12},
		ClientTLS: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	})
	caFile := filepath.Join(t.TempDir(), "kafka-ca.pem")
	writeFile(t, caFile, cert.CertPEM)

	gw := startGateway(t, tb, "--kafka-ca-file", caFile)
	pass := tb.passwords[userA]
	expectStatus(t, gw.post(t, userA, pass, "/topic/"+topicA, `[{"Value":"over TLS"}]`), http.StatusOK)
	if got := values(decode[[]message](t, gw.get(t, userA, pass, "/topic/"+topicA))); strings.Join(got, "") != "over TLS" {
		t.Fatalf("got %q", got)
	}
	expectStatus(t, gw.get(t, "", "", "/readyz"), http.StatusOK)

	// Without the CA, the broker's certificate is not trusted: 503.
	untrusting := startGateway(t, tb, "--kafka-tls")
	expectStatus(t, untrusting.post(t, userA, pass, "/topic/"+topicA, `[{"Value":"x"}]`), http.StatusServiceUnavailable)
}

func TestFailedLoginsAreThrottled(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb)
	statuses := map[int]int{}
	for i := range 10 {
		r := gw.get(t, userA, fmt.Sprintf("guess-%d", i), "/topic/"+topicA)
		statuses[r.status]++
		if r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if statuses[http.StatusUnauthorized] == 0 || statuses[http.StatusTooManyRequests] == 0 ||
		statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != 10 {
		t.Fatalf("statuses %v, want 401s then 429s", statuses)
	}
	if n := gw.metric(t, "qaas_gateway_kafka_clients"); n != 0 {
		t.Fatalf("%v Kafka clients kept open after failed logins", n)
	}
	// Guessing one user's password does not lock others out.
	expectStatus(t, gw.get(t, readerA, tb.passwords[readerA], "/topic/"+topicA), http.StatusOK)
	// The right password gets in once the user's rate allows it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := gw.get(t, userA, tb.passwords[userA], "/topic/"+topicA)
		if r.status == http.StatusOK {
			break
		}
		if r.status != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("the right password: status %d, body %s", r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Idle consumer group members commit and close; idle clients close; a
// later request picks up where the group left off.
func TestIdleConsumersAndClientsAreClosed(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb, "--consumer-idle-timeout", "1s", "--client-idle-timeout", "1s")
	pass := tb.passwords[userA]
	path := "/topic/" + topicA
	expectStatus(t, gw.post(t, userA, pass, path, `[{"Value":"1"},{"Value":"2"},{"Value":"3"}]`), http.StatusOK)
	if got := values(decode[[]message](t, gw.get(t, userA, pass, path+"?limit=1"))); strings.Join(got, "") != "1" {
		t.Fatalf("got %q", got)
	}
	if gw.metric(t, "qaas_gateway_consumer_group_members") != 1 || gw.metric(t, "qaas_gateway_kafka_clients") != 1 {
		t.Fatal("the member and client are not counted while in use")
	}
	deadline := time.Now().Add(15 * time.Second)
	for gw.metric(t, "qaas_gateway_kafka_clients") != 0 || gw.metric(t, "qaas_gateway_consumer_group_members") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("idle member and client were not closed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := values(decode[[]message](t, gw.get(t, userA, pass, path))); strings.Join(got, ",") != "2,3" {
		t.Fatalf("after the idle close the group got %q, want 2,3", got)
	}
}

// A shutdown lets accepted produce requests finish: every acknowledged
// message is in Kafka afterwards.
func TestShutdownFinishesInFlightProduces(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	first := startGateway(t, tb)
	pass := tb.passwords[userA]
	path := "/topic/" + topicA3

	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				req, _ := http.NewRequest(http.MethodPost, first.URL+path, strings.NewReader(`[{"Value":"`+id+`"}]`))
				req.SetBasicAuth(userA, pass)
				resp, err := first.client.Do(req)
				if err != nil {
					return // the listener is closed: not acknowledged
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				} else if resp.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("produce during shutdown: status %d", resp.StatusCode)
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	first.stop()
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged before the shutdown")
	}

	second := startGateway(t, tb)
	consumed := map[string]bool{}
	for {
		got := decode[[]message](t, second.get(t, userA, pass, path+"?limit=1000"))
		if len(got) == 0 {
			break
		}
		for _, v := range values(got) {
			consumed[v] = true
		}
	}
	for id := range acked {
		if !consumed[id] {
			t.Errorf("acknowledged %s is not in Kafka after the shutdown", id)
		}
	}
}
