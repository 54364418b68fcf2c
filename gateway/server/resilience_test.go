package server_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"qaas.dev/qaas/internal/embeddedkafka"
)

// Kafka going away is a 503 with Retry-After; Kafka coming back is success
// again, without restarting the gateway.
func TestBrokerOutageIs503AndRecovers(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{DataDir: t.TempDir()})
	gw := startGateway(t, tb)
	pass := tb.passwords[userA]
	path := "/topic/" + topicA
	expectStatus(t, gw.post(t, userA, pass, path, `[{"Value":"before"}]`), http.StatusOK)
	if got := values(decode[[]message](t, gw.get(t, userA, pass, path))); !slices.Equal(got, []string{"before"}) {
		t.Fatalf("got %q before the outage", got)
	}
	waitCommitted(t, tb, userA+".default", topicA, 0, 1)

	tb.Close()
	for name, do := range map[string]func() response{
		"produce": func() response { return gw.post(t, userA, pass, path, `[{"Value":"during"}]`) },
		"consume": func() response { return gw.get(t, userA, pass, path) },
		"new login": func() response {
			return gw.post(t, readerA, tb.passwords[readerA], path, `[{"Value":"x"}]`)
		},
	} {
		r := do()
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("%s during the outage: status %d, Retry-After %q, body %s; want 503 with Retry-After",
				name, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	// The replica stays ready, so that the Service keeps sending clients
	// to it for the JSON 503 above; the metrics tell Kafka is down.
	expectStatus(t, gw.get(t, "", "", "/readyz"), http.StatusOK)
	if m := gw.get(t, "", "", "/metrics"); !strings.Contains(string(m.body), "qaas_gateway_kafka_up 0") {
		t.Errorf("metrics during the outage lack qaas_gateway_kafka_up 0")
	}

	tb.restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := gw.post(t, userA, pass, path, `[{"Value":"after"}]`)
		if r.status == http.StatusOK {
			break
		}
		if r.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("after the broker came back: status %d, body %s", r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	expectStatus(t, gw.get(t, "", "", "/readyz"), http.StatusOK)
	if m := gw.get(t, "", "", "/metrics"); !strings.Contains(string(m.body), "qaas_gateway_kafka_up 1") {
		t.Errorf("metrics after the outage lack qaas_gateway_kafka_up 1")
	}
	var got []string
	for time.Now().Before(deadline) && !slices.Contains(got, "after") {
		r := gw.get(t, userA, pass, path+"?timeout=1")
		if r.status == http.StatusOK {
			got = append(got, values(decode[[]message](t, r))...)
		}
	}
	// "during" may or may not have been written before the 503 (the
	// client was told it failed); "before" must not come again.
	if !slices.Contains(got, "after") || slices.Contains(got, "before") {
		t.Fatalf("after the outage the group got %q, want \"after\" and not \"before\"", got)
	}
}

// Messages the gateway fetched but did not hand out come back after a
// restart; those it handed out do not.
func TestRestartRedeliversOnlyWhatWasNotReturned(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	pass := tb.passwords[userA]
	path := "/topic/" + topicA

	first := startGateway(t, tb)
	var batch []string
	for i := range 10 {
		batch = append(batch, fmt.Sprintf(`{"Value":"m%d"}`, i))
	}
	expectStatus(t, first.post(t, userA, pass, path, "["+strings.Join(batch, ",")+"]"), http.StatusOK)
	// One fetch brings all ten into the gateway; three are returned.
	got := values(decode[[]message](t, first.get(t, userA, pass, path+"?limit=3")))
	if !slices.Equal(got, []string{"m0", "m1", "m2"}) {
		t.Fatalf("first gateway returned %q", got)
	}
	first.stop()

	second := startGateway(t, tb)
	got = values(decode[[]message](t, second.get(t, userA, pass, path+"?limit=100")))
	if want := []string{"m3", "m4", "m5", "m6", "m7", "m8", "m9"}; !slices.Equal(got, want) {
		t.Fatalf("after the restart the group got %q, want %q", got, want)
	}
	if got := decode[[]message](t, second.get(t, userA, pass, path)); len(got) != 0 {
		t.Fatalf("messages came back again: %q", values(got))
	}
}

// Many producers and consumers at once, through two gateway replicas that
// share the consumer group (one owns it, the other forwards): every
// acknowledged message is consumed exactly once.
func TestConcurrentProducersAndConsumersLoseAndDuplicateNothing(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	pass := tb.passwords[userA]
	path := "/topic/" + topicA3
	rs := startReplicas(t, tb, 2)
	call := func(i int, method, path, body string) response {
		r, err := rs.callOn(rs.replicas[i%len(rs.replicas)], method, path, userA, pass, body)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
		}
		return r
	}

	const producers, requests, perRequest = 8, 20, 5
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for r := range requests {
				var msgs []string
				var ids []string
				for m := range perRequest {
					id := fmt.Sprintf("p%d-r%d-m%d", p, r, m)
					ids = append(ids, id)
					msgs = append(msgs, fmt.Sprintf(`{"Value":%q,"Key":%q}`, id, fmt.Sprint(m)))
				}
				resp := call(p, http.MethodPost, path, "["+strings.Join(msgs, ",")+"]")
				if resp.status != http.StatusOK {
					t.Errorf("produce: status %d: %s", resp.status, resp.body)
					return
				}
				mu.Lock()
				for _, id := range ids {
					acked[id] = true
				}
				mu.Unlock()
			}
		})
	}

	const consumers = 4
	consumed := map[string]int{}
	var producing sync.WaitGroup
	producing.Add(1)
	go func() { wg.Wait(); producing.Done() }()
	done := make(chan struct{})
	go func() { producing.Wait(); close(done) }()
	var cwg sync.WaitGroup
	for c := range consumers {
		cwg.Go(func() {
			deadline := time.Now().Add(2 * time.Minute)
			for time.Now().Before(deadline) {
				resp := call(c, http.MethodGet, path+"?limit=37&timeout=0.5", "")
				if resp.status != http.StatusOK {
					// A rebalance between the replicas can make a GET wait
					// out its assignment; that is a retry (after the
					// Retry-After), not a loss.
					if resp.status != http.StatusServiceUnavailable {
						t.Errorf("consume: status %d: %s", resp.status, resp.body)
						return
					}
					time.Sleep(time.Second)
					continue
				}
				msgs := decode[[]message](t, resp)
				mu.Lock()
				for _, m := range msgs {
					consumed[*m.Value]++
				}
				finished := len(consumed) >= producers*requests*perRequest
				mu.Unlock()
				select {
				case <-done:
					if finished && len(msgs) == 0 {
						return
					}
				default:
				}
			}
		})
	}
	cwg.Wait()

	if len(acked) != producers*requests*perRequest {
		t.Fatalf("%d messages acknowledged, want %d", len(acked), producers*requests*perRequest)
	}
	for id := range acked {
		if consumed[id] == 0 {
			t.Errorf("acknowledged message %s was never consumed", id)
		}
	}
	for id, n := range consumed {
		if n > 1 {
			t.Errorf("message %s was consumed %d times", id, n)
		}
		if !acked[id] {
			t.Errorf("consumed %s, which was never acknowledged", id)
		}
	}
}
