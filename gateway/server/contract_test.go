package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// The three calls of OVH's Queue documentation, sent as curl sends them
// (form content type), over HTTPS against a broker with SASL and ACLs on.
func TestOVHCallsWorkVerbatim(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb)
	pass := tb.passwords[userA]

	r := gw.post(t, userA, pass, "/topic/"+topicA, `[{"Value": "first message"},{"Value":"second message"}]`)
	expectStatus(t, r, http.StatusOK)
	placed := decode[[]placement](t, r)
	if len(placed) != 2 || placed[0].Offset != 0 || placed[1].Offset != 1 || placed[0].Topic != topicA {
		t.Fatalf("placements %+v, want offsets 0 and 1 on %s", placed, topicA)
	}
	if r.proto != "HTTP/2.0" {
		t.Errorf("protocol %s, want HTTP/2.0", r.proto)
	}

	raw := `{"my": {"complex": ["json", "here"]}}`
	r = gw.post(t, userA, pass, "/topic/"+topicA+"?format=raw", raw)
	expectStatus(t, r, http.StatusOK)

	r = gw.get(t, userA, pass, "/topic/"+topicA+"?limit=2")
	expectStatus(t, r, http.StatusOK)
	got := decode[[]message](t, r)
	if want := []string{"first message", "second message"}; !slices.Equal(values(got), want) {
		t.Fatalf("first GET returned %q, want %q", values(got), want)
	}
	if got[0].Topic != topicA || got[0].Offset != 0 || got[1].Offset != 1 || got[0].Timestamp.IsZero() {
		t.Errorf("metadata of consumed messages is wrong: %+v", got)
	}

	r = gw.get(t, userA, pass, "/topic/"+topicA+"?limit=2")
	expectStatus(t, r, http.StatusOK)
	if got := values(decode[[]message](t, r)); !slices.Equal(got, []string{raw}) {
		t.Fatalf("second GET returned %q, want only the raw message", got)
	}
	for range 2 {
		r = gw.get(t, userA, pass, "/topic/"+topicA)
		expectStatus(t, r, http.StatusOK)
		if got := decode[[]message](t, r); len(got) != 0 {
			t.Fatalf("messages came back to the same group: %q", values(got))
		}
	}
}

func TestLimitIsRespected(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb)
	pass := tb.passwords[userA]
	expectStatus(t, gw.post(t, userA, pass, "/topic/"+topicA, `[{"Value":"1"},{"Value":"2"},{"Value":"3"},{"Value":"4"},{"Value":"5"}]`), http.StatusOK)

	var all []string
	for _, want := range []int{2, 2, 1, 0} {
		got := decode[[]message](t, gw.get(t, userA, pass, "/topic/"+topicA+"?limit=2"))
		if len(got) != want {
			t.Fatalf("GET ?limit=2 returned %d messages, want %d", len(got), want)
		}
		all = append(all, values(got)...)
	}
	if !slices.Equal(all, []string{"1", "2", "3", "4", "5"}) {
		t.Fatalf("messages %q, want 1..5 in order", all)
	}
}

func TestValuesRoundTripByteForByte(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb)
	pass := tb.passwords[userA]
	binary := make([]byte, 4096)
	_, _ = rand.Read(binary)
	binary[0] = 0xff // never valid UTF-8

	t.Run("raw JSON in, raw out", func(t *testing.T) {
		body := "{\"my\": {\"complex\": [\"json\", \"here\"]},\n \"tab\":\"\t\", \"é\": 1}"
		expectStatus(t, gw.post(t, userA, pass, "/topic/"+topicA+"?format=raw", body), http.StatusOK)
		r := gw.get(t, userA, pass, "/topic/"+topicA+"?format=raw&group=raw")
		expectStatus(t, r, http.StatusOK)
		if string(r.body) != body {
			t.Fatalf("raw GET returned %q, want %q", r.body, body)
		}
		if r.header.Get("Kafka-Offset") != "0" || r.header.Get("Kafka-Partition") != "0" {
			t.Errorf("raw GET headers %v lack the message's place", r.header)
		}
		expectStatus(t, gw.get(t, userA, pass, "/topic/"+topicA+"?format=raw&group=raw"), http.StatusNoContent)
	})

	t.Run("binary in raw, base64 marked out", func(t *testing.T) {
		r := gw.do(t, http.MethodPost, "/topic/"+topicA3+"?format=raw", userA, pass, "application/octet-stream", binary)
		expectStatus(t, r, http.StatusOK)
		got := decode[[]message](t, gw.get(t, userA, pass, "/topic/"+topicA3+"?group=bin"))
		if len(got) != 1 || got[0].Encoding != "base64" {
			t.Fatalf("binary message came back as %+v, want one marked base64", got)
		}
		decoded, err := base64.StdEncoding.DecodeString(*got[0].Value)
		if err != nil || !bytes.Equal(decoded, binary) {
			t.Fatalf("binary value changed on the way (err %v)", err)
		}
	})

	t.Run("base64 in JSON with key and headers", func(t *testing.T) {
		b64 := base64.StdEncoding.EncodeToString
		body := fmt.Sprintf(`[{"Key":%q,"Value":%q,"Headers":[{"Key":"h","Value":%q},{"Key":"h","Value":%q}]}]`,
			b64([]byte("k\xfe")), b64(binary), b64([]byte("one")), b64([]byte("two")))
		expectStatus(t, gw.post(t, userA, pass, "/topic/"+topicA3+"?encoding=base64", body), http.StatusOK)
		got := decode[[]message](t, gw.get(t, userA, pass, "/topic/"+topicA3+"?group=b64in&encoding=base64"))
		// The raw binary message of the previous subtest is there too.
		var found bool
		for _, m := range got {
			if m.Key == nil {
				continue
			}
			found = true
			if *m.Key != b64([]byte("k\xfe")) || *m.Value != b64(binary) || m.Encoding != "base64" {
				t.Fatalf("message %+v does not match what was sent", m)
			}
			if len(m.Headers) != 2 || m.Headers[0].Value != b64([]byte("one")) || m.Headers[1].Value != b64([]byte("two")) {
				t.Fatalf("headers %+v, want both h headers in order", m.Headers)
			}
		}
		if !found {
			t.Fatalf("the keyed message did not come back: %+v", got)
		}
	})

	t.Run("text stays text", func(t *testing.T) {
		expectStatus(t, gw.post(t, userA, pass, "/topic/"+topicA+"?group=x", `[{"Value":"naïve ☃","Key":"k","Partition":0}]`), http.StatusOK)
		got := decode[[]message](t, gw.get(t, userA, pass, "/topic/"+topicA+"?group=text"))
		last := got[len(got)-1]
		if *last.Value != "naïve ☃" || *last.Key != "k" || last.Encoding != "" {
			t.Fatalf("text message came back as %+v", last)
		}
	})
}

func TestErrorsHaveTheRightStatus(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb, "--max-request-bytes", "2000", "--max-message-bytes", "100", "--max-batch-messages", "3")
	pass := tb.passwords[userA]
	path := "/topic/" + topicA

	cases := map[string]struct {
		do         func() response
		status     int
		mentioning string
	}{
		"no credentials": {func() response { return gw.get(t, "", "", path) }, http.StatusUnauthorized, "basic auth"},
		"wrong password": {func() response { return gw.get(t, userA, pass+"x", path) }, http.StatusUnauthorized, "refused"},
		"unknown user":   {func() response { return gw.post(t, "nobody", "x", path, `[{"Value":"a"}]`) }, http.StatusUnauthorized, "refused"},
		"produce to another tenant's topic": {
			func() response { return gw.post(t, userA, pass, "/topic/"+topicB, `[{"Value":"a"}]`) }, http.StatusForbidden, topicB},
		"consume another tenant's topic": {
			func() response { return gw.get(t, userA, pass, "/topic/"+topicB) }, http.StatusForbidden, topicB},
		"read-only user produces": {
			func() response { return gw.post(t, readerA, tb.passwords[readerA], path, `[{"Value":"a"}]`) }, http.StatusForbidden, "write"},
		"unknown topic":         {func() response { return gw.get(t, userA, pass, "/topic/team-a.app.nope") }, http.StatusNotFound, "team-a.app.nope"},
		"produce unknown topic": {func() response { return gw.post(t, userA, pass, "/topic/team-a.app.nope", `[{"Value":"a"}]`) }, http.StatusNotFound, "does not exist"},
		"not JSON":              {func() response { return gw.post(t, userA, pass, path, `hello`) }, http.StatusBadRequest, "JSON array"},
		"object, not array":     {func() response { return gw.post(t, userA, pass, path, `{"Value":"a"}`) }, http.StatusBadRequest, "JSON array"},
		"empty array":           {func() response { return gw.post(t, userA, pass, path, `[]`) }, http.StatusBadRequest, "no message"},
		"missing Value":         {func() response { return gw.post(t, userA, pass, path, `[{"Value":"a"},{"Key":"k"}]`) }, http.StatusBadRequest, "message 2: Value is required"},
		"misspelt field":        {func() response { return gw.post(t, userA, pass, path, `[{"Valeu":"a"}]`) }, http.StatusBadRequest, `"Valeu"`},
		"Value not a string":    {func() response { return gw.post(t, userA, pass, path, `[{"Value":{"a":1}}]`) }, http.StatusBadRequest, "Value"},
		"trailing garbage":      {func() response { return gw.post(t, userA, pass, path, `[{"Value":"a"}] x`) }, http.StatusBadRequest, "after the JSON"},
		"invalid UTF-8 in JSON": {func() response { return gw.post(t, userA, pass, path, "[{\"Value\":\"\xff\"}]") }, http.StatusBadRequest, "encoding=base64"},
		"bad base64":            {func() response { return gw.post(t, userA, pass, path+"?encoding=base64", `[{"Value":"***"}]`) }, http.StatusBadRequest, "base64"},
		"partition out of range": {
			func() response { return gw.post(t, userA, pass, path, `[{"Value":"a","Partition":7}]`) }, http.StatusBadRequest, "partition"},
		"bad limit":             {func() response { return gw.get(t, userA, pass, path+"?limit=0") }, http.StatusBadRequest, "limit"},
		"limit too large":       {func() response { return gw.get(t, userA, pass, path+"?limit=100000") }, http.StatusBadRequest, "limit"},
		"bad timeout":           {func() response { return gw.get(t, userA, pass, path+"?timeout=soon") }, http.StatusBadRequest, "timeout"},
		"bad group":             {func() response { return gw.get(t, userA, pass, path+"?group=a/b") }, http.StatusBadRequest, "group"},
		"bad format":            {func() response { return gw.get(t, userA, pass, path+"?format=xml") }, http.StatusBadRequest, "format"},
		"bad topic name":        {func() response { return gw.get(t, userA, pass, "/topic/a%20b") }, http.StatusBadRequest, "topic name"},
		"body too large":        {func() response { return gw.post(t, userA, pass, path+"?format=raw", strings.Repeat("x", 2001)) }, http.StatusRequestEntityTooLarge, "2000"},
		"message too large":     {func() response { return gw.post(t, userA, pass, path, `[{"Value":"`+strings.Repeat("x", 101)+`"}]`) }, http.StatusRequestEntityTooLarge, "100"},
		"raw message too large": {func() response { return gw.post(t, userA, pass, path+"?format=raw", strings.Repeat("x", 101)) }, http.StatusRequestEntityTooLarge, "100"},
		"too many messages": {func() response {
			return gw.post(t, userA, pass, path, `[{"Value":"1"},{"Value":"2"},{"Value":"3"},{"Value":"4"}]`)
		}, http.StatusRequestEntityTooLarge, "4 messages"},
		"wrong method":  {func() response { return gw.do(t, http.MethodDelete, path, userA, pass, "", nil) }, http.StatusMethodNotAllowed, "GET, POST"},
		"unknown route": {func() response { return gw.get(t, userA, pass, "/queues") }, http.StatusNotFound, "/topic/"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := c.do()
			expectStatus(t, r, c.status)
			e := decode[apiError](t, r)
			if e.Status != c.status || !strings.Contains(e.Message, c.mentioning) {
				t.Fatalf("error %+v should have status %d and mention %q", e, c.status, c.mentioning)
			}
			if strings.Contains(string(r.body), pass) {
				t.Fatal("a password reached an error message")
			}
			if c.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}

	// None of the refused requests wrote anything.
	got := decode[[]message](t, gw.get(t, userA, pass, path))
	if len(got) != 0 {
		t.Fatalf("refused requests wrote messages: %q", values(got))
	}
	// A read-only user consumes.
	expectStatus(t, gw.post(t, userA, pass, path, `[{"Value":"for the reader"}]`), http.StatusOK)
	got = decode[[]message](t, gw.get(t, readerA, tb.passwords[readerA], path))
	if !slices.Equal(values(got), []string{"for the reader"}) {
		t.Fatalf("reader got %q", values(got))
	}
}

// A long poll waits for a message posted after it started.
func TestLongPollWaitsForAMessage(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb)
	pass := tb.passwords[userA]
	path := "/topic/" + topicA
	// Join the group first, so the long poll below waits on an assigned
	// member.
	expectStatus(t, gw.get(t, userA, pass, path), http.StatusOK)

	polled := make(chan response, 1)
	go func() { polled <- gw.get(t, userA, pass, path+"?timeout=20") }()
	time.Sleep(300 * time.Millisecond)
	expectStatus(t, gw.post(t, userA, pass, path, `[{"Value":"late"}]`), http.StatusOK)
	r := <-polled
	expectStatus(t, r, http.StatusOK)
	if got := values(decode[[]message](t, r)); !slices.Equal(got, []string{"late"}) {
		t.Fatalf("long poll returned %q, want the late message", got)
	}
}

// HEAD must not consume: the messages would go into a body nobody reads.
func TestHeadDoesNotConsume(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb)
	pass := tb.passwords[userA]
	path := "/topic/" + topicA
	expectStatus(t, gw.post(t, userA, pass, path, `[{"Value":"kept"}]`), http.StatusOK)
	expectStatus(t, gw.do(t, http.MethodHead, path, userA, pass, "", nil), http.StatusMethodNotAllowed)
	if got := values(decode[[]message](t, gw.get(t, userA, pass, path))); !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("after a HEAD the group got %q", got)
	}
}

// The keyless messages of one request stay together, in order, on a
// topic with several partitions.
func TestKeylessMessagesOfARequestKeepTheirOrder(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb)
	pass := tb.passwords[userA]
	var batch []string
	var want []string
	for i := range 20 {
		batch = append(batch, fmt.Sprintf(`{"Value":"m%02d"}`, i))
		want = append(want, fmt.Sprintf("m%02d", i))
	}
	placed := decode[[]placement](t, gw.post(t, userA, pass, "/topic/"+topicA3, "["+strings.Join(batch, ",")+"]"))
	for i, p := range placed {
		if p.Partition != placed[0].Partition || p.Offset != placed[0].Offset+int64(i) {
			t.Fatalf("message %d landed at %+v, apart from the first at %+v", i, p, placed[0])
		}
	}
	got := values(decode[[]message](t, gw.get(t, userA, pass, "/topic/"+topicA3+"?limit=100")))
	if !slices.Equal(got, want) {
		t.Fatalf("GET returned %q, want %q", got, want)
	}
}
