package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"qaas.dev/qaas/gateway/httpapi"
	"qaas.dev/qaas/internal/embeddedkafka"
)

// queueBroker is a broker whose share groups lock records for lock and
// archive them after limit deliveries. The in-process broker takes these
// from its own configs, not from the group configs the gateway sets, as a
// real Kafka does.
func queueBroker(lock time.Duration, limit int) embeddedkafka.BrokerOptions {
	return embeddedkafka.BrokerOptions{Configs: map[string]string{
		"group.share.record.lock.duration.ms": fmt.Sprint(lock.Milliseconds()),
		"group.share.delivery.count.limit":    fmt.Sprint(limit),
		"share.record.lock.sweep.interval.ms": "200",
	}}
}

// queued is a record as a GET with mode=queue returns it.
type queued struct {
	message
	DeliveryCount int
	Receipt       string
}

type ackResult struct {
	Result  string
	Message string
}

// queueGet is a GET with mode=queue on replica on.
func queueGet(t *testing.T, rs *replicaSet, on *replica, user, pass, topic, group, query string) []queued {
	t.Helper()
	r, err := rs.callOn(on, http.MethodGet, "/topic/"+topic+"?mode=queue&group="+group+query, user, pass, "")
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("GET mode=queue: %v %d %s", err, r.status, r.body)
	}
	recs := decode[[]queued](t, r)
	if len(recs) > 0 {
		until, err := time.Parse(time.RFC3339Nano, r.header.Get(httpapi.LockedUntilHeader))
		if err != nil || !until.After(time.Now()) {
			t.Fatalf("%s = %q, want a time to come", httpapi.LockedUntilHeader, r.header.Get(httpapi.LockedUntilHeader))
		}
	}
	return recs
}

// queueAck acknowledges recs with outcome on replica on.
func queueAck(t *testing.T, rs *replicaSet, on *replica, user, pass, topic, group, outcome string, recs []queued) []ackResult {
	t.Helper()
	type ack struct{ Receipt, Outcome string }
	body := make([]ack, len(recs))
	for i, r := range recs {
		body[i] = ack{r.Receipt, outcome}
	}
	raw, _ := json.Marshal(body)
	r, err := rs.callOn(on, http.MethodPost, "/topic/"+topic+"/ack?group="+group, user, pass, string(raw))
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("POST ack: %v %d %s", err, r.status, r.body)
	}
	res := decode[[]ackResult](t, r)
	if len(res) != len(recs) {
		t.Fatalf("ack answered %d results for %d receipts", len(res), len(recs))
	}
	return res
}

func queueValues(recs []queued) string {
	v := make([]string, len(recs))
	for i, r := range recs {
		v[i] = *r.Value
	}
	return strings.Join(v, ",")
}

// A queue group hands each record to one GET; accepted records never come
// again, released ones come again at once with their delivery count one
// higher, and records nobody acknowledged come again after their lock.
func TestQueueModeOnOneReplica(t *testing.T) {
	tb := startBroker(t, queueBroker(4*time.Second, 5))
	rs := startReplicas(t, tb, 1, "--queue-lock-duration=4s")
	gw := rs.replicas[0]
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, 6, 6)

	first := queueGet(t, rs, gw, userA, pass, topicA, "q", "&limit=2")
	if queueValues(first) != "0,1" || first[0].DeliveryCount != 1 {
		t.Fatalf("first GET: %+v", first)
	}
	second := queueGet(t, rs, gw, userA, pass, topicA, "q", "&limit=2")
	if queueValues(second) != "2,3" {
		t.Fatalf("second GET: %s", queueValues(second))
	}
	for _, res := range queueAck(t, rs, gw, userA, pass, topicA, "q", "accept", first) {
		if res.Result != "acknowledged" {
			t.Fatalf("accept: %+v", res)
		}
	}
	queueAck(t, rs, gw, userA, pass, topicA, "q", "release", second)
	again := queueGet(t, rs, gw, userA, pass, topicA, "q", "&limit=2")
	if queueValues(again) != "2,3" || again[0].DeliveryCount != 2 {
		t.Fatalf("after release: %s %+v", queueValues(again), again)
	}
	// Not acknowledged: back after the lock.
	start := time.Now()
	var back []queued
	for time.Since(start) < 15*time.Second && len(back) == 0 {
		back = queueGet(t, rs, gw, userA, pass, topicA, "q", "&limit=10&timeout=1")
		if queueValues(back) == "4,5" {
			queueAck(t, rs, gw, userA, pass, topicA, "q", "accept", back)
			back = nil
		}
	}
	if queueValues(back) != "2,3" || back[0].DeliveryCount != 3 {
		t.Fatalf("after the lock ran out: %s %+v", queueValues(back), back)
	}
	fmt.Println("came back after", time.Since(start))
	// An expired receipt says so.
	for _, res := range queueAck(t, rs, gw, userA, pass, topicA, "q", "accept", again) {
		if res.Result != "expired" {
			t.Fatalf("ack of an expired receipt: %+v", res)
		}
	}
	queueAck(t, rs, gw, userA, pass, topicA, "q", "accept", back)
	if rest := queueGet(t, rs, gw, userA, pass, topicA, "q", "&limit=10&timeout=1"); len(rest) != 0 {
		t.Fatalf("after every record was accepted: %s", queueValues(rest))
	}
}
