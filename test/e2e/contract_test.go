//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"qaas.dev/qaas/internal/apicontract"
)

// Every answer the suite gets from a gateway is checked against
// openapi.json: those of its Go clients through apicontract's Transport
// (ingressEndpoint, plainEndpoint), those of README's curl lines from what
// curl wrote down (checkCurlAnswer).

// curlCapture are the curl options that write down an answer in the
// command's directory: its headers, its body and, on stdout (redirected to
// curlRequestFile), the request's method and URL.
const (
	curlCapture     = `--dump-header answer.headers --output answer.body --write-out '%{method} %{url_effective}\n'`
	curlRequestFile = "answer.request"
)

// checkCurlAnswer checks the answer a curl line run with curlCapture wrote
// down in dir against openapi.json, failing t when it does not match, and
// returns its body. A curl that got no answer wrote nothing: that is the
// line's own failure, and "" is returned.
func checkCurlAnswer(t *testing.T, dir, line string) string {
	t.Helper()
	req, resp, body, err := readCurlAnswer(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatalf("%s: reading what curl wrote down: %v", line, err)
	}
	if ingressOwnAnswer(resp, body) {
		return string(body)
	}
	doc, err := apicontract.Load()
	if err != nil {
		t.Fatal(err)
	}
	if problems := doc.Check(req, resp, body); len(problems) > 0 {
		t.Errorf("%s: the answer does not match openapi.json: %s", line, apicontract.Describe(req, resp, body, problems))
	}
	return string(body)
}

// readCurlAnswer reads back the request and the answer curl wrote down in
// dir.
func readCurlAnswer(dir string) (*http.Request, *http.Response, []byte, error) {
	request, err := os.ReadFile(filepath.Join(dir, curlRequestFile))
	if err != nil {
		return nil, nil, nil, err
	}
	method, url, ok := strings.Cut(strings.TrimSpace(string(request)), " ")
	if !ok {
		return nil, nil, nil, fmt.Errorf("curl wrote %q, want a method and a URL", request)
	}
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	headers, err := os.ReadFile(filepath.Join(dir, "answer.headers"))
	if err != nil {
		return nil, nil, nil, err
	}
	body, err := os.ReadFile(filepath.Join(dir, "answer.body"))
	if err != nil {
		return nil, nil, nil, err
	}
	resp, err := parseCurlHeaders(headers)
	if err != nil {
		return nil, nil, nil, err
	}
	resp.Request = req
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return req, resp, body, nil
}

// parseCurlHeaders reads the status and the header fields of the last
// answer in what curl's --dump-header wrote: blocks of a status line
// ("HTTP/2 200" or "HTTP/1.1 200 OK") and fields, each ended by an empty
// line, an interim answer (100 Continue) before the final one.
func parseCurlHeaders(dump []byte) (*http.Response, error) {
	blocks := bytes.Split(bytes.TrimSpace(dump), []byte("\r\n\r\n"))
	last := append(blocks[len(blocks)-1], "\r\n\r\n"...)
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(last)))
	status, err := r.ReadLine()
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(status)
	if len(fields) < 2 {
		return nil, fmt.Errorf("status line %q", status)
	}
	code, err := strconv.Atoi(fields[1])
	if err != nil {
		return nil, fmt.Errorf("status line %q: %w", status, err)
	}
	header, err := r.ReadMIMEHeader()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return &http.Response{StatusCode: code, Status: strings.Join(fields[1:], " "), Proto: fields[0], Header: http.Header(header)}, nil
}

// ingressOwnAnswer recognizes the answers the Ingress controller (Traefik)
// writes itself rather than a gateway: 404 while no route matches the host
// (before the route is set up, after its Ingress is deleted), 503 while the
// route has no ready backend, 502 or 504 when a backend went away during
// the request. They are plain text with these exact bodies; every answer of
// a gateway to a request of this suite is JSON or its /metrics text.
func ingressOwnAnswer(resp *http.Response, body []byte) bool {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		return false
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return string(body) == "404 page not found\n"
	case http.StatusServiceUnavailable:
		return string(body) == "no available server\n"
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return string(body) == http.StatusText(resp.StatusCode)
	}
	return false
}
