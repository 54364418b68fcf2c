package httpapi

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"qaas.dev/qaas/gateway/kafka"
)

// FuzzFastDecodeAgreesWithTheGeneralPath: a body the one-pass decoder
// accepts, the general path accepts too, with the very same messages (a
// nil key stays nil, an empty one empty); what it gives up on is left to
// the general path.
func FuzzFastDecodeAgreesWithTheGeneralPath(f *testing.F) {
	for _, seed := range []string{
		`[{"Value": "first message"},{"Value":"second message"}]`,
		`[{"Key":"k","Value":"v","Headers":[{"Key":"a","Value":"1"},{"Key":"a"}],"Partition":7}]`,
		` [ { "Value" : "" , "Key" : "" , "Headers" : [ ] } ] `,
		`[{"Value":"AAEC"}]`, `[{"Value":"AA=="}]`, `[{"Value":"A\r\nA=="}]`,
		`[{"Value":"\u00e9\ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t"}]`,
		`[{"Value":"\ud83d"}]`, `[{"Value":"\ude00\ud83d"}]`, `[{"Value":"a\u0000b"}]`,
		`[{"V\u0061lue":"x"}]`, `[{"value":"x"}]`, `[{"Value":"a","Value":"b"}]`,
		`[{"Value":"x","Partition":2147483647}]`, `[{"Value":"x","Partition":2147483648}]`,
		`[{"Value":"x","Partition":-1}]`, `[{"Value":"x","Partition":1.0}]`, `[{"Value":"x","Partition":1e2}]`,
		`[{"Value":"x","Partition":01}]`, `[{"Value":"x","Partition":null}]`, `[{"Value":null}]`,
		`[{"Value":"x","Headers":[{"Key":"","Value":"v"}]}]`, `[{"Value":"x","Headers":null}]`,
		`[]`, `[{}]`, `[{"Value":1}]`, `[{"Value":"a"}] x`, `[`, ``, `null`, `[{"Value":"a"},]`,
		"[{\"Value\":\"tab\there\"}]", `[{"Value":"x","Other":1}]`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, base64Values bool) {
		if !utf8.Valid(body) || hasLoneSurrogate(body) {
			return // refused before either decoder runs
		}
		fast, ok := decodeProduceBodyFast(body, base64Values, testLimits)
		if !ok {
			return
		}
		general, err := decodeProduceBodyGeneral(body, base64Values, testLimits)
		if err != nil {
			t.Fatalf("the fast path accepted %q, the general path refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(fast, general) {
			t.Fatalf("%q decodes differently:\nfast    %#v\ngeneral %#v", body, fast, general)
		}
	})
}

// The bodies clients send take the one-pass path.
func TestUsualBodiesTakeTheFastPath(t *testing.T) {
	for _, body := range []string{
		`[{"Value": "first message"},{"Value":"second message"}]`,
		`[{"Key":"k","Value":"v é","Headers":[{"Key":"a","Value":"1"}],"Partition":0}]`,
		`[{"Value":"line\nwith \"quotes\""}]`,
	} {
		if _, ok := decodeProduceBodyFast([]byte(body), false, testLimits); !ok {
			t.Errorf("%s takes the general path", body)
		}
	}
}

func BenchmarkDecodeProduceBody(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		var body bytes.Buffer
		body.WriteString("[")
		for i := range n {
			if i > 0 {
				body.WriteString(",")
			}
			fmt.Fprintf(&body, `{"Value":%q}`, strings.Repeat("x", 100))
		}
		body.WriteString("]")
		limits := bodyLimits{maxMessageBytes: 1 << 20, maxBatchMessages: 1000}
		for _, path := range []struct {
			name   string
			decode func([]byte, bool, bodyLimits) ([]kafka.Message, error)
		}{{"one-pass", decodeProduceBody}, {"general", decodeProduceBodyGeneral}} {
			b.Run(fmt.Sprintf("messages=%d/%s", n, path.name), func(b *testing.B) {
				b.SetBytes(int64(body.Len()))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := path.decode(body.Bytes(), false, limits); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
