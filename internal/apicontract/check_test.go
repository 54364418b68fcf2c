package apicontract

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Check tells answers the document describes from those it does not, for
// documented operations and for requests the document has no operation for.
func TestCheckTellsMatchingAnswersFromOthers(t *testing.T) {
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	unauthorized := http.Header{"Content-Type": {"application/json"}, "Www-Authenticate": {`Basic realm="qaas"`}}
	jsonType := http.Header{"Content-Type": {"application/json"}}
	cases := map[string]struct {
		method, target string
		status         int
		header         http.Header
		body           string
		wantProblem    string
	}{
		"a 401 with its Error and WWW-Authenticate matches": {
			"GET", "/topic/t", 401, unauthorized, `{"status":401,"error":"Unauthorized","message":"no"}`, ""},
		"a 401 whose Error lacks its message does not": {
			"GET", "/topic/t", 401, unauthorized, `{"status":401,"error":"Unauthorized"}`, "message"},
		"a consume answered with an object instead of an array does not": {
			"GET", "/topic/t", 200, jsonType, `{"Value":"x"}`, "array"},
		"an unknown path answered with a JSON 404 Error matches": {
			"GET", "/nowhere", 404, jsonType, `{"status":404,"error":"Not Found","message":"no route"}`, ""},
		"an unknown path answered in plain text does not": {
			"GET", "/nowhere", 404, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "404 page not found\n", "Content-Type"},
		"a method /topic/{topic} does not serve answered 404 does not": {
			"DELETE", "/topic/t", 404, jsonType, `{"status":404,"error":"Not Found","message":"no route"}`, "want 405"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, "https://gateway.example.com"+c.target, nil)
			resp := &http.Response{StatusCode: c.status, Header: c.header, Body: io.NopCloser(strings.NewReader(c.body)), Request: req}
			problems := doc.Check(req, resp, []byte(c.body))
			switch {
			case c.wantProblem == "" && len(problems) > 0:
				t.Fatalf("problems %q, want none", problems)
			case c.wantProblem != "" && !strings.Contains(strings.Join(problems, "; "), c.wantProblem):
				t.Fatalf("problems %q, want one mentioning %q", problems, c.wantProblem)
			}
		})
	}
}
