//go:build e2e

package e2e

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"testing"

	"qaas.dev/qaas/internal/apicontract"
)

// What curl writes down with curlCapture reads back as the request it sent
// and the answer it got, over HTTP/2 with TLS as through the Ingress and
// over HTTP/1.1, so that README's curl lines are checked on what they got.
func TestCurlAnswersReadBack(t *testing.T) {
	doc, err := apicontract.Load()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("WWW-Authenticate", `Basic realm="qaas", charset="UTF-8"`)
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"status":401,"error":"Unauthorized","message":"` + r.Method + `"}`))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, ca, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))

	for proto, wantProto := range map[string]string{"--http2": "HTTP/2", "--http1.1": "HTTP/1.1"} {
		t.Run(proto, func(t *testing.T) {
			dir := t.TempDir()
			line := "curl -sS --cacert " + ca + " " + proto + " " + curlCapture + ` -XPOST "` + srv.URL + `/topic/t?format=raw" -d x >` + curlRequestFile
			if out, err := exec.Command("bash", "-c", "cd "+dir+" && "+line).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", line, err, out)
			}
			req, resp, body, err := readCurlAnswer(dir)
			if err != nil {
				t.Fatal(err)
			}
			if req.Method != "POST" || req.URL.String() != srv.URL+"/topic/t?format=raw" || resp.StatusCode != 401 || resp.Proto != wantProto ||
				resp.Header.Get("Www-Authenticate") == "" || string(body) != `{"status":401,"error":"Unauthorized","message":"POST"}` {
				t.Fatalf("read back %s %s: %s %d %v %q", req.Method, req.URL, resp.Proto, resp.StatusCode, resp.Header, body)
			}
			if problems := doc.Check(req, resp, body); len(problems) > 0 {
				t.Fatalf("a documented answer does not match: %q", problems)
			}
		})
	}
}
