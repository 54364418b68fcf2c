package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"qaas.dev/qaas/gateway/httpapi"
)

// A hostile reader of positions cannot grow the gateway: keys count
// toward --max-response-bytes as values do, a user has at most 4 reads
// under way in a replica, and each reserves its worst case from the
// user's consume memory budget; past either bound the read gets 429 with
// Retry-After, and once the reads end their room comes back.
func TestReadsFromAPositionAreBounded(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	pass := tb.passwords[userA]

	// Keys of 60 KB with empty values: the second would pass 100 KB.
	gw := startGateway(t, tb, "--max-response-bytes", "100000")
	key := strings.Repeat("k", 60000)
	var batch []string
	for range 5 {
		batch = append(batch, fmt.Sprintf(`{"Key":%q,"Value":""}`, key))
	}
	expectStatus(t, gw.post(t, userA, pass, "/topic/"+topicA, "["+strings.Join(batch, ",")+"]"), http.StatusOK)
	r := gw.get(t, userA, pass, "/topic/"+topicA+"?partition=0&offset=0&limit=10")
	expectStatus(t, r, http.StatusOK)
	if msgs := decode[[]message](t, r); len(msgs) != 1 || r.header.Get(httpapi.NextOffsetHeader) != "1" || r.header.Get(httpapi.HighWatermarkHeader) != "5" {
		t.Fatalf("a read of 60 KB keys with --max-response-bytes 100000 gave %d messages, next %q, end %q; want 1, next 1, end 5",
			len(msgs), r.header.Get(httpapi.NextOffsetHeader), r.header.Get(httpapi.HighWatermarkHeader))
	}

	// Four long polls at the end are under way; the fifth is refused.
	polls := startPolls(t, gw, pass, 4)
	refused := waitRefused(t, gw, pass)
	if !strings.Contains(decode[apiError](t, refused).Message, "4 reads from a position under way") {
		t.Fatalf("the fifth read at once: %s", refused.body)
	}
	expectStatus(t, gw.post(t, userA, pass, "/topic/"+topicA, `[{"Value":"end of the polls"}]`), http.StatusOK)
	polls.Wait()
	expectStatus(t, gw.get(t, userA, pass, "/topic/"+topicA+"?partition=0&offset=earliest&limit=1"), http.StatusOK)

	// A budget that fits one read's worst case (4 fetch units and the
	// response): a second read at once does not fit.
	small := startGateway(t, tb, "--max-response-bytes", "100000", "--user-consume-memory-bytes", "6000000")
	polls = startPolls(t, small, pass, 1)
	refused = waitRefused(t, small, pass)
	if !strings.Contains(decode[apiError](t, refused).Message, "memory budget") {
		t.Fatalf("a read past the user's budget: %s", refused.body)
	}
	expectStatus(t, small.post(t, userA, pass, "/topic/"+topicA, `[{"Value":"end of the poll"}]`), http.StatusOK)
	polls.Wait()
	expectStatus(t, small.get(t, userA, pass, "/topic/"+topicA+"?partition=0&offset=earliest&limit=1"), http.StatusOK)
}

// startPolls starts n long-poll reads at topic A's end on gw, each of
// which must end with a message (one refused for room tries again); Wait
// waits for them.
func startPolls(t *testing.T, gw *gateway, pass string, n int) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				req, _ := http.NewRequest(http.MethodGet, gw.URL+"/topic/"+topicA+"?partition=0&offset=latest&timeout=30", nil)
				req.SetBasicAuth(userA, pass)
				resp, err := gw.client.Do(req)
				if err != nil {
					t.Errorf("long poll: %v", err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusTooManyRequests {
					// waitRefused's read took the room first.
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "end of the poll") {
					t.Errorf("long poll: %d %s", resp.StatusCode, body)
				}
				return
			}
		})
	}
	return &wg
}

// waitRefused reads topic A's first message on gw until a read is refused
// with 429 and Retry-After: 1 (the polls started are under way by then),
// and returns that answer.
func waitRefused(t *testing.T, gw *gateway, pass string) response {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := gw.get(t, userA, pass, "/topic/"+topicA+"?partition=0&offset=0&limit=1")
		if r.status == http.StatusTooManyRequests {
			if r.header.Get("Retry-After") != "1" {
				t.Fatalf("429 with Retry-After %q, want 1", r.header.Get("Retry-After"))
			}
			return r
		}
		if r.status != http.StatusOK {
			t.Fatalf("a read while others are under way: %d %s", r.status, r.body)
		}
		if time.Now().After(deadline) {
			t.Fatal("reads while others were under way were served for 10 s, want 429")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
