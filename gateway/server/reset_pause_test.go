package server_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"qaas.dev/qaas/gateway/httpapi"
	"qaas.dev/qaas/internal/embeddedkafka"
)

// pauseCall posts a reset's pause or resume of user's group to replica
// on's peer API, as another replica does, with the peer token unless
// withoutToken, and returns the status.
func pauseCall(t *testing.T, rs *replicaSet, on *replica, action, user, pass, group, resetID string, withoutToken bool) int {
	t.Helper()
	u := url.URL{Scheme: "http", Host: on.peer, Path: "/peer/v1/group/" + action,
		RawQuery: url.Values{"group": {group}, "reset": {resetID}}.Encode()}
	req, err := http.NewRequest(http.MethodPost, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	if !withoutToken {
		token, err := os.ReadFile(filepath.Join(rs.dir, "peer-token"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(httpapi.PeerTokenHeader, strings.TrimSpace(string(token)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// getGroup GETs topic through group on replica on, without waiting.
func getGroup(t *testing.T, rs *replicaSet, on *replica, user, pass, topic, group string) response {
	t.Helper()
	r, err := rs.callOn(on, http.MethodGet, "/topic/"+topic+"?timeout=0&group="+group, user, pass, "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// While a reset holds a group, its GETs get 503 with Retry-After: 1; two
// resets at once each hold it until they are done; a hold whose resume is
// lost ends by itself; the peer API refuses a caller without the peer
// token, and a pause names the group of the credentials' user only.
func TestAResetsPauseOfAGroup(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 1)
	on := rs.replicas[0]
	pass, passB := tb.passwords[userA], tb.passwords[userB]
	postValues(t, rs, userA, pass, topicA, "m")

	if status := pauseCall(t, rs, on, "pause", userA, pass, "g", "r1", true); status != http.StatusMisdirectedRequest {
		t.Fatalf("a pause without the peer token: %d, want 421", status)
	}
	if r := getGroup(t, rs, on, userA, pass, topicA, "g"); r.status != http.StatusOK {
		t.Fatalf("GET after a pause without the peer token: %d %s, want 200", r.status, r.body)
	}

	// Two resets at once: the group stays paused until both are done.
	for _, id := range []string{"r1", "r2"} {
		if status := pauseCall(t, rs, on, "pause", userA, pass, "g", id, false); status != http.StatusNoContent {
			t.Fatalf("pause %s: %d", id, status)
		}
	}
	if r := getGroup(t, rs, on, userA, pass, topicA, "g"); r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" {
		t.Fatalf("GET during a reset: %d Retry-After %q %s, want 503 with Retry-After 1", r.status, r.header.Get("Retry-After"), r.body)
	}
	// Tenant B's pause of its group g leaves tenant A's alone, and A's
	// pause leaves B's.
	if status := pauseCall(t, rs, on, "pause", userB, passB, "h", "rb", false); status != http.StatusNoContent {
		t.Fatalf("tenant B's pause: %d", status)
	}
	if r := getGroup(t, rs, on, userA, pass, topicA, "h"); r.status != http.StatusOK {
		t.Fatalf("A's group h while B's h is paused: %d %s, want 200", r.status, r.body)
	}
	if r := getGroup(t, rs, on, userB, passB, topicB, "g"); r.status != http.StatusOK {
		t.Fatalf("B's group g while A's g is paused: %d %s, want 200", r.status, r.body)
	}
	if r := getGroup(t, rs, on, userB, passB, topicB, "h"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("B's paused group h: %d %s, want 503", r.status, r.body)
	}
	if status := pauseCall(t, rs, on, "resume", userA, pass, "g", "r1", false); status != http.StatusNoContent {
		t.Fatalf("resume r1: %d", status)
	}
	if r := getGroup(t, rs, on, userA, pass, topicA, "g"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("GET once one of two resets is done: %d %s, want 503", r.status, r.body)
	}
	if status := pauseCall(t, rs, on, "resume", userA, pass, "g", "r2", false); status != http.StatusNoContent {
		t.Fatalf("resume r2: %d", status)
	}
	if r := getGroup(t, rs, on, userA, pass, topicA, "g"); r.status != http.StatusOK {
		t.Fatalf("GET once both resets are done: %d %s, want 200", r.status, r.body)
	}

	// A reset whose resume never comes holds the group 10 seconds.
	paused := time.Now()
	if status := pauseCall(t, rs, on, "pause", userA, pass, "g", "lost", false); status != http.StatusNoContent {
		t.Fatalf("pause: %d", status)
	}
	for {
		r := getGroup(t, rs, on, userA, pass, topicA, "g")
		if r.status == http.StatusOK {
			break
		}
		if r.status != http.StatusServiceUnavailable || time.Since(paused) > 20*time.Second {
			t.Fatalf("GET %s after a pause whose resume was lost: %d %s, want 503 then 200 after 10 s", time.Since(paused), r.status, r.body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if held := time.Since(paused); held < 9*time.Second {
		t.Fatalf("a pause whose resume was lost ended after %s, want its 10 s hold", held)
	}
}

// A replica with a member of the group that does not answer the pause (a
// process stopped, as a pod lost) fails the reset at once with 409 and
// Retry-After: nothing changed, and the other replicas' members serve the
// group again right away.
func TestAResetThatCannotPauseAReplicaChangesNothing(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 2)
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA3, 12, 12)
	consumeAll(t, rs, userA, pass, topicA3, "g", 12)
	before := waitLag(t, rs, userA, pass, topicA3, "g", 0)
	for _, on := range rs.replicas {
		if r := getGroup(t, rs, on, userA, pass, topicA3, "g"); r.status != http.StatusOK {
			t.Fatalf("GET: %d %s", r.status, r.body)
		}
	}

	stopped, serving := rs.replicas[1], rs.replicas[0]
	if err := stopped.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := resetOffsets(t, rs, serving, userA, pass, topicA3, "g", `{"To":"earliest"}`)
	took := time.Since(start)
	if err := stopped.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusConflict || r.header.Get("Retry-After") != "1" || !strings.Contains(decode[apiError](t, r).Message, "not changed") {
		t.Fatalf("reset with a replica that does not answer: %d Retry-After %q %s, want 409 with Retry-After 1", r.status, r.header.Get("Retry-After"), r.body)
	}
	if took > 8*time.Second {
		t.Fatalf("the reset took %s to give up on a replica that does not answer", took)
	}
	if r := getGroup(t, rs, serving, userA, pass, topicA3, "g"); strings.Contains(string(r.body), "being reset") {
		t.Fatalf("the group is still paused after a refused reset: %d %s", r.status, r.body)
	}
	if after := waitLag(t, rs, userA, pass, topicA3, "g", 0); !slices.Equal(after.Partitions, before.Partitions) {
		t.Fatalf("a refused reset changed the group: %+v, was %+v", after, before)
	}
}

// A reset closes the group's member at once, but the messages it handed out
// under a lease held for a commit stay in memory until the lease ends:
// their bytes stay reserved in the consume budget until then, the rest of
// the member's at once.
func TestAResetKeepsHeldMessagesReservedUntilTheirLeaseEnds(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb)
	pass := tb.passwords[userA]
	const reserved = "qaas_gateway_consume_memory_bytes"
	expectStatus(t, gw.post(t, userA, pass, "/topic/"+topicA, `[{"Value":"held"}]`), http.StatusOK)
	r := gw.get(t, userA, pass, "/topic/"+topicA+"?ack=manual&ackTimeout=3s&timeout=5")
	expectStatus(t, r, http.StatusOK)
	if r.header.Get(httpapi.CommitTokenHeader) == "" {
		t.Fatalf("GET ack=manual handed out nothing: %s", r.body)
	}
	member := gw.metric(t, reserved)
	expectStatus(t, gw.post(t, userA, pass, "/topic/"+topicA+"/offsets", `{"To":"earliest"}`), http.StatusOK)
	if kept := gw.metric(t, reserved); kept <= 0 || kept >= member {
		t.Fatalf("after the reset %.0f bytes are reserved, want the held message's (more than 0, less than the member's %.0f)", kept, member)
	}
	deadline := time.Now().Add(10 * time.Second)
	for gw.metric(t, reserved) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%.0f bytes still reserved 10 s after the reset, past the lease's 3 s", gw.metric(t, reserved))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
