package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"qaas.dev/qaas/gateway/httpapi"
)

// The gateway's answers in these tests are checked against the API's
// OpenAPI description (gateway/httpapi/openapi.json): the clients of
// startGateway and startReplicas go through a contractTransport, so the
// document cannot drift from what the gateway does. The peer API is not
// part of the document and no client here calls it; /metrics is
// documented (its body is text, not checked beyond its media type).

var (
	contractOnce sync.Once
	contractV    validator.Validator
	contractErr  error
	// contractMu serializes validations: the validator is not documented
	// as safe for concurrent use.
	contractMu sync.Mutex

	// Totals over the test binary, shown by TestMain with -v.
	answersChecked, answersUnread atomic.Int64
)

// apiContract is the validator of openapi.json, built once; a document
// that libopenapi cannot model or that is not valid OpenAPI fails every
// test that starts a gateway.
func apiContract(t testing.TB) validator.Validator {
	t.Helper()
	contractOnce.Do(func() {
		doc, err := libopenapi.NewDocument(httpapi.OpenAPIDocument())
		if err != nil {
			contractErr = err
			return
		}
		if _, err := doc.BuildV3Model(); err != nil {
			contractErr = fmt.Errorf("building the model: %w", err)
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			contractErr = fmt.Errorf("building the validator: %v", errs)
			return
		}
		if ok, verrs := v.ValidateDocument(); !ok {
			contractErr = fmt.Errorf("the document is not valid OpenAPI: %v", verrs)
			return
		}
		contractV = v
	})
	if contractErr != nil {
		t.Fatalf("openapi.json: %v", contractErr)
	}
	return contractV
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testing.Verbose() {
		fmt.Printf("openapi.json: %d answers of the gateway checked, %d closed before they were read (not checked)\n",
			answersChecked.Load(), answersUnread.Load())
	}
	os.Exit(code)
}

// withContract wraps the client's transport so that every answer it gets
// is checked against openapi.json, each mismatch failing t when the test
// ends. Benchmarks are left alone: the checks would count in the latencies
// they measure.
func withContract(t testing.TB, client *http.Client) {
	t.Helper()
	if _, bench := t.(*testing.B); bench {
		return
	}
	ct := &contractTransport{next: client.Transport, v: apiContract(t)}
	client.Transport = ct
	t.Cleanup(func() {
		ct.mu.Lock()
		defer ct.mu.Unlock()
		for _, f := range ct.failures {
			t.Errorf("an answer does not match openapi.json: %s", f)
		}
	})
}

// unreadDrainLimit is the largest body of known length that is read to
// its end when the client closes it unread, to be checked: larger ones
// and those of unknown length are left unread, as a client that hangs up
// in the middle of a response must be able to.
const unreadDrainLimit = 64 << 10

// contractTransport checks each answer once its body was read to the end.
type contractTransport struct {
	next http.RoundTripper
	v    validator.Validator

	mu       sync.Mutex
	failures []string
}

func (ct *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := ct.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	resp.Body = &checkedBody{ReadCloser: resp.Body, ct: ct, req: req, resp: resp}
	return resp, nil
}

// checkedBody keeps what the client reads of a body and checks the answer
// when the body ends.
type checkedBody struct {
	io.ReadCloser
	ct      *contractTransport
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
			answersUnread.Add(1)
		}
	}
	return b.ReadCloser.Close()
}

// check validates one answer against the document and records what does
// not match.
func (ct *contractTransport) check(req *http.Request, resp *http.Response, body []byte) {
	answersChecked.Add(1)
	copied := *resp
	copied.Body = io.NopCloser(bytes.NewReader(body))
	contractMu.Lock()
	ok, errs := ct.v.ValidateHttpResponse(req, &copied)
	contractMu.Unlock()
	if ok {
		return
	}
	var problems []string
	for _, e := range errs {
		if e.IsPathMissingError() || e.IsOperationMissingError() {
			// The one exception: a request the document has no operation
			// for (a path no route serves or not in canonical form, a
			// method /topic/{topic} does not serve). The document's
			// description says what those get, checked here by hand.
			if p := undocumentedAnswer(req, resp, body); p != "" {
				problems = append(problems, p)
			}
			continue
		}
		problem := e.Message
		if e.Reason != "" {
			problem += ": " + e.Reason
		}
		for _, se := range e.SchemaValidationErrors {
			problem += fmt.Sprintf("; %s at %s", se.Reason, strings.Join(se.InstancePath, "/"))
		}
		problems = append(problems, problem)
	}
	if len(problems) == 0 {
		return
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.failures = append(ct.failures, fmt.Sprintf("%s %s: %d: %s; body %.300q", req.Method, req.URL.RequestURI(), resp.StatusCode, strings.Join(problems, "; "), body))
}

// undocumentedAnswer checks the answer to a request the document has no
// operation for, as openapi.json's description states it: a JSON Error,
// 405 with Allow for a method /topic/{topic} (or its /commit, /ack and /lag)
// does not serve, 404 otherwise, unless the request was refused before
// routing (431 for its headers' size, 503 with Retry-After over the
// connection cap).
func undocumentedAnswer(req *http.Request, resp *http.Response, body []byte) string {
	want := http.StatusNotFound
	if topic, rest, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/topic/"), "/"); strings.HasPrefix(req.URL.Path, "/topic/") && topic != "" &&
		(rest == "" && !strings.HasSuffix(req.URL.Path, "/") || rest == "commit" || rest == "ack" || rest == "lag") {
		want = http.StatusMethodNotAllowed
	}
	switch resp.StatusCode {
	case want, http.StatusRequestHeaderFieldsTooLarge, http.StatusServiceUnavailable:
	default:
		return fmt.Sprintf("a request the document has no operation for got %d, want %d", resp.StatusCode, want)
	}
	if resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
		return "405 without Allow"
	}
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		return "503 without Retry-After"
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Sprintf("Content-Type %q, want application/json", ct)
	}
	var e struct {
		Status  int    `json:"status"`
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Status != resp.StatusCode || e.Error != http.StatusText(resp.StatusCode) || e.Message == "" {
		return fmt.Sprintf("the body is not the Error of status %d (%v)", resp.StatusCode, err)
	}
	return ""
}
