package server_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"qaas.dev/qaas/internal/apicontract"
)

// The gateway's answers in these tests are checked against the API's
// OpenAPI description (gateway/httpapi/openapi.json): the clients of
// startGateway and startReplicas go through apicontract's Transport, so
// the document cannot drift from what the gateway does. The peer API is
// not part of the document and no client here calls it; /metrics is
// documented (its body is text, not checked beyond its media type).

func TestMain(m *testing.M) {
	code := m.Run()
	if doc, err := apicontract.Load(); testing.Verbose() && err == nil {
		fmt.Printf("openapi.json: %d answers of the gateway checked, %d closed before they were read (not checked)\n",
			doc.Checked.Load(), doc.Unread.Load())
	}
	os.Exit(code)
}

// withContract makes client check every answer it gets against
// openapi.json, each mismatch failing t when the test ends. Benchmarks are
// left alone: the checks would count in the latencies they measure.
func withContract(t testing.TB, client *http.Client) {
	t.Helper()
	if _, bench := t.(*testing.B); bench {
		return
	}
	apicontract.Watch(t, client)
}
