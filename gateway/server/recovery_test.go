package server_test

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"qaas.dev/qaas/internal/embeddedkafka"
)

// A gateway killed without leaving its group, as a crashed pod, and
// started again: Kafka keeps the dead member until its session expires,
// and the group's next GET waits that out and serves the messages. Kafka
// is fine all along, so nothing may call it unavailable; a GET that gives
// up first says the group is rebalancing.
func TestAGroupRecoversAfterAGatewayRestart(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 1)
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, 10, 10)
	r, err := rs.call(http.MethodGet, "/topic/"+topicA+"?limit=1", userA, pass, "")
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("first GET: %v %d %s", err, r.status, r.body)
	}
	waitCommitted(t, tb, userA+".default", topicA, 0, 1)
	old := rs.replicas[0]
	rs.remove(old)
	old.stop(syscall.SIGKILL)
	rs.add()

	start := time.Now()
	for {
		r, err := rs.call(http.MethodGet, "/topic/"+topicA+"?limit=100", userA, pass, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.status == http.StatusOK {
			msgs := values(decode[[]message](t, r))
			if strings.Join(msgs, ",") != "1,2,3,4,5,6,7,8,9" {
				t.Fatalf("after the restart: %v, want the 9 messages not yet read", msgs)
			}
			t.Logf("served %v after the restart", time.Since(start).Round(100*time.Millisecond))
			return
		}
		if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "is being rebalanced") || r.header.Get("Retry-After") != "1" {
			t.Fatalf("GET %v after the restart: %d %s (Retry-After %q), want 200 or 503 saying the group is rebalancing",
				time.Since(start).Round(100*time.Millisecond), r.status, r.body, r.header.Get("Retry-After"))
		}
		if time.Since(start) > time.Minute {
			t.Fatal("the group was not served within a minute of the restart")
		}
	}
}
