package apicontract

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// Transport is an http.RoundTripper that checks each answer against the
// document once its body was read to the end, and keeps what did not
// match.
type Transport struct {
	next http.RoundTripper
	doc  *Document

	// IsProxyAnswer, when set, recognizes the answers that a proxy in
	// front of the gateway (an Ingress controller) wrote itself: those are
	// not the gateway's, are counted in ProxyAnswers and are not checked.
	IsProxyAnswer func(resp *http.Response, body []byte) bool
	ProxyAnswers  atomic.Int64

	mu       sync.Mutex
	failures []string
}

// Watch makes client check every answer it reads against openapi.json,
// each mismatch failing t when the test ends, and returns the transport it
// installed.
func Watch(t testing.TB, client *http.Client) *Transport {
	t.Helper()
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	next := client.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	ct := &Transport{next: next, doc: doc}
	client.Transport = ct
	t.Cleanup(func() {
		failures := ct.Failures()
		for _, f := range failures[:min(len(failures), shownFailures)] {
			t.Errorf("an answer does not match openapi.json: %s", f)
		}
		if len(failures) > shownFailures {
			t.Errorf("and %d more answers do not match openapi.json", len(failures)-shownFailures)
		}
	})
	return ct
}

// shownFailures is how many mismatches a test shows one by one: a client
// that sends thousands of requests could otherwise bury the first.
const shownFailures = 20

// Failures are the answers that did not match, one line each.
func (ct *Transport) Failures() []string {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return append([]string(nil), ct.failures...)
}

func (ct *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := ct.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	resp.Body = &checkedBody{ReadCloser: resp.Body, ct: ct, req: req, resp: resp}
	return resp, nil
}

// unreadDrainLimit is the largest body of known length that is read to
// its end when the client closes it unread, to be checked: larger ones
// and those of unknown length are left unread, as a client that hangs up
// in the middle of a response must be able to.
const unreadDrainLimit = 64 << 10

// checkedBody keeps what the client reads of a body and checks the answer
// when the body ends.
type checkedBody struct {
	io.ReadCloser
	ct      *Transport
	req     *http.Request
	resp    *http.Response
	read    bytes.Buffer
	checked bool
}

func (b *checkedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.read.Write(p[:n])
	if err == io.EOF && !b.checked {
		b.checked = true
		b.ct.check(b.req, b.resp, b.read.Bytes())
	}
	return n, err
}

func (b *checkedBody) Close() error {
	if !b.checked {
		if b.resp.ContentLength >= 0 && b.resp.ContentLength <= unreadDrainLimit {
			_, _ = io.Copy(io.Discard, b)
		}
		if !b.checked {
			b.checked = true
			b.ct.doc.Unread.Add(1)
		}
	}
	return b.ReadCloser.Close()
}

func (ct *Transport) check(req *http.Request, resp *http.Response, body []byte) {
	if ct.IsProxyAnswer != nil && ct.IsProxyAnswer(resp, body) {
		ct.ProxyAnswers.Add(1)
		return
	}
	problems := ct.doc.Check(req, resp, body)
	if len(problems) == 0 {
		return
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.failures = append(ct.failures, Describe(req, resp, body, problems))
}
