package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"qaas.dev/qaas/internal/embeddedkafka"
)

// sseEvent is one Server-Sent Event, or a comment (a heartbeat).
type sseEvent struct {
	id, data, comment string
}

// record decodes the event's data: one consumed message.
func (e sseEvent) record(t testing.TB) message {
	t.Helper()
	var m message
	if err := json.Unmarshal([]byte(e.data), &m); err != nil {
		t.Fatalf("event %s: data %q is not a message: %v", e.id, e.data, err)
	}
	if want := fmt.Sprintf("%d-%d", m.Partition, m.Offset); e.id != want {
		t.Fatalf("event id %q for the record at %s", e.id, want)
	}
	return m
}

// readEvents parses body as text/event-stream onto events, closing it
// when the body ends; ended, unless nil, then gets what ended it: nil when
// the body ended cleanly, else the error that cut it.
func readEvents(body io.Reader, events chan<- sseEvent, ended chan<- error) {
	sc := bufio.NewScanner(body)
	defer func() {
		if ended != nil {
			ended <- sc.Err()
		}
		close(events)
	}()
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var e sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if e != (sseEvent{}) {
				events <- e
			}
			e = sseEvent{}
		case strings.HasPrefix(line, ":"):
			e.comment = strings.TrimSpace(strings.TrimPrefix(line, ":"))
		case strings.HasPrefix(line, "id: "):
			e.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			e.data = strings.TrimPrefix(line, "data: ")
		default:
			events <- sseEvent{comment: "unexpected line " + line}
		}
	}
}

// sseStream is an open consume stream.
type sseStream struct {
	events chan sseEvent
	// ended gets what ended the body once events is closed: nil when it
	// ended cleanly.
	ended  chan error
	header http.Header
	cancel func()
}

// openStream opens a consume stream on url with client; it fails the test
// unless the answer is 200 with text/event-stream.
func openStream(t testing.TB, client *http.Client, url, user, password string, header http.Header) *sseStream {
	t.Helper()
	s, r := tryStream(t, client, url, user, password, header)
	if s == nil {
		t.Fatalf("opening a stream on %s: %d %s", url, r.status, r.body)
	}
	return s
}

// tryStream opens a consume stream, or returns the answer that refused it.
func tryStream(t testing.TB, client *http.Client, url, user, password string, header http.Header) (*sseStream, response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	req.Header.Set("Accept", "text/event-stream")
	req.SetBasicAuth(user, password)
	// The client's overall timeout would cut the stream.
	streaming := *client
	streaming.Timeout = 0
	resp, err := streaming.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return nil, response{status: resp.StatusCode, header: resp.Header, body: b}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("a stream answered Content-Type %q", ct)
	}
	s := &sseStream{events: make(chan sseEvent, 1024), ended: make(chan error, 1), header: resp.Header, cancel: func() { cancel(); resp.Body.Close() }}
	go readEvents(resp.Body, s.events, s.ended)
	t.Cleanup(s.cancel)
	return s, response{}
}

// next returns the stream's next event, heartbeats included.
func (s *sseStream) next(t testing.TB, within time.Duration) sseEvent {
	t.Helper()
	select {
	case e, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
	}
	return sseEvent{}
}

// nextEvent returns the stream's next record event, past heartbeats.
func (s *sseStream) nextEvent(t testing.TB, within time.Duration) sseEvent {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		e := s.next(t, time.Until(deadline))
		if e.comment == "" {
			return e
		}
		if e.comment != "heartbeat" {
			t.Fatalf("unexpected comment %q", e.comment)
		}
	}
}

// nextRecord returns the stream's next record, past heartbeats.
func (s *sseStream) nextRecord(t testing.TB, within time.Duration) message {
	t.Helper()
	return s.nextEvent(t, within).record(t)
}

// Records produced after a stream opened arrive as events, each with its
// place as id and in order within its partition; heartbeats keep a stream
// without records visibly alive, about one interval apart, past the
// server's read timeout; each user holds a bounded number of streams, and
// closing one frees its place; nonsense is refused.
func TestStreamDeliversRecordsAsTheyArrive(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb, "--stream-heartbeat=1s", "--max-streams-per-user=2", "--read-timeout=2s")
	pass := tb.passwords[userA]
	url := gw.URL + "/topic/" + topicA3 + "?group=live"
	s := openStream(t, gw.client, url, userA, pass, nil)
	if s.header.Get("Cache-Control") != "no-cache" || s.header.Get("X-Accel-Buffering") != "no" {
		t.Errorf("stream headers %v, want Cache-Control: no-cache and X-Accel-Buffering: no", s.header)
	}
	// Over HTTP/1.1 too, where the read timeout would end the request.
	h1 := openRawStream(t, gw, "/topic/"+topicB+"?group=h1", userB, tb.passwords[userB], "")
	h1Opened := time.Now()
	defer h1.conn.Close()
	// Heartbeats about a second apart (the first came as the stream
	// opened): never much more, or a proxy's read timeout could end an
	// idle stream, nor many more of them.
	var lastBeat time.Time
	for i := range 5 {
		if e := s.next(t, 3*time.Second); e.comment != "heartbeat" {
			t.Fatalf("an idle stream sent %+v, want a heartbeat", e)
		}
		if gap := time.Since(lastBeat); i >= 2 && (gap > 1750*time.Millisecond || gap < 400*time.Millisecond) {
			t.Errorf("a heartbeat %s after the previous one, want about a second (--stream-heartbeat=1s)", gap)
		}
		lastBeat = time.Now()
	}
	// The HTTP/1.1 stream outlives its 2s read timeout well: it still
	// gets its heartbeats, then a record posted 4.5s after it opened.
	h1Stream := &sseStream{events: h1.events}
	for time.Since(h1Opened) < 4500*time.Millisecond {
		if e := h1Stream.next(t, 3*time.Second); e.comment != "heartbeat" {
			t.Fatalf("an idle HTTP/1.1 stream sent %+v, want a heartbeat", e)
		}
	}
	expectStatus(t, gw.post(t, userB, tb.passwords[userB], "/topic/"+topicB, `[{"Value":"late"}]`), http.StatusOK)
	if m := h1Stream.nextRecord(t, 10*time.Second); *m.Value != "late" {
		t.Fatalf("the HTTP/1.1 stream sent %s, want late", *m.Value)
	}

	const total = 60
	for i := 0; i < total; i += 10 {
		var batch []string
		for j := i; j < i+10; j++ {
			batch = append(batch, fmt.Sprintf(`{"Key":"k%d","Value":"%d"}`, j%7, j))
		}
		expectStatus(t, gw.post(t, userA, pass, "/topic/"+topicA3, "["+strings.Join(batch, ",")+"]"), http.StatusOK)
	}
	seen := map[string]bool{}
	last := map[int32]int64{}
	for len(seen) < total {
		m := s.nextRecord(t, 10*time.Second)
		if seen[*m.Value] {
			t.Fatalf("record %s came twice", *m.Value)
		}
		seen[*m.Value] = true
		if prev, ok := last[m.Partition]; ok && m.Offset != prev+1 {
			t.Fatalf("partition %d: offset %d after %d", m.Partition, m.Offset, prev)
		}
		last[m.Partition] = m.Offset
	}
	if len(last) != 3 {
		t.Errorf("records came from partitions %v, want all three", last)
	}

	// Another tenant's topic is refused with its status, not streamed.
	if _, r := tryStream(t, gw.client, gw.URL+"/topic/"+topicA, userB, tb.passwords[userB], nil); r.status != http.StatusForbidden {
		t.Errorf("a stream of another tenant's topic: %d %s, want 403", r.status, r.body)
	}
	// A second stream of the user is served; a third is refused.
	second := openStream(t, gw.client, gw.URL+"/topic/"+topicA+"?group=other", userA, pass, nil)
	if n := gw.metric(t, "qaas_gateway_consume_streams"); n != 3 {
		t.Errorf("qaas_gateway_consume_streams %v, want 3 (two of one user, one of another)", n)
	}
	_, r := tryStream(t, gw.client, gw.URL+"/topic/"+topicA+"?group=third", userA, pass, nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "5" || !strings.Contains(string(r.body), "--max-streams-per-user") {
		t.Errorf("a third stream: %d Retry-After %q %s, want 429 naming --max-streams-per-user", r.status, r.header.Get("Retry-After"), r.body)
	}
	// Another user is not held back by the first one's streams.
	openStream(t, gw.client, gw.URL+"/topic/"+topicB, userB, tb.passwords[userB], nil)
	// Closing a stream frees its place: the third is served soon after.
	second.cancel()
	for deadline := time.Now().Add(10 * time.Second); ; {
		third, r := tryStream(t, gw.client, gw.URL+"/topic/"+topicA+"?group=third", userA, pass, nil)
		if third != nil {
			break
		}
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("a stream after one was closed: %d %s", r.status, r.body)
		}
		if time.Now().After(deadline) {
			t.Fatal("closing a stream did not free its place within 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	for _, c := range []struct {
		query, lastEventID, message string
	}{
		{"?ack=manual", "", "ack=manual does not apply to a stream"},
		{"?format=raw", "", "format=raw does not apply to a stream"},
		{"?timeout=5", "", "timeout does not apply to a stream"},
		{"?partition=0&offset=0", "", "partition and offset do not apply to a stream"},
		{"", "seven", "Last-Event-ID (or lastEventId) must be the id of an event"},
		{"?lastEventId=0-x", "", "Last-Event-ID (or lastEventId) must be the id of an event"},
	} {
		header := http.Header{}
		if c.lastEventID != "" {
			header.Set("Last-Event-ID", c.lastEventID)
		}
		_, r := tryStream(t, gw.client, gw.URL+"/topic/"+topicB+c.query, userB, tb.passwords[userB], header)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), c.message) {
			t.Errorf("stream %s (Last-Event-ID %q): %d %s, want 400 saying %s", c.query, c.lastEventID, r.status, r.body, c.message)
		}
	}
}

// A client that reconnects with the id of the last event it got does not
// get that record, nor the records of its partition before it, again;
// they count as delivered with the rest.
func TestStreamSkipsWhatLastEventIDSaysWasSeen(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb, "--stream-heartbeat=1s")
	pass := tb.passwords[userA]
	var batch []string
	for i := range 10 {
		batch = append(batch, fmt.Sprintf(`{"Value":"%d"}`, i))
	}
	expectStatus(t, gw.post(t, userA, pass, "/topic/"+topicA, "["+strings.Join(batch, ",")+"]"), http.StatusOK)
	for _, c := range []struct {
		name   string
		header http.Header
		query  string
		group  string
	}{
		{"header", http.Header{"Last-Event-Id": {"0-4"}}, "", "h"},
		{"query", nil, "&lastEventId=0-4", "q"},
	} {
		s := openStream(t, gw.client, gw.URL+"/topic/"+topicA+"?group="+c.group+c.query, userA, pass, c.header)
		for want := 5; want < 10; want++ {
			if m := s.nextRecord(t, 10*time.Second); *m.Value != strconv.Itoa(want) {
				t.Fatalf("%s: record %s, want %d: the records up to Last-Event-ID 0-4 were seen", c.name, *m.Value, want)
			}
		}
		s.cancel()
		waitCommitted(t, tb, userA+"."+c.group, topicA, 0, 10)
	}
}

// A queue stream ignores Last-Event-ID (EventSource sends it on each
// reconnect): a record released by another consumer comes to the stream
// even when its offset is before the last event the client got, and
// nothing is accepted unwritten.
func TestQueueStreamIgnoresLastEventID(t *testing.T) {
	tb := startBroker(t, queueBroker(30*time.Second, 5))
	rs := startReplicas(t, tb, 1, "--stream-heartbeat=1s")
	on := rs.replicas[0]
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, 5, 5)
	// Another consumer holds the first record.
	held := queueGet(t, rs, on, userA, pass, topicA, "work", "&limit=1")
	if queueValues(held) != "0" {
		t.Fatalf("the other consumer got %q, want the first record", queueValues(held))
	}
	url := on.url + "/topic/" + topicA + "?mode=queue&group=work"
	s := openStream(t, rs.client, url, userA, pass, nil)
	lastID := ""
	for want := 1; want < 5; want++ {
		e := s.nextEvent(t, 10*time.Second)
		if m := e.record(t); *m.Value != strconv.Itoa(want) {
			t.Fatalf("record %s, want %d", *m.Value, want)
		}
		lastID = e.id
	}
	s.cancel()
	// The client reconnects as EventSource does; a malformed id is no
	// reason to refuse it either.
	malformed, r := tryStream(t, rs.client, url, userA, pass, http.Header{"Last-Event-Id": {"seven"}})
	if malformed == nil {
		t.Fatalf("a queue stream with a malformed Last-Event-ID: %d %s, want it served", r.status, r.body)
	}
	malformed.cancel()
	s = openStream(t, rs.client, url, userA, pass, http.Header{"Last-Event-Id": {lastID}})
	if res := queueAck(t, rs, on, userA, pass, topicA, "work", "release", held); res[0].Result != "acknowledged" {
		t.Fatalf("release: %+v", res)
	}
	if m := s.nextRecord(t, 10*time.Second); *m.Value != "0" || m.Offset != 0 {
		t.Fatalf("after the release: record %s at offset %d, want the released record 0 (before Last-Event-ID %s)", *m.Value, m.Offset, lastID)
	}
	s.cancel()
	r, err := rs.callOn(on, http.MethodGet, "/topic/"+topicA+"?mode=queue&group=work&limit=100&timeout=1", userA, pass, "")
	if err != nil || r.status != http.StatusOK || string(r.body) != "[]\n" {
		t.Fatalf("after the streams: %v %d %s, want no record left", err, r.status, r.body)
	}
}

// rawStream is a consume stream over its own HTTP/1.1 connection, so that
// the client can stop it as a client that goes away does (closing its
// side) and still read what the gateway wrote before it saw that.
type rawStream struct {
	conn   *tls.Conn
	events chan sseEvent
}

func openRawStream(t testing.TB, g *gateway, path, user, password, lastEventID string) *rawStream {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(g.URL, "https://"), &tls.Config{RootCAs: g.tls.RootCAs, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	request := "GET " + path + " HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\nAuthorization: Basic " +
		base64.StdEncoding.EncodeToString([]byte(user+":"+password)) + "\r\n"
	if lastEventID != "" {
		request += "Last-Event-ID: " + lastEventID + "\r\n"
	}
	if _, err := io.WriteString(conn, request+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s", resp.StatusCode, b)
	}
	s := &rawStream{conn: conn, events: make(chan sseEvent, 1024)}
	go readEvents(resp.Body, s.events, nil)
	return s
}

// A client that goes away in the middle of a stream, and reconnects with
// the id of the last event it got, loses nothing: a few thousand records
// produced while it does so several times all arrive, each partition in
// order, and what arrives twice is at most what was being written when
// it left.
func TestStreamReconnectsLoseNothing(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb, "--stream-heartbeat=1s", "--read-timeout=2s")
	pass := tb.passwords[userA]
	const total, batch, limit = 3000, 50, 10

	produced := make(chan error, 1)
	go func() {
		defer close(produced)
		for i := 0; i < total; i += batch {
			var msgs []string
			for j := i; j < i+batch; j++ {
				msgs = append(msgs, fmt.Sprintf(`{"Key":"k%d","Value":"%d"}`, j%13, j))
			}
			req, _ := http.NewRequest(http.MethodPost, gw.URL+"/topic/"+topicA3, strings.NewReader("["+strings.Join(msgs, ",")+"]"))
			req.SetBasicAuth(userA, pass)
			resp, err := gw.client.Do(req)
			if err != nil {
				produced <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				produced <- fmt.Errorf("POST: %d", resp.StatusCode)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	seen := map[string]int{}
	last := map[int32]int64{}
	lastID := ""
	// take is the client processing a record.
	take := func(e sseEvent) {
		m := e.record(t)
		if seen[*m.Value] == 0 {
			// A repeat may go back in its partition; a first delivery
			// never does.
			if prev, ok := last[m.Partition]; ok && m.Offset <= prev {
				t.Fatalf("partition %d: new record at offset %d after %d", m.Partition, m.Offset, prev)
			}
			last[m.Partition] = m.Offset
		}
		seen[*m.Value]++
		lastID = e.id
	}
	reconnects := 0
	for len(seen) < total {
		s := openRawStream(t, gw, "/topic/"+topicA3+"?group=flaky&limit="+strconv.Itoa(limit), userA, pass, lastID)
		stopAfter := 50 + rand.IntN(400)
		got := 0
		timeout := time.After(20 * time.Second)
	read:
		for {
			select {
			case e, ok := <-s.events:
				if !ok {
					t.Fatalf("the stream ended before the client left")
				}
				if e.comment != "" {
					continue
				}
				take(e)
				if got++; got == stopAfter || len(seen) == total {
					break read
				}
			case <-timeout:
				t.Fatalf("the stream stalled with %d of %d records seen", len(seen), total)
			}
		}
		// The client leaves: the gateway sees its side closed and stops,
		// and the client reads what was written until then.
		if err := s.conn.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		for e := range s.events {
			if e.comment == "" {
				take(e)
			}
		}
		s.conn.Close()
		reconnects++
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	repeats := 0
	for _, n := range seen {
		repeats += n - 1
	}
	if reconnects < 4 {
		t.Errorf("the client left only %d times", reconnects)
	}
	if repeats > reconnects*limit {
		t.Errorf("%d records repeated over %d reconnects, more than one round (%d) each", repeats, reconnects, limit)
	}
	t.Logf("%d records over %d connections, %d repeated", total, reconnects, repeats)
}

// A client that leaves while the gateway writes a round loses nothing and
// gets nothing twice when it reconnects with the id of the last event it
// got: the round could not be written, so it comes again, and the records
// of it the client had are skipped. The client speaks HTTP/2 with a 64 KiB
// receive window, and rounds are up to 200 records of 64 KiB, so that the
// gateway is still writing a round when the client stops reading and
// leaves (a round the connection took whole counts as delivered, whatever
// the client does next).
func TestStreamCutMidRoundRepeatsNothingSeen(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb, "--consumer-buffer-bytes=16777216", "--max-response-bytes=16777216")
	pass := tb.passwords[userA]
	value := strings.Repeat("x", 64<<10)
	const total = 200
	for start := 0; start < total; start += 10 {
		var msgs []string
		for i := start; i < start+10; i++ {
			msgs = append(msgs, fmt.Sprintf(`{"Key":"%d","Value":"%s"}`, i, value))
		}
		expectStatus(t, gw.post(t, userA, pass, "/topic/"+topicA, "["+strings.Join(msgs, ",")+"]"), http.StatusOK)
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   gw.tls,
		ForceAttemptHTTP2: true,
		HTTP2:             &http.HTTP2Config{MaxReceiveBufferPerStream: 64 << 10, MaxReceiveBufferPerConnection: 64 << 10},
	}}
	withContract(t, client)
	url := gw.URL + "/topic/" + topicA + "?group=cut&limit=" + strconv.Itoa(total)
	seen := map[string]int{}
	var header http.Header
	// Twice a client reads a few records and leaves.
	for cut := range 2 {
		s := openStream(t, client, url, userA, pass, header)
		for range 5 {
			e := s.nextEvent(t, 20*time.Second)
			seen[*e.record(t).Key]++
			header = http.Header{"Last-Event-Id": {e.id}}
		}
		s.cancel()
		t.Logf("cut %d after record %s", cut, header.Get("Last-Event-Id"))
	}
	s := openStream(t, client, url, userA, pass, header)
	for len(seen) < total {
		seen[*s.nextRecord(t, 20*time.Second).Key]++
	}
	for key, n := range seen {
		if n > 1 {
			t.Errorf("record %s came %d times", key, n)
		}
	}
}

// A stream on a replica that does not own the group is served by the
// owner through the peer API; when its replica shuts down the stream ends
// cleanly and at once, its long poll on the owner cut short, and the
// client resumes on another replica with Last-Event-ID, losing nothing.
func TestStreamThroughAnotherReplica(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	// Each round of the stream waits on the owner for up to 30s: only the
	// shutdown itself can end it sooner.
	rs := startReplicas(t, tb, 2, "--stream-heartbeat=30s")
	owner, other := rs.replicas[0], rs.replicas[1]
	pass := tb.passwords[userA]
	// A plain GET makes the first replica the group's owner.
	if r, err := rs.callOn(owner, http.MethodGet, "/topic/"+topicA+"?group=relay", userA, pass, ""); err != nil || r.status != http.StatusOK {
		t.Fatalf("GET: %v %d %s", err, r.status, r.body)
	}
	s := openStream(t, rs.client, other.url+"/topic/"+topicA+"?group=relay", userA, pass, nil)
	for i := range 5 {
		if r, err := rs.callOn(owner, http.MethodPost, "/topic/"+topicA, userA, pass, fmt.Sprintf(`[{"Value":"%d"}]`, i)); err != nil || r.status != http.StatusOK {
			t.Fatalf("POST: %v %d %s", err, r.status, r.body)
		}
	}
	lastID := ""
	for want := range 5 {
		m := s.nextRecord(t, 10*time.Second)
		if *m.Value != strconv.Itoa(want) {
			t.Fatalf("record %s, want %d", *m.Value, want)
		}
		lastID = fmt.Sprintf("%d-%d", m.Partition, m.Offset)
	}
	if ownerOf(t, rs) != owner {
		t.Fatal("the stream was not served by the group's owner")
	}

	// The stream's replica shuts down: the stream ends within seconds,
	// not cut.
	rs.remove(other)
	stopped := make(chan struct{})
	sigterm := time.Now()
	go func() {
		other.stop(syscall.SIGTERM)
		close(stopped)
	}()
	for ended := false; !ended; {
		select {
		case e, ok := <-s.events:
			if ended = !ok; !ended && e.comment == "" {
				t.Fatalf("after the shutdown began the stream sent %+v", e)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the stream did not end with its replica")
		}
	}
	if took := time.Since(sigterm); took > 5*time.Second {
		t.Errorf("the stream ended %s after its replica was told to stop, want within seconds", took)
	}
	if err := <-s.ended; err != nil {
		t.Errorf("the stream was cut (%v), want it ended cleanly", err)
	}
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the replica did not stop")
	}
	for i := 5; i < 8; i++ {
		if r, err := rs.callOn(owner, http.MethodPost, "/topic/"+topicA, userA, pass, fmt.Sprintf(`[{"Value":"%d"}]`, i)); err != nil || r.status != http.StatusOK {
			t.Fatalf("POST: %v %d %s", err, r.status, r.body)
		}
	}
	s = openStream(t, rs.client, owner.url+"/topic/"+topicA+"?group=relay", userA, pass, http.Header{"Last-Event-Id": {lastID}})
	for want := 5; want < 8; want++ {
		if m := s.nextRecord(t, 10*time.Second); *m.Value != strconv.Itoa(want) {
			t.Fatalf("after reconnecting: record %s, want %d", *m.Value, want)
		}
	}
}

// A shutdown does not wait on a client that stopped reading: the round
// being written to it is given back within seconds, well inside
// --shutdown-timeout, and comes again to the group's next consume. The
// client's socket takes 4 KiB and the round is 200 records of 64 KiB, so
// the gateway is still writing it when the shutdown begins (the response
// header went out with its first bytes).
func TestStreamShutdownGivesBackARoundStuckOnAStalledClient(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 1, "--stream-heartbeat=1s", "--consumer-buffer-bytes=16777216", "--max-response-bytes=16777216")
	gw := rs.replicas[0]
	pass := tb.passwords[userA]
	value := strings.Repeat("x", 64<<10)
	const total = 200
	for start := 0; start < total; start += 10 {
		var msgs []string
		for i := start; i < start+10; i++ {
			msgs = append(msgs, fmt.Sprintf(`{"Key":"%d","Value":"%s"}`, i, value))
		}
		if r, err := rs.callOn(gw, http.MethodPost, "/topic/"+topicA, userA, pass, "["+strings.Join(msgs, ",")+"]"); err != nil || r.status != http.StatusOK {
			t.Fatalf("POST: %v %d %s", err, r.status, r.body)
		}
	}
	dialer := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var setErr error
		if err := c.Control(func(fd uintptr) {
			setErr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return setErr
	}}
	roots := x509.NewCertPool()
	if pem, err := os.ReadFile(rs.certFile); err != nil || !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("the replicas' certificate: %v", err)
	}
	conn, err := tls.DialWithDialer(dialer, "tcp", strings.TrimPrefix(gw.url, "https://"), &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	request := "GET /topic/" + topicA + "?group=stalled&limit=" + strconv.Itoa(total) + " HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\nAuthorization: Basic " +
		base64.StdEncoding.EncodeToString([]byte(userA+":"+pass)) + "\r\n\r\n"
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %v %v", err, resp)
	}
	// The client reads nothing more.
	start := time.Now()
	gw.stop(syscall.SIGTERM)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the replica took %s to stop, waiting on a stalled stream", took)
	}
	rs.remove(gw)
	next := rs.add()
	r, err := rs.callOn(next, http.MethodGet, "/topic/"+topicA+"/lag?group=stalled", userA, pass, "")
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("lag: %v %d %s", err, r.status, r.body)
	}
	if lag := decode[lagAnswer](t, r); lag.Lag != total {
		t.Fatalf("the group's lag after the shutdown is %d, want %d: the round the client did not read was committed", lag.Lag, total)
	}
	r, err = rs.callOn(next, http.MethodGet, "/topic/"+topicA+"?group=stalled&limit=1", userA, pass, "")
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("GET: %v %d %s", err, r.status, r.body)
	}
	if got := decode[[]message](t, r); len(got) != 1 || *got[0].Key != "0" {
		t.Fatalf("the group's next consume got %s, want the first record again", r.body)
	}
}

// In queue mode, streams on two replicas share one queue group, as
// competing consumers: each record reaches one of them, once, and is
// accepted once written, so the group holds nothing afterwards.
func TestStreamInQueueMode(t *testing.T) {
	tb := startBroker(t, queueBroker(30*time.Second, 5))
	rs := startReplicas(t, tb, 2, "--stream-heartbeat=1s")
	pass := tb.passwords[userA]
	const n = 300
	rs.postNumbered(t, userA, pass, topicA, n, 50)
	streams := []*sseStream{
		openStream(t, rs.client, rs.replicas[0].url+"/topic/"+topicA+"?mode=queue&group=work&limit=10", userA, pass, nil),
		openStream(t, rs.client, rs.replicas[1].url+"/topic/"+topicA+"?mode=queue&group=work&limit=10", userA, pass, nil),
	}
	seen := map[string]int{}
	perStream := make([]int, len(streams))
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < n && time.Now().Before(deadline) {
		for i, st := range streams {
			select {
			case e, ok := <-st.events:
				if !ok {
					t.Fatalf("stream %d ended", i)
				}
				if e.comment != "" {
					continue
				}
				m := e.record(t)
				seen[*m.Value]++
				perStream[i]++
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	for v, c := range seen {
		if c != 1 {
			t.Errorf("record %s came %d times", v, c)
		}
	}
	if len(seen) != n {
		t.Fatalf("the streams delivered %d of %d records", len(seen), n)
	}
	t.Logf("%d records over two streams: %v", n, perStream)
	for _, st := range streams {
		st.cancel()
	}
	// Accepted once written: nothing is left to hand out.
	r, err := rs.callOn(rs.replicas[0], http.MethodGet, "/topic/"+topicA+"?mode=queue&group=work&limit=100&timeout=1", userA, pass, "")
	if err != nil || r.status != http.StatusOK || string(r.body) != "[]\n" {
		t.Fatalf("after the streams: %v %d %s, want no record left", err, r.status, r.body)
	}
}

// README's streaming curl line works as a user pastes it: records posted
// before and while it runs come out as events.
func TestREADMEStreamCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	line := readmeCurls(t, "### Streaming consume", 1)[0]
	if !strings.Contains(line, " -N ") {
		t.Fatalf("README's streaming line has no -N, so curl would buffer the events: %s", line)
	}

	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	rs := startReplicas(t, tb, 1, "--stream-heartbeat=1s")
	pass := tb.passwords[userA]
	rs.postNumbered(t, userA, pass, topicA, 3, 3)
	cmd := exec.Command("bash", "-c", strings.Replace(line, "curl ", curl+" -sS ", 1))
	cmd.Env = append(os.Environ(), "URL="+rs.replicas[0].url, "SASL_USERNAME="+userA, "SASL_PASSWORD="+pass, "TOPIC="+topicA, "CURL_CA_BUNDLE="+rs.certFile)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	events := make(chan sseEvent, 64)
	go readEvents(out, events, nil)
	s := &sseStream{events: events}
	for want := range 3 {
		if m := s.nextRecord(t, 20*time.Second); *m.Value != strconv.Itoa(want) {
			t.Fatalf("curl printed record %s, want %d", *m.Value, want)
		}
	}
	// A record posted while curl streams comes out at once.
	rs.postNumbered(t, userA, pass, topicA, 1, 1)
	if m := s.nextRecord(t, 10*time.Second); *m.Value != "0" || m.Offset != 3 {
		t.Fatalf("curl printed %s at offset %d, want the record just posted", *m.Value, m.Offset)
	}
}
