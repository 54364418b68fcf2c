package server_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// With a credentials directory (the operator's mounted Secret), the gateway
// checks logins itself, then talks to Kafka as that user.
func TestCredentialsDirectoryMode(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "admin.username"), []byte(userA))
	writeFile(t, filepath.Join(dir, "admin.password"), []byte(tb.passwords[userA]))
	writeFile(t, filepath.Join(dir, "url"), []byte("https://example.invalid"))
	gw := startGateway(t, tb, "--credentials-dir", dir)
	path := "/topic/" + topicA

	expectStatus(t, gw.post(t, userA, tb.passwords[userA], path, `[{"Value":"hello"}]`), http.StatusOK)
	if got := values(decode[[]message](t, gw.get(t, userA, tb.passwords[userA], path))); strings.Join(got, ",") != "hello" {
		t.Fatalf("got %q", got)
	}
	for name, r := range map[string]response{
		"wrong password": gw.get(t, userA, "guess", path),
		// userB is a valid Kafka login, but not one of this gateway's users.
		"user of another tenant": gw.get(t, userB, tb.passwords[userB], "/topic/"+topicB),
	} {
		if r.status != http.StatusUnauthorized || decode[apiError](t, r).Message != "wrong username or password" {
			t.Errorf("%s: status %d body %s, want 401", name, r.status, r.body)
		}
	}
}

func TestMetricsCountRequestsAndMessages(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb)
	pass := tb.passwords[userA]
	expectStatus(t, gw.post(t, userA, pass, "/topic/"+topicA, `[{"Value":"a"},{"Value":"b"}]`), http.StatusOK)
	expectStatus(t, gw.get(t, userA, pass, "/topic/"+topicA), http.StatusOK)
	expectStatus(t, gw.get(t, userA, pass, "/topic/"+topicB), http.StatusForbidden)

	r := gw.get(t, "", "", "/metrics")
	expectStatus(t, r, http.StatusOK)
	for _, want := range []string{
		`qaas_gateway_http_requests_total{code="200",method="POST",route="produce"} 1`,
		`qaas_gateway_http_requests_total{code="403",method="GET",route="consume"} 1`,
		`qaas_gateway_messages_produced_total 2`,
		`qaas_gateway_messages_consumed_total 2`,
		`qaas_gateway_kafka_errors_total{kind="forbidden"} 1`,
		`qaas_gateway_http_request_duration_seconds_count{route="produce"} 1`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(r.body), pass) {
		t.Error("a password reached /metrics")
	}
}
