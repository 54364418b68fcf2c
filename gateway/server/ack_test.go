package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"qaas.dev/qaas/gateway/httpapi"
	"qaas.dev/qaas/internal/embeddedkafka"
)

// manualGet is a GET of group with ?ack=manual: its messages' values in
// order, and its commit token.
func manualGet(t *testing.T, rs *replicaSet, on *replica, user, pass, group, query string) ([]string, string) {
	t.Helper()
	if !strings.Contains(query, "limit=") {
		query += "&limit=100"
	}
	r, err := rs.callOn(on, http.MethodGet, "/topic/"+topicA+"?group="+group+"&ack=manual"+query, user, pass, "")
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("GET ack=manual: %v %d %s", err, r.status, r.body)
	}
	var values []string
	for _, m := range decode[[]message](t, r) {
		values = append(values, *m.Value)
	}
	token := r.header.Get(httpapi.CommitTokenHeader)
	if len(values) > 0 && token == "" {
		t.Fatalf("GET ack=manual answered %d messages without a %s header", len(values), httpapi.CommitTokenHeader)
	}
	if len(values) == 0 && token != "" {
		t.Fatalf("GET ack=manual answered no message but a token")
	}
	return values, token
}

func commit(rs *replicaSet, on *replica, user, pass, group, token string) (response, error) {
	return rs.callOn(on, http.MethodPost, "/topic/"+topicA+"/commit?group="+group, user, pass, fmt.Sprintf(`{"Token":%q}`, token))
}

// With ?ack=manual a GET's messages come back after its ackTimeout unless
// their token is committed; a committed token's messages never come back;
// a client that dies mid-batch (takes messages and never commits) loses
// none of them.
func TestManualAckOnOneReplica(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 1)
	gw := rs.replicas[0]
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, 10, 10)

	// Taken, not committed: after the timeout they come again, to the
	// next GET, in order. Meanwhile a GET gets nothing, at once: the held
	// partition is not waited for.
	taken := time.Now()
	first, token1 := manualGet(t, rs, gw, userA, pass, "m", "&ackTimeout=7s")
	if strings.Join(first, ",") != "0,1,2,3,4,5,6,7,8,9" {
		t.Fatalf("first GET: %v", first)
	}
	asked := time.Now()
	if again, _ := manualGet(t, rs, gw, userA, pass, "m", "&timeout=0"); len(again) != 0 {
		t.Fatalf("while the first batch awaits its commit, a GET got %v", again)
	}
	if waited := time.Since(asked); waited > 2*time.Second {
		t.Errorf("a GET with timeout=0 waited %s for a partition held for a commit", waited)
	}
	time.Sleep(time.Until(taken.Add(7500 * time.Millisecond)))
	second, token2 := manualGet(t, rs, gw, userA, pass, "m", "&ackTimeout=30s")
	if strings.Join(second, ",") != strings.Join(first, ",") {
		t.Fatalf("after the ack timeout: %v, want the same messages again", second)
	}
	// The expired token commits nothing.
	if r, err := commit(rs, gw, userA, pass, "m", token1); err != nil || r.status != http.StatusNotFound {
		t.Fatalf("commit of an expired token: %v %d %s, want 404", err, r.status, r.body)
	}
	if r, err := commit(rs, gw, userA, pass, "m", token2); err != nil || r.status != http.StatusNoContent {
		t.Fatalf("commit: %v %d %s, want 204", err, r.status, r.body)
	}
	// Committed: never again, even to a new member of the group.
	rs.postNumbered(t, userA, pass, topicA, 1, 1)
	third, token3 := manualGet(t, rs, gw, userA, pass, "m", "")
	if len(third) != 1 || third[0] != "0" {
		t.Fatalf("after the commit: %v, want only the message posted since", third)
	}
	if r, err := commit(rs, gw, userA, pass, "m", token3); err != nil || r.status != http.StatusNoContent {
		t.Fatalf("commit: %v %d %s", err, r.status, r.body)
	}
	if r, err := commit(rs, gw, userA, pass, "m", token3); err != nil || r.status != http.StatusNotFound {
		t.Fatalf("a token committed twice: %v %d %s, want 404", err, r.status, r.body)
	}
}

// Bad requests get a clear 400; a token is good only for its own user,
// topic and group.
func TestManualAckRefusals(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 1)
	gw := rs.replicas[0]
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, 3, 3)
	for _, c := range []struct{ query, message string }{
		{"?ack=later", `ack \"later\" is not one of auto, manual`},
		{"?ackTimeout=5s", "ackTimeout applies to ack=manual only"},
		{"?ack=manual&ackTimeout=0.5", "ackTimeout must be seconds (such as 30) or a duration (such as 2m), from 1s to 5m0s"},
		{"?ack=manual&ackTimeout=6m", "ackTimeout must be seconds (such as 30) or a duration (such as 2m), from 1s to 5m0s"},
		{"?ack=manual&ack=auto", "ack is given 2 times: give it once"},
	} {
		r, err := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+c.query, userA, pass, "")
		if err != nil || r.status != http.StatusBadRequest || !strings.Contains(string(r.body), c.message) {
			t.Errorf("GET %s: %v %d %s, want 400 saying %s", c.query, err, r.status, r.body, c.message)
		}
	}
	_, token := manualGet(t, rs, gw, userA, pass, "g", "")
	for _, c := range []struct {
		name, path, user, pass, body string
		status                       int
	}{
		{"no body", "/topic/" + topicA + "/commit?group=g", userA, pass, "", http.StatusBadRequest},
		{"not JSON", "/topic/" + topicA + "/commit?group=g", userA, pass, token, http.StatusBadRequest},
		{"a made-up token", "/topic/" + topicA + "/commit?group=g", userA, pass, `{"Token":"AAAA"}`, http.StatusNotFound},
		{"another group", "/topic/" + topicA + "/commit?group=h", userA, pass, fmt.Sprintf(`{"Token":%q}`, token), http.StatusNotFound},
		{"another topic", "/topic/" + topicA3 + "/commit?group=g", userA, pass, fmt.Sprintf(`{"Token":%q}`, token), http.StatusNotFound},
		{"another tenant", "/topic/" + topicA + "/commit?group=g", userB, tb.passwords[userB], fmt.Sprintf(`{"Token":%q}`, token), http.StatusNotFound},
		{"no credentials", "/topic/" + topicA + "/commit?group=g", "", "", fmt.Sprintf(`{"Token":%q}`, token), http.StatusUnauthorized},
	} {
		r, err := rs.callOn(gw, http.MethodPost, c.path, c.user, c.pass, c.body)
		if err != nil || r.status != c.status {
			t.Errorf("commit with %s: %v %d %s, want %d", c.name, err, r.status, r.body, c.status)
		}
	}
	// None of those committed it.
	if r, err := commit(rs, gw, userA, pass, "g", token); err != nil || r.status != http.StatusNoContent {
		t.Fatalf("the right commit after the refused ones: %v %d %s", err, r.status, r.body)
	}
}

// Three replicas: a token commits on any replica, whichever replica handed
// the messages out; the messages of a token never committed come back; a
// token held by a replica that died commits nothing (404) and its
// messages come back once another replica takes the group over.
func TestManualAckAcrossReplicas(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 3)
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, 30, 10)
	reps := rs.replicas
	got := map[string]int{}
	// A GET on each replica, committed on the next one.
	for i := range 3 {
		values, token := manualGet(t, rs, reps[i], userA, pass, "x", "&limit=5&ackTimeout=1m")
		if len(values) == 0 {
			t.Fatalf("GET on replica %d got nothing", i)
		}
		for _, v := range values {
			got[v]++
		}
		if r, err := commit(rs, reps[(i+1)%3], userA, pass, "x", token); err != nil || r.status != http.StatusNoContent {
			t.Fatalf("commit on replica %d of a GET on replica %d: %v %d %s", (i+1)%3, i, err, r.status, r.body)
		}
	}
	// One never committed, with a short timeout: its messages come back.
	lost, _ := manualGet(t, rs, reps[1], userA, pass, "x", "&limit=5&ackTimeout=1s")
	time.Sleep(1500 * time.Millisecond)
	back, token := manualGet(t, rs, reps[2], userA, pass, "x", "&limit=5&ackTimeout=1m")
	if strings.Join(back, ",") != strings.Join(lost, ",") {
		t.Fatalf("after the ack timeout: %v, want %v again", back, lost)
	}
	for _, v := range back {
		got[v]++
	}
	if r, err := commit(rs, reps[0], userA, pass, "x", token); err != nil || r.status != http.StatusNoContent {
		t.Fatalf("commit: %v %d %s", err, r.status, r.body)
	}

	// The replica holding the next batch dies before its commit.
	held, token := manualGet(t, rs, reps[0], userA, pass, "x", "&limit=5&ackTimeout=1m")
	owner := ownerOf(t, rs)
	rs.remove(owner)
	owner.stop(syscall.SIGKILL)
	var survivor *replica
	for _, r := range reps {
		if r != owner {
			survivor = r
			break
		}
	}
	if r, err := commit(rs, survivor, userA, pass, "x", token); err != nil || r.status != http.StatusNotFound {
		t.Fatalf("commit of a token held by a dead replica: %v %d %s, want 404", err, r.status, r.body)
	}
	// Everything not committed comes back through the survivors.
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < 30 && time.Now().Before(deadline) {
		values, token := manualGet(t, rs, survivor, userA, pass, "x", "&limit=100&timeout=2")
		for _, v := range values {
			got[v]++
		}
		if token != "" {
			if r, err := commit(rs, survivor, userA, pass, "x", token); err != nil || r.status != http.StatusNoContent {
				t.Fatalf("commit after the takeover: %v %d %s", err, r.status, r.body)
			}
		}
	}
	if len(got) != 30 {
		t.Fatalf("%d of 30 messages delivered (held by the dead replica: %v)", len(got), held)
	}
	t.Logf("30 messages delivered; the 5 held by the killed replica came back: %v", held)
}

// ownerOf is the replica that owns the group: the one the others forwarded
// its consumes to, as its metrics show. Every replica must have served a
// GET of the group before.
func ownerOf(t *testing.T, rs *replicaSet) *replica {
	t.Helper()
	var owner *replica
	for _, r := range rs.replicas {
		page, err := rs.callOn(r, http.MethodGet, "/metrics", "", "", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(page.body), "\n") {
			if strings.HasPrefix(line, "qaas_gateway_http_requests_total{") && strings.Contains(line, `route="peer-consume"`) {
				if owner != nil && owner != r {
					t.Fatal("two replicas served forwarded consumes")
				}
				owner = r
			}
		}
	}
	if owner == nil {
		t.Fatal("no replica served a forwarded consume")
	}
	return owner
}

// README's two curl lines of explicit acknowledgement work as a user pastes
// them: the GET shows the token, and the commit of that token answers 204,
// after which the group does not get the messages again.
func TestREADMEManualAckCurls(t *testing.T) {
	lines := readmeCurls(t, "### Explicit acknowledgement", 2)
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 1)
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, 3, 3)
	run := curlRunner(t, rs, userA, pass, topicA)
	out := run(lines[0])
	token := headerOf(out, httpapi.CommitTokenHeader)
	if token == "" || !strings.Contains(out, `"Value":"0"`) || !strings.Contains(out, `"Value":"2"`) {
		t.Fatalf("README's GET printed no token or not the messages:\n%s", out)
	}
	if !strings.Contains(lines[1], "<Kafka-Commit-Token>") {
		t.Fatalf("README's commit line has no <Kafka-Commit-Token> to replace: %s", lines[1])
	}
	out = run(strings.Replace(lines[1], "<Kafka-Commit-Token>", token, 1) + " -w '%{http_code}'")
	if out != "204" {
		t.Fatalf("README's commit printed %q, want its status 204 alone", out)
	}
	if values, _ := manualGet(t, rs, rs.replicas[0], userA, pass, "workers", "&timeout=0"); len(values) != 0 {
		t.Fatalf("after README's commit the group got %v again", values)
	}
}
