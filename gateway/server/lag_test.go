package server_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"qaas.dev/qaas/internal/embeddedkafka"
)

type lagAnswer struct {
	Topic, Group string
	Lag          int64
	Partitions   []struct {
		Partition                  int32
		Committed, Start, End, Lag int64
	}
}

// GET /topic/{topic}/lag says how far a group is behind, per partition, as
// Kafka has it; another tenant is refused.
func TestLagOfAGroup(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 1)
	gw := rs.replicas[0]
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, 10, 10)
	if r, err := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+"?group=g&limit=4", userA, pass, ""); err != nil || r.status != http.StatusOK {
		t.Fatalf("GET: %v %d %s", err, r.status, r.body)
	}
	lag := func(user, pass, query string) (response, lagAnswer) {
		r, err := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+"/lag"+query, user, pass, "")
		if err != nil {
			t.Fatal(err)
		}
		var a lagAnswer
		if r.status == http.StatusOK {
			a = decode[lagAnswer](t, r)
		}
		return r, a
	}
	// The GET's 4 messages are committed right after its answer; the
	// commit is asynchronous to the GET, so look until it shows.
	var a lagAnswer
	for range 50 {
		var r response
		if r, a = lag(userA, pass, "?group=g"); r.status != http.StatusOK {
			t.Fatalf("lag: %d %s", r.status, r.body)
		}
		if a.Lag == 6 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if a.Topic != topicA || a.Group != "g" || a.Lag != 6 || len(a.Partitions) != 1 ||
		a.Partitions[0].Committed != 4 || a.Partitions[0].Start != 0 || a.Partitions[0].End != 10 || a.Partitions[0].Lag != 6 {
		t.Fatalf("lag of group g after 4 of 10 messages: %+v", a)
	}
	// A group that never read: everything is ahead of it.
	if r, a := lag(userA, pass, ""); r.status != http.StatusOK || a.Group != "default" || a.Lag != 10 || a.Partitions[0].Committed != -1 {
		t.Fatalf("lag of a new group: %d %s", r.status, r.body)
	}
	// Another tenant may not see it; bad input is refused.
	if r, _ := lag(userB, tb.passwords[userB], "?group=g"); r.status != http.StatusForbidden {
		t.Fatalf("another tenant: %d %s, want 403", r.status, r.body)
	}
	if r, _ := lag(userA, pass, "?group=a/b"); r.status != http.StatusBadRequest {
		t.Fatalf("a bad group: %d %s, want 400", r.status, r.body)
	}
	if r, err := rs.callOn(gw, http.MethodPost, "/topic/"+topicA+"/lag", userA, pass, "x"); err != nil || r.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST lag: %v %d %s, want 405", err, r.status, r.body)
	}
}

// README's lag line works as pasted: after the group read 4 of 10
// messages, it prints a lag of 6.
func TestREADMELagCurl(t *testing.T) {
	line := readmeCurls(t, "### `GET /topic/{topic}/lag` — how far a group is behind", 1)[0]
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 1)
	pass := tb.passwords[userA]
	run := curlRunner(t, rs, userA, pass, topicA)
	rs.postNumbered(t, userA, pass, topicA, 10, 10)
	if r, err := rs.call(http.MethodGet, "/topic/"+topicA+"?group=workers&limit=4", userA, pass, ""); err != nil || r.status != http.StatusOK {
		t.Fatalf("GET: %v %d %s", err, r.status, r.body)
	}
	waitCommitted(t, tb, userA+".workers", topicA, 0, 4)
	var lag struct {
		Topic, Group string
		Lag          int64
	}
	if out := run(line); json.Unmarshal([]byte(out), &lag) != nil || lag.Topic != topicA || lag.Group != "workers" || lag.Lag != 6 {
		t.Fatalf("README's lag line printed %s, want a lag of 6 for group workers", out)
	}
}
