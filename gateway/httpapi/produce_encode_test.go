package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"qaas.dev/qaas/gateway/kafka"
)

// produced says where one message of a produce request landed, in the
// order of the request.
type produced struct {
	Topic     string `json:"Topic"`
	Partition int32  `json:"Partition"`
	Offset    int64  `json:"Offset"`
}

// A produce's answer is what encoding/json writes for []produced.
func TestProducedEncodingIsEncodingJSONs(t *testing.T) {
	for _, placements := range [][]kafka.Placement{
		{{Partition: 0, Offset: 0}},
		{{Partition: 2, Offset: 9223372036854775807}, {Partition: 2147483647, Offset: 1}, {Partition: 1, Offset: 42}},
	} {
		const topic = "team-a.app.orders_2-x"
		out := make([]produced, len(placements))
		for i, p := range placements {
			out[i] = produced{Topic: topic, Partition: p.Partition, Offset: p.Offset}
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(out); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		writeProducedJSON(rec, topic, placements)
		if rec.Body.String() != want.String() || rec.Header().Get("Content-Type") != "application/json" || rec.Code != 200 {
			t.Fatalf("got %d %q %s, want %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body, want.String())
		}
	}
}
