package server_test

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"qaas.dev/qaas/internal/embeddedkafka"
	"qaas.dev/qaas/internal/gomemory"
)

// podMemoryLimit is the memory limit the operator gives a gateway by
// default, goMemLimit the GOMEMLIMIT it sets for it, and podEnv all of the
// Go runtime's environment it sets.
const (
	podMemoryLimit = gomemory.DefaultContainerLimit
	goMemLimit     = podMemoryLimit / 100 * gomemory.LimitPercent
)

var podEnv = gomemory.Environ(podMemoryLimit)

// One user names 100 consumer groups, on 900 KB messages, first one after
// the other and then 20 at once, against a gateway with the operator's
// default memory limit. Every GET is answered (a group that does not fit
// closes an idle one, or gets 429 when none is idle), the gateway's peak
// RSS stays under the pod's limit, and another user is served throughout.
// The peak RSS is reported: this is the check of the memory budget.
func TestOneUserWithManyGroupsStaysWithinTheMemoryBudget(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicasWithEnv(t, tb, 1, podEnv)
	gw := rs.replicas[0]
	passA, passB := tb.passwords[userA], tb.passwords[userB]
	value := strings.Repeat("m", 900_000)
	for i := range 5 {
		body := fmt.Sprintf(`[{"Key":"%d","Value":"%s"}]`, i, value)
		if r, err := rs.call(http.MethodPost, "/topic/"+topicA, userA, passA, body); err != nil || r.status != http.StatusOK {
			t.Fatalf("posting: %v %d %.200s", err, r.status, r.body)
		}
	}

	// Tenant B posts and reads back all along.
	stopB := make(chan struct{})
	var servedB, failedB int
	var wgB sync.WaitGroup
	wgB.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopB:
				return
			case <-time.After(100 * time.Millisecond):
			}
			post, err1 := rs.call(http.MethodPost, "/topic/"+topicB, userB, passB, fmt.Sprintf(`[{"Value":"b%d"}]`, i))
			get, err2 := rs.call(http.MethodGet, "/topic/"+topicB+"?limit=10", userB, passB, "")
			if err1 != nil || err2 != nil || post.status != http.StatusOK || get.status != http.StatusOK {
				t.Errorf("tenant B: POST %v %d %s, GET %v %d %s", err1, post.status, post.body, err2, get.status, get.body)
				failedB++
				continue
			}
			servedB++
		}
	})

	// 100 groups one after the other: each new one makes room by closing
	// an idle one.
	for g := range 100 {
		r, err := rs.call(http.MethodGet, fmt.Sprintf("/topic/%s?group=g%d&limit=1", topicA, g), userA, passA, "")
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("group %d: %v %d %.300s", g, err, r.status, r.body)
		}
		if msgs := decode[[]message](t, r); len(msgs) != 1 || len(*msgs[0].Value) != len(value) {
			t.Fatalf("group %d: %d messages, want one of 900 KB", g, len(msgs))
		}
	}
	page, err := rs.call(http.MethodGet, "/metrics", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	reserved, limit := metricIn(t, page.body, "qaas_gateway_consume_memory_bytes"), metricIn(t, page.body, "qaas_gateway_consume_memory_limit_bytes")
	evictions := metricIn(t, page.body, "qaas_gateway_consumer_group_evictions_total")
	if reserved > limit || limit > goMemLimit/2 || evictions < 90 {
		t.Errorf("after 100 groups: %.0f bytes reserved of %.0f (at most %d), %.0f idle groups closed (want >= 90)", reserved, limit, goMemLimit/2, evictions)
	}

	// 20 groups at once, each a long poll on an empty topic, so none is
	// idle: those that fit are served, the others get 429.
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Go(func() {
			r, err := rs.call(http.MethodGet, fmt.Sprintf("/topic/%s?group=poll%d&timeout=3", topicA3, g), userA, passA, "")
			if err != nil {
				t.Error(err)
				return
			}
			switch {
			case r.status == http.StatusOK:
			case r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") == "1" &&
				strings.Contains(string(r.body), `"message":"user team-a.app.admin's consumer groups in this gateway use all of its memory budget (28.8 MiB) and none is idle; retry when a request of another group is done"`):
			default:
				t.Errorf("group poll%d: %d %s", g, r.status, r.body)
			}
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	close(stopB)
	wgB.Wait()
	if statuses[http.StatusOK] == 0 || statuses[http.StatusTooManyRequests] == 0 {
		t.Errorf("20 busy groups at once: %v, want some served and the rest throttled", statuses)
	}

	peak := peakRSS(t, gw.cmd.Process.Pid)
	t.Logf("peak RSS %.1f MiB (pod limit %d MiB, GOMEMLIMIT %.1f MiB); consume budget %.1f MiB; %.0f idle groups closed; 20 busy groups: %v; tenant B served %d times",
		float64(peak)/(1<<20), podMemoryLimit>>20, float64(goMemLimit)/(1<<20), limit/(1<<20), evictions, statuses, servedB)
	if peak >= podMemoryLimit {
		t.Errorf("peak RSS %d bytes, over the pod's limit of %d", peak, podMemoryLimit)
	}
	if servedB == 0 || failedB > 0 {
		t.Errorf("tenant B: %d served, %d failed", servedB, failedB)
	}
}

// peakRSS is a process's largest resident set so far (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// Clients that join a new group together, as a pool of workers starts,
// get one member: the first request opens it and the others wait for it.
// Were each to reserve a member's worth of the budget while it is opened,
// which lasts long when room must first be made by closing an idle member
// (it leaves its group), they would close every idle member and still be
// throttled with 429, though one member serves them all.
func TestClientsJoiningOneGroupAtOnceOpenOneMember(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	// The operator's default memory limit.
	rs := startReplicasWithEnv(t, tb, 1, podEnv)
	pass := tb.passwords[userA]
	metrics := func() (reserved, limit, evictions float64) {
		page, err := rs.call(http.MethodGet, "/metrics", "", "", "")
		if err != nil {
			t.Fatal(err)
		}
		return metricIn(t, page.body, "qaas_gateway_consume_memory_bytes"), metricIn(t, page.body, "qaas_gateway_consume_memory_limit_bytes"),
			metricIn(t, page.body, "qaas_gateway_consumer_group_evictions_total")
	}
	open := func(group string) {
		if r, err := rs.call(http.MethodGet, "/topic/"+topicA3+"?group="+group, userA, pass, ""); err != nil || r.status != http.StatusOK {
			t.Fatalf("group %s: %v %d %s", group, err, r.status, r.body)
		}
	}
	// Idle groups fill the user's budget (a quarter of the gateway's) as
	// far as whole members go: one more member does not fit.
	open("earlier0")
	one, limit, _ := metrics()
	fit := int(limit / 4 / one)
	for g := 1; g < fit; g++ {
		open(fmt.Sprintf("earlier%d", g))
	}
	full, _, _ := metrics()
	if fit < 1 || full != float64(fit)*one {
		t.Fatalf("%d members of %.0f bytes fit in the user's budget, %.0f bytes reserved", fit, one, full)
	}

	// Every worker opens its connection first, so that their GETs arrive
	// together rather than one TLS handshake apart.
	var wg, connected sync.WaitGroup
	start := make(chan struct{})
	for w := range 8 {
		connected.Add(1)
		wg.Go(func() {
			_, err := rs.call(http.MethodGet, "/healthz", "", "", "")
			connected.Done()
			if err != nil {
				t.Error(err)
				return
			}
			<-start
			r, err := rs.call(http.MethodGet, "/topic/"+topicA3+"?group=together&timeout=1", userA, pass, "")
			if err != nil || r.status != http.StatusOK {
				t.Errorf("worker %d: %v %d %s", w, err, r.status, r.body)
			}
		})
	}
	connected.Wait()
	close(start)
	wg.Wait()
	// The new member took the place of one idle member, and nothing more.
	if reserved, _, evictions := metrics(); reserved != full || evictions != 1 {
		t.Errorf("after 8 clients joined one group: %.0f bytes reserved and %.0f idle members closed, want %.0f (%d members) and 1", reserved, evictions, full, fit)
	}
}
