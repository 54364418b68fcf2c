package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"
)

// The consume response's JSON, as encoding/json writes it: the reference
// the one-pass encoder is checked against.

// consumed is one message of a consume response.
type consumed struct {
	Topic     string       `json:"Topic"`
	Partition int32        `json:"Partition"`
	Offset    int64        `json:"Offset"`
	Timestamp time.Time    `json:"Timestamp"`
	Key       *string      `json:"Key,omitempty"`
	Value     *string      `json:"Value"`
	Headers   []jsonHeader `json:"Headers,omitempty"`
	// Encoding is "base64" when Key, Value and header values are base64:
	// on request (?encoding=base64), or because one of them is not valid
	// UTF-8 and would otherwise be mangled.
	Encoding string `json:"Encoding,omitempty"`
}

func encodeConsumed(m *sarama.ConsumerMessage, base64Values bool) consumed {
	useBase64 := base64Values || !utf8.Valid(m.Value) || !utf8.Valid(m.Key)
	for _, h := range m.Headers {
		useBase64 = useBase64 || !utf8.Valid(h.Value)
	}
	text := func(b []byte) string {
		if useBase64 {
			return base64.StdEncoding.EncodeToString(b)
		}
		return string(b)
	}
	c := consumed{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp}
	if m.Key != nil {
		k := text(m.Key)
		c.Key = &k
	}
	if m.Value != nil {
		v := text(m.Value)
		c.Value = &v
	}
	for _, h := range m.Headers {
		c.Headers = append(c.Headers, jsonHeader{Key: string(h.Key), Value: text(h.Value)})
	}
	if useBase64 {
		c.Encoding = "base64"
	}
	return c
}

// FuzzConsumeEncodingIsEncodingJSONs: for any key, value and header bytes,
// valid UTF-8 or not, the one-pass encoder writes what encoding/json writes.
func FuzzConsumeEncodingIsEncodingJSONs(f *testing.F) {
	for _, seed := range []struct {
		key, value, hkey, hvalue string
		base64                   bool
	}{
		{"k", "hello", "", "", false},
		{"", "<a href=\"x\">&amp;</a>\u2028\u2029\b\f\n\r\t\x00\x1f\x7f é 😀", "h", "v", false},
		{"\xff", "v", "", "", false},
		{"k", "v", "h\xff", "\xfe", false},
		{"k", "v", "h", "v", true},
	} {
		f.Add([]byte(seed.key), []byte(seed.value), []byte(seed.hkey), []byte(seed.hvalue), seed.base64, true, false)
	}
	f.Fuzz(func(t *testing.T, key, value, hkey, hvalue []byte, base64Values, withKey, nilValue bool) {
		m := &sarama.ConsumerMessage{Topic: "team-a.app.orders", Partition: 2, Offset: 12345,
			Timestamp: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC), Value: value}
		if withKey {
			m.Key = key
		}
		if nilValue {
			m.Value = nil
		}
		if len(hkey) > 0 {
			m.Headers = []*sarama.RecordHeader{{Key: hkey, Value: hvalue}, {Key: []byte("b"), Value: nil}}
		}
		// The encoder reuses a topic and a timestamp from one message to the
		// next: another topic, then the first again, then the same instant
		// in another zone.
		msgs := []*sarama.ConsumerMessage{m,
			{Topic: "t", Timestamp: time.Unix(0, 0).UTC(), Value: []byte("second")},
			{Topic: m.Topic, Timestamp: m.Timestamp, Value: []byte("third")},
			{Topic: m.Topic, Timestamp: m.Timestamp.In(time.FixedZone("", 3600)), Value: []byte("fourth")}}
		var want bytes.Buffer
		out := make([]consumed, len(msgs))
		for i, m := range msgs {
			out[i] = encodeConsumed(m, base64Values)
		}
		if err := json.NewEncoder(&want).Encode(out); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		if err := writeConsumedJSON(rec, msgs, base64Values); err != nil {
			t.Fatal(err)
		}
		if got := rec.Body.String(); got != want.String() {
			t.Fatalf("one-pass encoder:\n%s\nencoding/json:\n%s", got, want.String())
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
	})
}

func BenchmarkEncodeConsumed(b *testing.B) {
	msgs := make([]*sarama.ConsumerMessage, 1000)
	for i := range msgs {
		msgs[i] = &sarama.ConsumerMessage{Topic: "team-a.app.orders", Partition: int32(i % 3), Offset: int64(i),
			Timestamp: time.Now(), Value: []byte(strings.Repeat("x", 100))}
	}
	b.Run("one-pass", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := writeConsumedJSON(httptest.NewRecorder(), msgs, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out := make([]consumed, len(msgs))
			for i, m := range msgs {
				out[i] = encodeConsumed(m, false)
			}
			if err := writeJSON(httptest.NewRecorder(), 200, out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
