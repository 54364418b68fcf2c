package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"qaas.dev/qaas/gateway/kafka"
)

var testLimits = bodyLimits{maxMessageBytes: 64, maxBatchMessages: 4}

func TestDecodeProduceBody(t *testing.T) {
	p := func(n int32) int32 { return n }
	cases := map[string]struct {
		body    string
		base64  bool
		want    []kafka.Message
		status  int
		message string
	}{
		"OVH's example": {
			body: `[{"Value": "first message"},{"Value":"second message"}]`,
			want: []kafka.Message{{Value: []byte("first message"), Partition: -1}, {Value: []byte("second message"), Partition: -1}},
		},
		"every extension": {
			body: `[{"Key":"k","Value":"v","Headers":[{"Key":"a","Value":"1"},{"Key":"a","Value":"2"}],"Partition":2}]`,
			want: []kafka.Message{{Key: []byte("k"), Value: []byte("v"), Partition: p(2),
				Headers: []kafka.Header{{Key: "a", Value: []byte("1")}, {Key: "a", Value: []byte("2")}}}},
		},
		"empty value is a message": {body: `[{"Value":""}]`, want: []kafka.Message{{Value: []byte{}, Partition: -1}}},
		"base64 values": {
			body: `[{"Key":"/w==","Value":"AAEC","Headers":[{"Key":"h","Value":"/v8="}]}]`, base64: true,
			want: []kafka.Message{{Key: []byte{0xff}, Value: []byte{0, 1, 2}, Partition: -1, Headers: []kafka.Header{{Key: "h", Value: []byte{0xfe, 0xff}}}}},
		},
		"surrounding whitespace":   {body: " \n[{\"Value\":\"a\"}]\n", want: []kafka.Message{{Value: []byte("a"), Partition: -1}}},
		"empty body":               {body: ``, status: 400, message: "empty"},
		"not an array":             {body: `{"Value":"a"}`, status: 400, message: "JSON array"},
		"array of strings":         {body: `["a"]`, status: 400, message: "message 1: must be an object"},
		"no value":                 {body: `[{"Key":"a"}]`, status: 400, message: "message 1: Value is required"},
		"null value":               {body: `[{"Value":null}]`, status: 400, message: "Value is required"},
		"number value":             {body: `[{"Value":1}]`, status: 400, message: "field Value must not be a JSON number"},
		"unknown field":            {body: `[{"Value":"a","Topic":"x"}]`, status: 400, message: `unknown field "Topic"`},
		"two arrays":               {body: `[{"Value":"a"}][{"Value":"b"}]`, status: 400, message: "after the JSON value"},
		"cut short":                {body: `[{"Value":"a"}`, status: 400, message: "cut short"},
		"negative partition":       {body: `[{"Value":"a","Partition":-1}]`, status: 400, message: "Partition -1 is negative"},
		"empty header key":         {body: `[{"Value":"a","Headers":[{"Value":"x"}]}]`, status: 400, message: "header 1 has an empty Key"},
		"bad base64":               {body: `[{"Value":"%%"}]`, base64: true, status: 400, message: "Value is not valid base64"},
		"too many messages":        {body: `[{"Value":"1"},{"Value":"2"},{"Value":"3"},{"Value":"4"},{"Value":"5"}]`, status: 413, message: "5 messages, more than the 4"},
		"value too large":          {body: `[{"Value":"` + strings.Repeat("x", 65) + `"}]`, status: 413, message: "message 1: key, value and headers are 65 bytes, more than the 64"},
		"key and headers count":    {body: `[{"Value":"` + strings.Repeat("x", 61) + `","Key":"kk","Headers":[{"Key":"h","Value":"v"}]}]`, status: 413, message: "are 65 bytes"},
		"invalid UTF-8":            {body: "[{\"Value\":\"a\xffb\"}]", status: 400, message: "not valid UTF-8"},
		"lone high surrogate":      {body: `[{"Value":"\ud800"}]`, status: 400, message: "?encoding=base64"},
		"lone low surrogate":       {body: `[{"Value":"x\udc00"}]`, status: 400, message: "not valid UTF-8"},
		"reversed pair":            {body: `[{"Value":"\udc00\ud800"}]`, status: 400, message: "not valid UTF-8"},
		"repeated Value":           {body: `[{"Value":"a","Value":"b"}]`, status: 400, message: "message 1: field Value is given more than once"},
		"Value in two cases":       {body: `[{"Value":"a"},{"Value":"a","value":"b"}]`, status: 400, message: "message 2: field value is given more than once"},
		"repeated header Key":      {body: `[{"Value":"a","Headers":[{"Key":"h","Key":"i","Value":"v"}]}]`, status: 400, message: "field Key is given more than once"},
		"same names in siblings":   {body: `[{"Value":"a","Headers":[{"Key":"h","Value":"1"},{"Key":"h","Value":"2"}]}]`, want: []kafka.Message{{Value: []byte("a"), Partition: -1, Headers: []kafka.Header{{Key: "h", Value: []byte("1")}, {Key: "h", Value: []byte("2")}}}}},
		"surrogate pair":           {body: `[{"Value":"\ud83d\ude00"}]`, want: []kafka.Message{{Value: []byte("😀"), Partition: -1}}},
		"escaped backslash then u": {body: `[{"Value":"\\ud800"}]`, want: []kafka.Message{{Value: []byte(`\ud800`), Partition: -1}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := decodeProduceBody([]byte(c.body), c.base64, testLimits)
			if c.status != 0 {
				var reqErr *requestError
				if !errors.As(err, &reqErr) || reqErr.status != c.status || !strings.Contains(reqErr.message, c.message) {
					t.Fatalf("error %v, want status %d mentioning %q", err, c.status, c.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sameMessages(got, c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func sameMessages(a, b []kafka.Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || (a[i].Key == nil) != (b[i].Key == nil) ||
			!bytes.Equal(a[i].Value, b[i].Value) || a[i].Partition != b[i].Partition || len(a[i].Headers) != len(b[i].Headers) {
			return false
		}
		for j := range a[i].Headers {
			if a[i].Headers[j].Key != b[i].Headers[j].Key || !bytes.Equal(a[i].Headers[j].Value, b[i].Headers[j].Value) {
				return false
			}
		}
	}
	return true
}

// FuzzDecodeProduceBody: whatever the body, the decoder returns messages
// within the limits or a 400/413, never panics, and what it accepts it
// reads back identically once re-encoded.
func FuzzDecodeProduceBody(f *testing.F) {
	for _, seed := range []string{
		`[{"Value": "first message"},{"Value":"second message"}]`,
		`[{"Key":"k","Value":"v","Headers":[{"Key":"a","Value":"1"}],"Partition":0}]`,
		`[{"Value":"AAEC"}]`,
		`[{"Value":"\u00e9\ud83d\ude00"}]`,
		`{"my": {"complex": ["json", "here"]}}`,
		`[]`, `[{}]`, `[{"Value":1}]`, `[{"Value":"a"}] x`, `[`, ``, `null`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, base64Values bool) {
		msgs, err := decodeProduceBody(body, base64Values, testLimits)
		if err != nil {
			var reqErr *requestError
			if !errors.As(err, &reqErr) || (reqErr.status != http.StatusBadRequest && reqErr.status != http.StatusRequestEntityTooLarge) {
				t.Fatalf("error %v is not a 400 or 413", err)
			}
			if msgs != nil {
				t.Fatal("messages returned with an error")
			}
			return
		}
		if len(msgs) == 0 || len(msgs) > testLimits.maxBatchMessages {
			t.Fatalf("%d messages accepted", len(msgs))
		}
		reencoded, err := json.Marshal(encodeForTest(msgs, base64Values))
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeProduceBody(reencoded, base64Values, testLimits)
		if err != nil {
			t.Fatalf("re-encoded body %s refused: %v", reencoded, err)
		}
		for i := range msgs {
			if recordSize(msgs[i]) > testLimits.maxMessageBytes || msgs[i].Partition < -1 {
				t.Fatalf("message %d breaks the limits: %+v", i, msgs[i])
			}
		}
		if !sameMessages(msgs, again) {
			t.Fatalf("round trip changed the messages: %+v vs %+v", msgs, again)
		}
	})
}

func encodeForTest(msgs []kafka.Message, base64Values bool) []produceMessage {
	text := func(b []byte) string {
		if base64Values {
			return base64.StdEncoding.EncodeToString(b)
		}
		return string(b)
	}
	out := make([]produceMessage, len(msgs))
	for i, m := range msgs {
		v := text(m.Value)
		out[i].Value = &v
		if m.Key != nil {
			k := text(m.Key)
			out[i].Key = &k
		}
		if m.Partition >= 0 {
			p := m.Partition
			out[i].Partition = &p
		}
		for _, h := range m.Headers {
			out[i].Headers = append(out[i].Headers, jsonHeader{Key: h.Key, Value: text(h.Value)})
		}
	}
	return out
}
