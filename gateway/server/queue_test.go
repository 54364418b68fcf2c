package server_test

import (
	"encoding/json"
	"fmt"
	"github.com/IBM/sarama"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
// higher, and records nobody acknowledged come again after their lock. A
// receipt of a batch whose lock ran out settles nothing, even once its
// member hands the same records out again.
func TestQueueModeOnOneReplica(t *testing.T) {
	tb := startBroker(t, queueBroker(5*time.Second, 5))
	rs := startReplicas(t, tb, 1, "--queue-lock-duration=5s")
	gw := rs.replicas[0]
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, 6, 6)
	expect := func(what string, res []ackResult, want string) {
		t.Helper()
		for _, r := range res {
			if r.Result != want {
				t.Fatalf("%s: %+v, want %s", what, r, want)
			}
		}
	}

	first := queueGet(t, rs, gw, userA, pass, topicA, "q", "&limit=2")
	if queueValues(first) != "0,1" || first[0].DeliveryCount != 1 {
		t.Fatalf("first GET: %s %+v", queueValues(first), first)
	}
	expect("accept", queueAck(t, rs, gw, userA, pass, topicA, "q", "accept", first), "acknowledged")
	second := queueGet(t, rs, gw, userA, pass, topicA, "q", "&limit=2")
	if queueValues(second) != "2,3" {
		t.Fatalf("second GET: %s", queueValues(second))
	}
	expect("release", queueAck(t, rs, gw, userA, pass, topicA, "q", "release", second), "acknowledged")
	again := queueGet(t, rs, gw, userA, pass, topicA, "q", "&limit=2")
	if queueValues(again) != "2,3" || again[0].DeliveryCount != second[0].DeliveryCount+1 {
		t.Fatalf("after a release: %s %+v, want 2,3 delivered once more", queueValues(again), again)
	}

	// Not acknowledged: back after the lock, to the next GETs, which use
	// the same member once it is free again.
	start := time.Now()
	var back []queued
	for time.Since(start) < 20*time.Second && len(back) == 0 {
		back = queueGet(t, rs, gw, userA, pass, topicA, "q", "&limit=2&timeout=1")
		if queueValues(back) == "4,5" {
			expect("accept", queueAck(t, rs, gw, userA, pass, topicA, "q", "accept", back), "acknowledged")
			back = nil
		}
	}
	if queueValues(back) != "2,3" || back[0].DeliveryCount != again[0].DeliveryCount+1 {
		t.Fatalf("after the lock ran out: %s %+v", queueValues(back), back)
	}
	// The receipts of the batch whose lock ran out settle nothing, though
	// the same records are held again.
	expect("ack of an expired receipt", queueAck(t, rs, gw, userA, pass, topicA, "q", "reject", again), "expired")
	expect("accept", queueAck(t, rs, gw, userA, pass, topicA, "q", "accept", back), "acknowledged")
	if rest := queueGet(t, rs, gw, userA, pass, topicA, "q", "&limit=10&timeout=1"); len(rest) != 0 {
		t.Fatalf("after every record was accepted: %s", queueValues(rest))
	}
}

// Eight consumers share one single-partition queue through three replicas,
// each GET on the next replica and each acknowledgement on another: every
// record is accepted exactly once; a batch taken by a consumer that dies
// before acknowledging, or released, goes to others after its lock or at
// once; a rejected record, or one released past the delivery limit, is
// never delivered again.
func TestQueueModeEightConsumersThreeReplicas(t *testing.T) {
	const (
		total = 20000
		limit = 4 // deliveries before Kafka archives a record
	)
	tb := startBroker(t, queueBroker(5*time.Second, limit))
	rs := startReplicas(t, tb, 3, "--queue-lock-duration=5s", fmt.Sprintf("--queue-delivery-limit=%d", limit))
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, total, 1000)
	// Records that every consumer releases (a poison message) and that
	// every consumer rejects.
	poison := func(v int) bool { return v%1000 == 7 }
	rejected := func(v int) bool { return v%1000 == 13 }
	wantAccepted, wantRejected := total-2*total/1000, total/1000

	var (
		mu         sync.Mutex
		deliveries = map[int]int{}
		final      = map[int]string{} // acknowledged accept or reject
		afterFinal []string
		maxCount   = map[int]int{}
		counts     = map[string]int{}
		accepted   int
		rejects    int
	)
	settled := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return accepted == wantAccepted && rejects == wantRejected
	}
	deliver := func(recs []queued) []int {
		mu.Lock()
		defer mu.Unlock()
		vs := make([]int, len(recs))
		for i, r := range recs {
			v, _ := strconv.Atoi(*r.Value)
			vs[i] = v
			if f, ok := final[v]; ok {
				afterFinal = append(afterFinal, fmt.Sprintf("%d (%s) delivered again, delivery %d", v, f, r.DeliveryCount))
			}
			deliveries[v]++
			maxCount[v] = max(maxCount[v], r.DeliveryCount)
		}
		counts["delivered"] += len(recs)
		return vs
	}
	replicas := rs.replicas
	worker := func(w int) error {
		for n := 0; !settled(); n++ {
			on, ackOn := replicas[(w+n)%3], replicas[(w+n+1)%3]
			r, err := rs.callOn(on, http.MethodGet, "/topic/"+topicA+"?mode=queue&group=workers&limit=100&timeout=1", userA, pass, "")
			if err != nil || r.status != http.StatusOK {
				return fmt.Errorf("GET: %v %d %s", err, r.status, r.body)
			}
			var recs []queued
			if err := json.Unmarshal(r.body, &recs); err != nil {
				return err
			}
			vs := deliver(recs)
			if len(recs) == 0 {
				continue
			}
			fresh := true
			for _, rec := range recs {
				fresh = fresh && rec.DeliveryCount == 1
			}
			outcomes := make([]string, len(recs))
			switch {
			case w == 0 && fresh && n%10 == 3:
				// This consumer dies with the batch: nobody acknowledges it.
				mu.Lock()
				counts["abandoned"] += len(recs)
				mu.Unlock()
				continue
			case w == 1 && fresh && n%7 == 2:
				for i := range outcomes {
					outcomes[i] = "release"
				}
			default:
				for i, v := range vs {
					switch {
					case poison(v):
						outcomes[i] = "release"
					case rejected(v):
						outcomes[i] = "reject"
					default:
						outcomes[i] = "accept"
					}
				}
			}
			type ack struct{ Receipt, Outcome string }
			body := make([]ack, len(recs))
			for i, rec := range recs {
				body[i] = ack{rec.Receipt, outcomes[i]}
			}
			raw, _ := json.Marshal(body)
			ar, err := rs.callOn(ackOn, http.MethodPost, "/topic/"+topicA+"/ack?group=workers", userA, pass, string(raw))
			if err != nil || ar.status != http.StatusOK {
				return fmt.Errorf("ack: %v %d %s", err, ar.status, ar.body)
			}
			var results []ackResult
			if err := json.Unmarshal(ar.body, &results); err != nil || len(results) != len(recs) {
				return fmt.Errorf("ack answered %s", ar.body)
			}
			mu.Lock()
			for i, res := range results {
				if res.Result != "acknowledged" {
					counts["ack "+res.Result]++
					continue
				}
				counts[outcomes[i]]++
				switch outcomes[i] {
				case "accept":
					if final[vs[i]] != "" {
						afterFinal = append(afterFinal, fmt.Sprintf("%d accepted twice", vs[i]))
					}
					final[vs[i]] = "accepted"
					accepted++
				case "reject":
					final[vs[i]] = "rejected"
					rejects++
				}
			}
			mu.Unlock()
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	start := time.Now()
	for w := range 8 {
		wg.Go(func() {
			if err := worker(w); err != nil {
				errs <- fmt.Errorf("consumer %d: %w", w, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	elapsed := time.Since(start)

	// The poison records go round until Kafka archives them; then the
	// queue holds nothing.
	for quiet := 0; quiet < 3; {
		recs := queueGet(t, rs, replicas[quiet%3], userA, pass, topicA, "workers", "&limit=100&timeout=2")
		vs := deliver(recs)
		for _, v := range vs {
			if !poison(v) {
				t.Errorf("after every record was settled, %d came again", v)
			}
		}
		if len(recs) == 0 {
			quiet++
			continue
		}
		quiet = 0
		queueAck(t, rs, replicas[1], userA, pass, topicA, "workers", "release", recs)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, f := range afterFinal {
		t.Error(f)
	}
	archived := 0
	for v := range total {
		switch {
		case poison(v):
			if final[v] != "" || maxCount[v] > limit || deliveries[v] == 0 {
				t.Errorf("poison record %d: %q after %d deliveries (delivery count up to %d, limit %d)", v, final[v], deliveries[v], maxCount[v], limit)
			}
			archived++
		case rejected(v):
			if final[v] != "rejected" {
				t.Errorf("record %d: %q, want rejected", v, final[v])
			}
		default:
			if final[v] != "accepted" {
				t.Errorf("record %d: %q after %d deliveries, want accepted", v, final[v], deliveries[v])
			}
		}
	}
	// The replicas' metrics count what the clients were told.
	var metricAccepted, metricRejected float64
	for _, r := range replicas {
		page, err := rs.callOn(r, http.MethodGet, "/metrics", "", "", "")
		if err != nil {
			t.Fatal(err)
		}
		metricAccepted += metricIn(t, page.body, `qaas_gateway_queue_acknowledgements_total{result="accept"}`)
		metricRejected += metricIn(t, page.body, `qaas_gateway_queue_acknowledgements_total{result="reject"}`)
	}
	if int(metricAccepted) != accepted || int(metricRejected) != rejects {
		t.Errorf("metrics count %v accepted and %v rejected, the clients %d and %d", metricAccepted, metricRejected, accepted, rejects)
	}
	if counts["abandoned"] == 0 || counts["release"] == 0 {
		t.Errorf("the run abandoned %d and released %d records: it did not show redelivery", counts["abandoned"], counts["release"])
	}
	t.Logf("%d records, 8 consumers, 3 replicas, %s: %d deliveries, %d accepted, %d rejected, %d released, %d abandoned by a dead consumer, %d archived past %d deliveries; acknowledgements refused: %d expired, %d failed",
		total, elapsed.Round(time.Millisecond), counts["delivered"], accepted, rejects, counts["release"], counts["abandoned"], archived, limit, counts["ack expired"], counts["ack failed"])
}

// A replica that dies holding a batch loses nothing: Kafka gives its
// records back when its connections close, a survivor hands them out
// again, and acknowledging the dead replica's receipts on a survivor
// says they expired.
func TestQueueModeAReplicaKilledHoldingABatch(t *testing.T) {
	tb := startBroker(t, queueBroker(30*time.Second, 5))
	rs := startReplicas(t, tb, 2)
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, 10, 10)
	doomed, survivor := rs.replicas[0], rs.replicas[1]
	held := queueGet(t, rs, doomed, userA, pass, topicA, "q", "&limit=10")
	if queueValues(held) != "0,1,2,3,4,5,6,7,8,9" {
		t.Fatalf("GET: %s", queueValues(held))
	}
	doomed.stop(syscall.SIGKILL)
	rs.remove(doomed)
	// Well within the 30 s lock: the broker saw the connections close.
	var again []queued
	for deadline := time.Now().Add(15 * time.Second); len(again) < 10 && time.Now().Before(deadline); {
		again = append(again, queueGet(t, rs, survivor, userA, pass, topicA, "q", "&limit=10&timeout=1")...)
	}
	if queueValues(again) != "0,1,2,3,4,5,6,7,8,9" || again[0].DeliveryCount != 2 {
		t.Fatalf("after the holder died: %s %+v", queueValues(again), again)
	}
	for _, res := range queueAck(t, rs, survivor, userA, pass, topicA, "q", "accept", held) {
		if res.Result != "expired" {
			t.Fatalf("ack of a dead replica's receipt: %+v, want expired", res)
		}
	}
	for _, res := range queueAck(t, rs, survivor, userA, pass, topicA, "q", "accept", again) {
		if res.Result != "acknowledged" {
			t.Fatalf("ack: %+v", res)
		}
	}
	if rest := queueGet(t, rs, survivor, userA, pass, topicA, "q", "&timeout=1"); len(rest) != 0 {
		t.Fatalf("after every record was accepted: %s", queueValues(rest))
	}
}

// A group keeps the mode of its first use; queue mode gives the group the
// QueueApp's settings in Kafka; and bad acknowledgements are refused whole,
// acknowledging nothing.
func TestQueueModeRefusals(t *testing.T) {
	tb := startBroker(t, queueBroker(30*time.Second, 5))
	rs := startReplicas(t, tb, 1, "--queue-lock-duration=45s", "--queue-delivery-limit=7")
	gw := rs.replicas[0]
	pass, passB := tb.passwords[userA], tb.passwords[userB]
	rs.postNumbered(t, userA, pass, topicA, 4, 4)

	// Classic first, then queue; queue first, then classic.
	if r, err := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+"?group=c&limit=1", userA, pass, ""); err != nil || r.status != http.StatusOK {
		t.Fatalf("classic GET: %v %d %s", err, r.status, r.body)
	}
	if r, _ := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+"?group=c&mode=queue", userA, pass, ""); r.status != http.StatusConflict || !strings.Contains(string(r.body), "classic consumer group") {
		t.Fatalf("queue GET of a classic group: %d %s, want 409", r.status, r.body)
	}
	recs := queueGet(t, rs, gw, userA, pass, topicA, "q", "&limit=2")
	if r, _ := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+"?group=q", userA, pass, ""); r.status != http.StatusConflict || !strings.Contains(string(r.body), "queue mode") {
		t.Fatalf("classic GET of a queue group: %d %s, want 409", r.status, r.body)
	}

	// The group's settings are in Kafka.
	admin, err := tb.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// 32 is Kafka's GROUP config resource, which sarama has no name for.
	described, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.ConfigResourceType(32), Name: userA + ".q"}}, sarama.DescribeConfigsOptions{})
	if err != nil || len(described) != 1 || described[0].ErrorCode != 0 {
		t.Fatalf("describing the group's configs: %v %+v", err, described)
	}
	got := map[string]string{}
	for _, e := range described[0].Configs {
		got[e.Name] = e.Value
	}
	for name, want := range map[string]string{"share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": "45000", "share.delivery.count.limit": "7"} {
		if got[name] != want {
			t.Errorf("group config %s = %q, want %q (all: %v)", name, got[name], want, got)
		}
	}

	for _, bad := range []struct{ query, want string }{
		{"&mode=fifo", "mode"},
		{"&mode=queue&ack=manual", "ack=manual"},
		{"&mode=queue&format=raw", "format=raw"},
	} {
		if r, _ := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+"?group=q"+bad.query, userA, pass, ""); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), bad.want) {
			t.Errorf("GET %s: %d %s, want 400 naming %s", bad.query, r.status, r.body, bad.want)
		}
	}
	if r, _ := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+"?mode=queue&partition=0&offset=earliest", userA, pass, ""); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "mode=queue") {
		t.Errorf("GET mode=queue with a position: %d %s, want 400 naming mode=queue", r.status, r.body)
	}
	if r, _ := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+"?group=q&mode=queue", userB, passB, ""); r.status != http.StatusForbidden {
		t.Errorf("another tenant's queue GET: %d %s, want 403", r.status, r.body)
	}

	good := fmt.Sprintf(`{"Receipt":%q}`, recs[0].Receipt)
	forged := []byte(recs[1].Receipt)
	forged[10] ^= 1
	for _, bad := range []struct{ path, user, pass, body string }{
		{"/topic/" + topicA + "/ack?group=q", userA, pass, ``},
		{"/topic/" + topicA + "/ack?group=q", userA, pass, `[]`},
		{"/topic/" + topicA + "/ack?group=q", userA, pass, `{"Receipt":"x"}`},
		{"/topic/" + topicA + "/ack?group=q", userA, pass, `[` + good + `,{"Receipt":"made-up"}]`},
		{"/topic/" + topicA + "/ack?group=q", userA, pass, `[` + good + `] [` + good + `]`},
		{"/topic/" + topicA + "/ack?group=q", userA, pass, `[` + good + `,{"Receipt":"` + string(forged) + `"}]`},
		{"/topic/" + topicA + "/ack?group=q", userA, pass, fmt.Sprintf(`[{"Receipt":%q,"Outcome":"done"}]`, recs[0].Receipt)},
		{"/topic/" + topicA + "/ack?group=q", userA, pass, fmt.Sprintf(`[{"Receipt":%q,"Outcom":"accept"}]`, recs[0].Receipt)},
		{"/topic/" + topicA + "/ack?group=other", userA, pass, `[` + good + `]`},
		{"/topic/" + topicA3 + "/ack?group=q", userA, pass, `[` + good + `]`},
	} {
		if r, _ := rs.callOn(gw, http.MethodPost, bad.path, bad.user, bad.pass, bad.body); r.status != http.StatusBadRequest {
			t.Errorf("POST %s %s: %d %s, want 400", bad.path, bad.body, r.status, r.body)
		}
	}
	if r, _ := rs.callOn(gw, http.MethodPost, "/topic/"+topicA+"/ack?group=q", "", "", `[`+good+`]`); r.status != http.StatusUnauthorized {
		t.Errorf("ack without credentials: %d, want 401", r.status)
	}
	// A receipt is good for the user it was handed to only: another user
	// of the tenant, with a queue of the same name holding the same
	// record, and another tenant, are refused.
	passR := tb.passwords[readerA]
	if own := queueGet(t, rs, gw, readerA, passR, topicA, "q", "&limit=2"); queueValues(own) != "0,1" {
		t.Fatalf("the reader's own queue q: %s", queueValues(own))
	}
	for _, u := range []struct{ name, pass string }{{readerA, passR}, {userB, passB}} {
		if r, _ := rs.callOn(gw, http.MethodPost, "/topic/"+topicA+"/ack?group=q", u.name, u.pass, `[`+good+`]`); r.status != http.StatusBadRequest {
			t.Errorf("%s acknowledging %s's receipt: %d %s, want 400", u.name, userA, r.status, r.body)
		}
	}
	// None of that acknowledged anything: both records are still held
	// for this client, and its own acknowledgement takes.
	for _, res := range queueAck(t, rs, gw, userA, pass, topicA, "q", "accept", recs) {
		if res.Result != "acknowledged" {
			t.Fatalf("ack after the refusals: %+v", res)
		}
	}
	if rest := queueGet(t, rs, gw, userA, pass, topicA, "q", "&limit=10&timeout=1"); queueValues(rest) != "2,3" {
		t.Fatalf("after accepting 0 and 1: %s", queueValues(rest))
	}
}

// README's queue-mode lines work as pasted: the GET prints records with
// receipts, the ack of one prints its result, and that record never comes
// again.
func TestREADMEQueueCurls(t *testing.T) {
	lines := readmeCurls(t, "### Queue mode: Kafka share groups", 2)
	tb := startBroker(t, queueBroker(30*time.Second, 5))
	rs := startReplicas(t, tb, 1)
	pass := tb.passwords[userA]
	run := curlRunner(t, rs, userA, pass, topicA)
	rs.postNumbered(t, userA, pass, topicA, 3, 3)
	out := run(lines[0])
	var recs []queued
	if err := json.Unmarshal([]byte(out), &recs); err != nil || queueValues(recs) != "0,1" || recs[0].Receipt == "" {
		t.Fatalf("README's GET printed %s", out)
	}
	if !strings.Contains(lines[1], "<Receipt>") {
		t.Fatalf("README's ack line has no <Receipt> to replace: %s", lines[1])
	}
	if out := run(strings.Replace(lines[1], "<Receipt>", recs[0].Receipt, 1)); strings.TrimSpace(out) != `[{"Result":"acknowledged"}]` {
		t.Fatalf("README's ack printed %s", out)
	}
	queueAck(t, rs, rs.replicas[0], userA, pass, topicA, "jobs", "release", recs[1:])
	if rest := queueGet(t, rs, rs.replicas[0], userA, pass, topicA, "jobs", "&limit=10&timeout=1"); queueValues(rest) != "1,2" {
		t.Fatalf("after README's ack of 0 and a release of 1: %s", queueValues(rest))
	}
}

// A replica shutting down hands out nothing more, and waits for what it
// handed out: a client acknowledging through another replica meanwhile
// settles it, and nothing comes again.
func TestQueueModeAReplicaShuttingDownWaitsForItsBatches(t *testing.T) {
	tb := startBroker(t, queueBroker(30*time.Second, 5))
	rs := startReplicas(t, tb, 2)
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, 4, 4)
	leaving, staying := rs.replicas[0], rs.replicas[1]
	held := queueGet(t, rs, leaving, userA, pass, topicA, "q", "&limit=4")
	if queueValues(held) != "0,1,2,3" {
		t.Fatalf("GET: %s", queueValues(held))
	}
	rs.remove(leaving)
	_ = leaving.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(500 * time.Millisecond)
	select {
	case <-leaving.done:
		t.Fatal("the replica exited while a batch it handed out awaited its acknowledgement")
	default:
	}
	for _, res := range queueAck(t, rs, staying, userA, pass, topicA, "q", "accept", held) {
		if res.Result != "acknowledged" {
			t.Fatalf("ack through another replica while the holder shuts down: %+v", res)
		}
	}
	select {
	case <-leaving.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the replica did not exit once its batch was settled")
	}
	if rest := queueGet(t, rs, staying, userA, pass, topicA, "q", "&limit=10&timeout=1"); len(rest) != 0 {
		t.Fatalf("accepted records came again: %s", queueValues(rest))
	}
}
