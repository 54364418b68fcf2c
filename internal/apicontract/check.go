package apicontract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Check validates one answer, whose body was read in full, against the
// document, and returns what does not match it: nothing when it matches.
func (d *Document) Check(req *http.Request, resp *http.Response, body []byte) []string {
	d.Checked.Add(1)
	copied := *resp
	copied.Body = io.NopCloser(bytes.NewReader(body))
	d.mu.Lock()
	ok, errs := d.v.ValidateHttpResponse(req, &copied)
	d.mu.Unlock()
	if ok {
		return nil
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
	return problems
}

// Describe says in one line which answer did not match and why.
func Describe(req *http.Request, resp *http.Response, body []byte, problems []string) string {
	return fmt.Sprintf("%s %s: %d: %s; body %.300q", req.Method, req.URL.RequestURI(), resp.StatusCode, strings.Join(problems, "; "), body)
}

// undocumentedAnswer checks the answer to a request the document has no
// operation for, as openapi.json's description states it: a JSON Error,
// 405 with Allow for a method /topic/{topic} (or its /commit, /ack, /offsets and /lag)
// does not serve, 404 otherwise, unless the request was refused before
// routing (431 for its headers' size, 503 with Retry-After over the
// connection cap).
func undocumentedAnswer(req *http.Request, resp *http.Response, body []byte) string {
	want := http.StatusNotFound
	if topic, rest, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/topic/"), "/"); strings.HasPrefix(req.URL.Path, "/topic/") && topic != "" &&
		(rest == "" && !strings.HasSuffix(req.URL.Path, "/") || rest == "commit" || rest == "ack" || rest == "offsets" || rest == "lag") {
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
