package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"qaas.dev/qaas/gateway/httpapi"
	"qaas.dev/qaas/internal/embeddedkafka"
)

// readAt reads one partition of topic from offset, outside any group, on
// replica on; it fails the test unless the answer is 200, and returns the
// messages and the Kafka-Next-Offset header.
func readAt(t *testing.T, rs *replicaSet, on *replica, user, pass, topic string, partition int32, offset, extra string) ([]message, int64) {
	t.Helper()
	path := fmt.Sprintf("/topic/%s?partition=%d&offset=%s%s", topic, partition, url.QueryEscape(offset), extra)
	r, err := rs.callOn(on, http.MethodGet, path, user, pass, "")
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("GET %s: %v %d %s", path, err, r.status, r.body)
	}
	next, err := strconv.ParseInt(r.header.Get(httpapi.NextOffsetHeader), 10, 64)
	if err != nil {
		t.Fatalf("GET %s: %s is %q", path, httpapi.NextOffsetHeader, r.header.Get(httpapi.NextOffsetHeader))
	}
	return decode[[]message](t, r), next
}

// postValues posts values to topic, one batch, in order.
func postValues(t *testing.T, rs *replicaSet, user, pass, topic string, values ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("[")
	for i, v := range values {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"Value":%q}`, v)
	}
	b.WriteString("]")
	if r, err := rs.call(http.MethodPost, "/topic/"+topic, user, pass, b.String()); err != nil || r.status != http.StatusOK {
		t.Fatalf("POST %v: %v %d %s", values, err, r.status, r.body)
	}
}

// instantBetween returns a time after every message posted so far and
// before every message posted after it returns, as Kafka stamps them
// (milliseconds).
func instantBetween() time.Time {
	time.Sleep(5 * time.Millisecond)
	at := time.Now().UTC().Truncate(time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	return at
}

// GET ?partition=&offset= reads a partition from a position, outside any
// group: from the oldest message, from a time, from an offset, from the
// end with a long poll; Kafka-Next-Offset pages through a partition, each
// message once; nothing is committed; bad input is 400, a partition the
// topic lacks 404, an offset outside the partition 416, another tenant 403.
func TestReadFromAPosition(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 1)
	gw := rs.replicas[0]
	pass := tb.passwords[userA]

	postValues(t, rs, userA, pass, topicA, "a0", "a1", "a2", "a3", "a4")
	at := instantBetween()
	postValues(t, rs, userA, pass, topicA, "b0", "b1", "b2")

	msgs, next := readAt(t, rs, gw, userA, pass, topicA, 0, "earliest", "&limit=100")
	if got := strings.Join(values(msgs), ","); got != "a0,a1,a2,a3,a4,b0,b1,b2" || next != 8 {
		t.Fatalf("from earliest: %s, next %d; want a0..b2, next 8", got, next)
	}
	msgs, next = readAt(t, rs, gw, userA, pass, topicA, 0, at.Format(time.RFC3339Nano), "&limit=100")
	if got := strings.Join(values(msgs), ","); got != "b0,b1,b2" || next != 8 || msgs[0].Offset != 5 {
		t.Fatalf("from %s: %s, next %d; want b0,b1,b2 from offset 5, next 8", at.Format(time.RFC3339Nano), got, next)
	}
	msgs, next = readAt(t, rs, gw, userA, pass, topicA, 0, "3", "&limit=2")
	if got := strings.Join(values(msgs), ","); got != "a3,a4" || next != 5 {
		t.Fatalf("from offset 3, limit 2: %s, next %d; want a3,a4, next 5", got, next)
	}
	// The end, and a time after the last message, read nothing yet.
	for _, offset := range []string{"latest", "8", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)} {
		if msgs, next = readAt(t, rs, gw, userA, pass, topicA, 0, offset, ""); len(msgs) != 0 || next != 8 {
			t.Fatalf("from %s: %v, next %d; want nothing, next 8", offset, values(msgs), next)
		}
	}
	// A long poll from the end gets the next message.
	type result struct {
		msgs []message
		next int64
	}
	polled := make(chan result, 1)
	go func() {
		m, n := readAt(t, rs, gw, userA, pass, topicA, 0, "8", "&timeout=20")
		polled <- result{m, n}
	}()
	time.Sleep(300 * time.Millisecond)
	postValues(t, rs, userA, pass, topicA, "c0")
	if res := <-polled; strings.Join(values(res.msgs), ",") != "c0" || res.next != 9 {
		t.Fatalf("long poll from the end: %v, next %d; want c0, next 9", values(res.msgs), res.next)
	}
	// format=raw: one value as the body, and where to read on.
	r, err := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+"?partition=0&offset=1&format=raw", userA, pass, "")
	if err != nil || r.status != http.StatusOK || string(r.body) != "a1" || r.header.Get(httpapi.NextOffsetHeader) != "2" {
		t.Fatalf("raw from offset 1: %v %d %q next %q", err, r.status, r.body, r.header.Get(httpapi.NextOffsetHeader))
	}

	// Paging through each partition of a three-partition topic with
	// Kafka-Next-Offset reads every message exactly once, in offset order.
	rs.postNumbered(t, userA, pass, topicA3, 60, 20)
	seen := map[string]int{}
	for p := range int32(3) {
		offset, want := "earliest", int64(0)
		for {
			page, next := readAt(t, rs, gw, userA, pass, topicA3, p, offset, "&limit=7")
			if len(page) == 0 {
				break
			}
			for _, m := range page {
				if m.Partition != p || m.Offset != want {
					t.Fatalf("partition %d page from %s: message at %d/%d, want %d/%d", p, offset, m.Partition, m.Offset, p, want)
				}
				want++
				seen[*m.Value]++
			}
			if next != want {
				t.Fatalf("partition %d: next offset %d after a page ending at %d", p, next, want-1)
			}
			offset = strconv.FormatInt(next, 10)
		}
	}
	for i := range 60 {
		if n := seen[strconv.Itoa(i)]; n != 1 {
			t.Fatalf("paging read message %d %d times, want once (all: %v)", i, n, seen)
		}
	}

	// No group was involved: the default group has still everything to
	// read, and gets it.
	if r, err := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+"/lag", userA, pass, ""); err != nil || r.status != http.StatusOK {
		t.Fatalf("lag: %v %d %s", err, r.status, r.body)
	} else if a := decode[lagAnswer](t, r); a.Lag != 9 || a.Partitions[0].Committed != -1 {
		t.Fatalf("after reads from positions the default group's lag is %+v, want 9 with nothing committed", a)
	}

	for _, c := range []struct {
		query  string
		status int
		says   string
	}{
		{"?partition=0&offset=0&group=g", http.StatusBadRequest, "outside any consumer group"},
		{"?partition=0&offset=0&ack=manual", http.StatusBadRequest, "outside any consumer group"},
		{"?offset=0", http.StatusBadRequest, "needs partition="},
		{"?partition=0", http.StatusBadRequest, "needs offset="},
		{"?partition=0&offset=soon", http.StatusBadRequest, "offset must be"},
		{"?partition=0&offset=-1", http.StatusBadRequest, "offset must be"},
		{"?partition=-1&offset=0", http.StatusBadRequest, "partition must be"},
		{"?partition=0&offset=0&limit=0", http.StatusBadRequest, "limit"},
		{"?partition=1&offset=0", http.StatusNotFound, "has no partition 1"},
		{"?partition=0&offset=10", http.StatusRequestedRangeNotSatisfiable, "holds offsets 0 to 9"},
	} {
		r, err := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+c.query, userA, pass, "")
		if err != nil || r.status != c.status || !strings.Contains(decode[apiError](t, r).Message, c.says) {
			t.Errorf("GET %s: %v %d %s; want %d saying %q", c.query, err, r.status, r.body, c.status, c.says)
		}
	}
	if r, err := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+"?partition=0&offset=earliest", userB, tb.passwords[userB], ""); err != nil || r.status != http.StatusForbidden {
		t.Fatalf("another tenant reading from a position: %v %d %s, want 403", err, r.status, r.body)
	}
}

// resetOffsets posts body to POST /topic/{topic}/offsets?group= on replica
// on.
func resetOffsets(t *testing.T, rs *replicaSet, on *replica, user, pass, topic, group, body string) response {
	t.Helper()
	r, err := rs.callOn(on, http.MethodPost, "/topic/"+topic+"/offsets?group="+group, user, pass, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// consumeAll reads group's messages of topic with GETs spread over the
// replicas until n arrived, failing on a duplicate or on more than n.
func consumeAll(t *testing.T, rs *replicaSet, user, pass, topic, group string, n int) []message {
	t.Helper()
	var got []message
	seen := map[string]bool{}
	deadline := time.Now().Add(60 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("group %s got %d of %d messages: %v", group, len(got), n, values(got))
		}
		r, err := rs.call(http.MethodGet, "/topic/"+topic+"?limit=100&timeout=1&group="+group, user, pass, "")
		if err != nil {
			t.Fatal(err)
		}
		if r.status == http.StatusServiceUnavailable {
			time.Sleep(time.Second)
			continue
		}
		if r.status != http.StatusOK {
			t.Fatalf("GET: %d %s", r.status, r.body)
		}
		for _, m := range decode[[]message](t, r) {
			key := fmt.Sprintf("%d/%d", m.Partition, m.Offset)
			if seen[key] {
				t.Fatalf("group %s got message %s (%s) twice", group, key, *m.Value)
			}
			seen[key] = true
			got = append(got, m)
		}
	}
	if len(got) > n {
		t.Fatalf("group %s got %d messages, want %d: %v", group, len(got), n, values(got))
	}
	return got
}

// waitLag waits until group's lag of topic is lag, and returns it.
func waitLag(t *testing.T, rs *replicaSet, user, pass, topic, group string, lag int64) lagAnswer {
	t.Helper()
	var a lagAnswer
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := rs.call(http.MethodGet, "/topic/"+topic+"/lag?group="+group, user, pass, "")
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("lag: %v %d %s", err, r.status, r.body)
		}
		if a = decode[lagAnswer](t, r); a.Lag == lag {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s's lag is %+v, want %d", group, a, lag)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// assertNoMore checks that group has nothing to read on any replica.
func assertNoMore(t *testing.T, rs *replicaSet, user, pass, topic, group string) {
	t.Helper()
	for _, on := range rs.replicas {
		r, err := rs.callOn(on, http.MethodGet, "/topic/"+topic+"?limit=100&timeout=0&group="+group, user, pass, "")
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("GET: %v %d %s", err, r.status, r.body)
		}
		if msgs := decode[[]message](t, r); len(msgs) != 0 {
			t.Fatalf("group %s got %v, want nothing", group, values(msgs))
		}
	}
}

func sortedValues(msgs []message) []string {
	v := values(msgs)
	slices.Sort(v)
	return v
}

// POST /topic/{topic}/offsets resets a group that three replicas serve (one
// owns it, the others forward to it): to earliest the group reads
// everything again, to explicit offsets it reads from there, to latest it
// skips, to a time it reads what came after; lag shows each reset; messages
// held for a commit are given back, not committed; bad input is refused
// with nothing changed; another tenant is refused.
func TestResetAGroupsOffsetsAcrossReplicas(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 3)
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA3, 30, 10)

	first := consumeAll(t, rs, userA, pass, topicA3, "g", 30)
	waitLag(t, rs, userA, pass, topicA3, "g", 0)
	// Every replica has a member of the group now.
	for _, on := range rs.replicas {
		if r, err := rs.callOn(on, http.MethodGet, "/topic/"+topicA3+"?timeout=0&group=g", userA, pass, ""); err != nil || r.status != http.StatusOK || string(r.body) != "[]\n" {
			t.Fatalf("GET after reading everything: %v %d %s", err, r.status, r.body)
		}
	}

	// To earliest: the answer is the lag after it, and the group reads
	// all 30 again, once.
	r := resetOffsets(t, rs, rs.replicas[1], userA, pass, topicA3, "g", `{"To":"earliest"}`)
	if r.status != http.StatusOK {
		t.Fatalf("reset to earliest: %d %s", r.status, r.body)
	}
	if a := decode[lagAnswer](t, r); a.Lag != 30 || a.Group != "g" || len(a.Partitions) != 3 || a.Partitions[0].Committed != 0 || a.Partitions[1].Committed != 0 || a.Partitions[2].Committed != 0 {
		t.Fatalf("reset to earliest answered %+v, want lag 30 with offset 0 committed everywhere", a)
	}
	again := consumeAll(t, rs, userA, pass, topicA3, "g", 30)
	if !slices.Equal(sortedValues(again), sortedValues(first)) {
		t.Fatalf("after a reset to earliest the group read %v, want %v", sortedValues(again), sortedValues(first))
	}
	waitLag(t, rs, userA, pass, topicA3, "g", 0)

	// To explicit offsets: only the partition named moves.
	var p1 []message
	for _, m := range first {
		if m.Partition == 1 {
			p1 = append(p1, m)
		}
	}
	slices.SortFunc(p1, func(a, b message) int { return int(a.Offset - b.Offset) })
	if len(p1) < 3 {
		t.Fatalf("partition 1 holds %d messages; the keys should spread 30 over 3 partitions", len(p1))
	}
	r = resetOffsets(t, rs, rs.replicas[0], userA, pass, topicA3, "g", `{"Offsets":[{"Partition":1,"Offset":2}]}`)
	if r.status != http.StatusOK {
		t.Fatalf("reset to offsets: %d %s", r.status, r.body)
	}
	if a := decode[lagAnswer](t, r); a.Lag != int64(len(p1)-2) || a.Partitions[1].Committed != 2 || a.Partitions[0].Lag != 0 || a.Partitions[2].Lag != 0 {
		t.Fatalf("reset of partition 1 to offset 2 answered %+v, want lag %d there only", a, len(p1)-2)
	}
	if got := consumeAll(t, rs, userA, pass, topicA3, "g", len(p1)-2); !slices.Equal(sortedValues(got), sortedValues(p1[2:])) {
		t.Fatalf("after a reset of partition 1 to offset 2 the group read %v, want %v", values(got), values(p1[2:]))
	}
	waitLag(t, rs, userA, pass, topicA3, "g", 0)

	// To latest: what was posted meanwhile is skipped; to a time before
	// it, it is read.
	at := instantBetween()
	postValues(t, rs, userA, pass, topicA3, "late0", "late1", "late2")
	if a := decode[lagAnswer](t, resetOffsets(t, rs, rs.replicas[2], userA, pass, topicA3, "g", `{"To":"latest"}`)); a.Lag != 0 {
		t.Fatalf("reset to latest answered %+v, want lag 0", a)
	}
	assertNoMore(t, rs, userA, pass, topicA3, "g")
	r = resetOffsets(t, rs, rs.replicas[0], userA, pass, topicA3, "g", fmt.Sprintf(`{"To":%q}`, at.Format(time.RFC3339Nano)))
	if a := decode[lagAnswer](t, r); r.status != http.StatusOK || a.Lag != 3 {
		t.Fatalf("reset to %s answered %d %s, want lag 3", at.Format(time.RFC3339Nano), r.status, r.body)
	}
	if got := consumeAll(t, rs, userA, pass, topicA3, "g", 3); strings.Join(sortedValues(got), ",") != "late0,late1,late2" {
		t.Fatalf("after a reset to the time before the late messages the group read %v", values(got))
	}
	assertNoMore(t, rs, userA, pass, topicA3, "g")

	// Messages held for a commit (ack=manual) are given back by a reset,
	// not committed: their token is refused, and the group reads them
	// again.
	postValues(t, rs, userA, pass, topicA3, "held")
	var token string
	for token == "" {
		r, err := rs.call(http.MethodGet, "/topic/"+topicA3+"?group=g&ack=manual&timeout=5&ackTimeout=60s", userA, pass, "")
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("GET ack=manual: %v %d %s", err, r.status, r.body)
		}
		token = r.header.Get(httpapi.CommitTokenHeader)
	}
	lag := waitLag(t, rs, userA, pass, topicA3, "g", 1)
	var offsets []string
	for _, p := range lag.Partitions {
		offsets = append(offsets, fmt.Sprintf(`{"Partition":%d,"Offset":%d}`, p.Partition, max(p.Committed, 0)))
	}
	if r := resetOffsets(t, rs, rs.replicas[1], userA, pass, topicA3, "g", `{"Offsets":[`+strings.Join(offsets, ",")+`]}`); r.status != http.StatusOK {
		t.Fatalf("reset to the committed offsets: %d %s", r.status, r.body)
	}
	r, err := rs.call(http.MethodPost, "/topic/"+topicA3+"/commit?group=g", userA, pass, fmt.Sprintf(`{"Token":%q}`, token))
	if err != nil || r.status != http.StatusNotFound {
		t.Fatalf("commit of messages held across a reset: %v %d %s, want 404", err, r.status, r.body)
	}
	if got := consumeAll(t, rs, userA, pass, topicA3, "g", 1); *got[0].Value != "held" {
		t.Fatalf("after the reset the group read %v, want the held message again", values(got))
	}
	before := waitLag(t, rs, userA, pass, topicA3, "g", 0)

	// Bad input: refused, nothing changed.
	for _, c := range []struct {
		query, body string
		status      int
		says        string
	}{
		{"?group=g", ``, http.StatusBadRequest, "the body must be"},
		{"?group=g", `{}`, http.StatusBadRequest, "give To or Offsets"},
		{"?group=g", `{"To":"earliest","Offsets":[{"Partition":0,"Offset":0}]}`, http.StatusBadRequest, "not both"},
		{"?group=g", `{"To":"yesterday"}`, http.StatusBadRequest, "To must be"},
		{"?group=g", `{"To":"earliest","Extra":1}`, http.StatusBadRequest, "the body must be"},
		{"?group=g", `{"Offsets":[{"Partition":0}]}`, http.StatusBadRequest, "needs a Partition and an Offset"},
		{"?group=g", `{"Offsets":[{"Partition":0,"Offset":0},{"Partition":0,"Offset":1}]}`, http.StatusBadRequest, "given twice"},
		{"?group=a/b", `{"To":"earliest"}`, http.StatusBadRequest, "group must be"},
		{"?group=g", `{"Offsets":[{"Partition":0,"Offset":0},{"Partition":7,"Offset":0}]}`, http.StatusNotFound, "has no partition 7"},
		{"?group=g", `{"Offsets":[{"Partition":0,"Offset":0},{"Partition":1,"Offset":1000}]}`, http.StatusRequestedRangeNotSatisfiable, "outside partition 1"},
	} {
		r, err := rs.call(http.MethodPost, "/topic/"+topicA3+"/offsets"+c.query, userA, pass, c.body)
		if err != nil || r.status != c.status || !strings.Contains(decode[apiError](t, r).Message, c.says) {
			t.Errorf("reset %s %s: %v %d %s; want %d saying %q", c.query, c.body, err, r.status, r.body, c.status, c.says)
		}
	}
	if after := waitLag(t, rs, userA, pass, topicA3, "g", 0); !slices.Equal(after.Partitions, before.Partitions) {
		t.Fatalf("refused resets changed the group: %+v, was %+v", after, before)
	}
	if r, err := rs.call(http.MethodGet, "/topic/"+topicA3+"/offsets?group=g", userA, pass, ""); err != nil || r.status != http.StatusMethodNotAllowed {
		t.Fatalf("GET offsets: %v %d %s, want 405", err, r.status, r.body)
	}

	// Another tenant may not reset, see the lag of, or read tenant A's
	// topic; nor reset a group of its own on it.
	passB := tb.passwords[userB]
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/topic/" + topicA3 + "/offsets?group=g", `{"To":"earliest"}`},
		{http.MethodGet, "/topic/" + topicA3 + "/lag?group=g", ""},
		{http.MethodGet, "/topic/" + topicA3 + "?partition=0&offset=earliest", ""},
	} {
		if r, err := rs.call(c.method, c.path, userB, passB, c.body); err != nil || r.status != http.StatusForbidden {
			t.Errorf("tenant B: %s %s: %v %d %s, want 403", c.method, c.path, err, r.status, r.body)
		}
	}
	if after := waitLag(t, rs, userA, pass, topicA3, "g", 0); !slices.Equal(after.Partitions, before.Partitions) {
		t.Fatalf("tenant B's refused calls changed the group: %+v, was %+v", after, before)
	}
}

// README's curl lines of reads from a position and of resets work as a
// user pastes them: the first page shows the messages and where to read
// on, the next page from there is empty, the time reads what came after
// it; the resets answer the lag they set, and the group reads from there.
func TestREADMEOffsetsCurls(t *testing.T) {
	reads := readmeCurls(t, "### Reading from a position", 3)
	resets := readmeCurls(t, "### `POST /topic/{topic}/offsets` — reset a group", 2)
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 1)
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, 10, 10)
	run := curlRunner(t, rs, userA, pass, topicA)

	out := run(reads[0])
	next := headerOf(out, httpapi.NextOffsetHeader)
	if next != "10" || !strings.Contains(out, `"Value":"0"`) || !strings.Contains(out, `"Value":"9"`) {
		t.Fatalf("README's first page printed no %s of 10 or not the messages:\n%s", httpapi.NextOffsetHeader, out)
	}
	if !strings.Contains(reads[1], "<Kafka-Next-Offset>") {
		t.Fatalf("README's next page line has no <Kafka-Next-Offset> to replace: %s", reads[1])
	}
	if out = run(strings.Replace(reads[1], "<Kafka-Next-Offset>", next, 1)); !strings.HasSuffix(out, "\r\n\r\n[]\n") || headerOf(out, httpapi.NextOffsetHeader) != "10" {
		t.Fatalf("README's next page printed %q, want no message and %s 10", out, httpapi.NextOffsetHeader)
	}
	// The example time is fixed: the messages were posted after it unless
	// this machine's clock is before it.
	_, example, _ := strings.Cut(reads[2], "offset=")
	example, _, _ = strings.Cut(example, `"`)
	at, err := time.Parse(time.RFC3339, example)
	if err != nil {
		t.Fatalf("README's time %q: %v", example, err)
	}
	want := "[]\n"
	if time.Now().After(at) {
		want = `[{"Topic":"` + topicA + `","Partition":0,"Offset":0,`
	}
	if out = run(reads[2]); !strings.HasPrefix(out, want) {
		t.Fatalf("README's read from %s printed %q, want it to start with %q", at, out, want)
	}

	consumeAll(t, rs, userA, pass, topicA, "workers", 10)
	waitLag(t, rs, userA, pass, topicA, "workers", 0)
	if out = run(resets[0]); !strings.Contains(out, `"Group":"workers","Lag":10,`) {
		t.Fatalf("README's reset to earliest printed %s, want a lag of 10", out)
	}
	if out = run(resets[1]); !strings.Contains(out, `"Lag":5,"Partitions":[{"Partition":0,"Committed":5,`) {
		t.Fatalf("README's reset to offset 5 printed %s, want offset 5 committed and a lag of 5", out)
	}
	if got := consumeAll(t, rs, userA, pass, topicA, "workers", 5); strings.Join(values(got), ",") != "5,6,7,8,9" {
		t.Fatalf("after README's resets the group read %v, want 5..9", values(got))
	}
}
