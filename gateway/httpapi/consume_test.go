package httpapi

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestParseConsumeParams(t *testing.T) {
	cases := map[string]struct {
		query   string
		want    consumeParams
		invalid string
	}{
		"defaults":             {query: "", want: consumeParams{limit: DefaultLimit, group: DefaultGroup}},
		"OVH's limit":          {query: "limit=2", want: consumeParams{limit: 2, group: DefaultGroup}},
		"largest limit":        {query: "limit=1000", want: consumeParams{limit: MaxLimit, group: DefaultGroup}},
		"timeout in seconds":   {query: "timeout=5", want: consumeParams{limit: DefaultLimit, group: DefaultGroup, timeout: 5 * time.Second}},
		"fractional seconds":   {query: "timeout=0.25", want: consumeParams{limit: DefaultLimit, group: DefaultGroup, timeout: 250 * time.Millisecond}},
		"timeout as duration":  {query: "timeout=1500ms", want: consumeParams{limit: DefaultLimit, group: DefaultGroup, timeout: 1500 * time.Millisecond}},
		"named group":          {query: "group=billing-v2", want: consumeParams{limit: DefaultLimit, group: "billing-v2"}},
		"raw returns one":      {query: "format=raw&limit=50", want: consumeParams{limit: 1, group: DefaultGroup, raw: true}},
		"base64 on request":    {query: "encoding=base64", want: consumeParams{limit: DefaultLimit, group: DefaultGroup, base64Values: true}},
		"zero limit":           {query: "limit=0", invalid: "limit must be a whole number from 1 to 1000"},
		"limit over the max":   {query: "limit=1001", invalid: "limit"},
		"limit not a number":   {query: "limit=ten", invalid: "limit"},
		"timeout over the max": {query: "timeout=31", invalid: "timeout must be between 0 and 30s"},
		"negative timeout":     {query: "timeout=-1", invalid: "timeout"},
		"timeout nonsense":     {query: "timeout=later", invalid: "timeout must be seconds"},
		"group with a slash":   {query: "group=a/b", invalid: "group must be"},
		"group too long":       {query: "group=" + strings.Repeat("g", 101), invalid: "group"},
		"unknown format":       {query: "format=avro", invalid: `format "avro"`},
		"unknown encoding":     {query: "encoding=hex", invalid: `encoding "hex"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			q, err := url.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseConsumeParams(q)
			if c.invalid != "" {
				var reqErr *requestError
				if !errors.As(err, &reqErr) || reqErr.status != 400 || !strings.Contains(reqErr.message, c.invalid) {
					t.Fatalf("error %v, want a 400 mentioning %q", err, c.invalid)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v (%v), want %+v", got, err, c.want)
			}
		})
	}
}

func TestEncodeConsumedNeverMangles(t *testing.T) {
	cases := map[string]struct {
		msg          sarama.ConsumerMessage
		base64Values bool
		wantValue    string
		wantKey      *string
		wantEncoding string
	}{
		"text stays text": {msg: sarama.ConsumerMessage{Value: []byte("héllo"), Key: []byte("k")}, wantValue: "héllo", wantKey: ptr("k")},
		"invalid UTF-8 value is base64": {
			msg: sarama.ConsumerMessage{Value: []byte{0xff, 0x00}, Key: []byte("k")}, wantValue: "/wA=", wantKey: ptr("aw=="), wantEncoding: "base64"},
		"invalid UTF-8 key makes the whole message base64": {
			msg: sarama.ConsumerMessage{Value: []byte("v"), Key: []byte{0xfe}}, wantValue: "dg==", wantKey: ptr("/g=="), wantEncoding: "base64"},
		"invalid UTF-8 header makes the whole message base64": {
			msg: sarama.ConsumerMessage{Value: []byte("v"), Headers: []*sarama.RecordHeader{{Key: []byte("h"), Value: []byte{0xc3}}}}, wantValue: "dg==", wantEncoding: "base64"},
		"base64 on request":   {msg: sarama.ConsumerMessage{Value: []byte("v")}, base64Values: true, wantValue: "dg==", wantEncoding: "base64"},
		"no key stays absent": {msg: sarama.ConsumerMessage{Value: []byte("v")}, wantValue: "v"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := encodeConsumed(&c.msg, c.base64Values)
			if *got.Value != c.wantValue || got.Encoding != c.wantEncoding {
				t.Fatalf("value %q encoding %q, want %q %q", *got.Value, got.Encoding, c.wantValue, c.wantEncoding)
			}
			if (got.Key == nil) != (c.wantKey == nil) || (got.Key != nil && *got.Key != *c.wantKey) {
				t.Fatalf("key %v, want %v", got.Key, c.wantKey)
			}
		})
	}
}

func ptr(s string) *string { return &s }
