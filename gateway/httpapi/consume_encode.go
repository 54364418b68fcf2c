package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"
)

// writeConsumedJSON answers with msgs as a JSON array of consumed. It writes
// the very bytes encoding/json would (FuzzConsumeEncodingIsEncodingJSONs),
// in one pass into one buffer, without reflection.
func writeConsumedJSON(w http.ResponseWriter, msgs []*sarama.ConsumerMessage, base64Values bool) error {
	size := 2
	for _, m := range msgs {
		size += 160 + len(m.Topic) + 2*(len(m.Key)+len(m.Value))
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '[')
	for i, m := range msgs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendConsumed(buf, m, base64Values)
	}
	buf = append(buf, "]\n"...)
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(buf)
	return err
}

// appendConsumed appends m as encodeConsumed's consumed marshals.
func appendConsumed(buf []byte, m *sarama.ConsumerMessage, base64Values bool) []byte {
	useBase64 := base64Values || !utf8.Valid(m.Value) || !utf8.Valid(m.Key)
	for _, h := range m.Headers {
		useBase64 = useBase64 || !utf8.Valid(h.Value)
	}
	text := func(buf, b []byte) []byte {
		if useBase64 {
			buf = append(buf, '"')
			buf = base64.StdEncoding.AppendEncode(buf, b)
			return append(buf, '"')
		}
		return appendJSONString(buf, b)
	}
	buf = append(buf, `{"Topic":`...)
	buf = appendJSONString(buf, []byte(m.Topic))
	buf = append(buf, `,"Partition":`...)
	buf = strconv.AppendInt(buf, int64(m.Partition), 10)
	buf = append(buf, `,"Offset":`...)
	buf = strconv.AppendInt(buf, m.Offset, 10)
	buf = append(buf, `,"Timestamp":"`...)
	buf = m.Timestamp.AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, '"')
	if m.Key != nil {
		buf = append(buf, `,"Key":`...)
		buf = text(buf, m.Key)
	}
	buf = append(buf, `,"Value":`...)
	if m.Value != nil {
		buf = text(buf, m.Value)
	} else {
		buf = append(buf, "null"...)
	}
	if len(m.Headers) > 0 {
		buf = append(buf, `,"Headers":[`...)
		for i, h := range m.Headers {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, `{"Key":`...)
			buf = appendJSONString(buf, h.Key)
			buf = append(buf, `,"Value":`...)
			buf = text(buf, h.Value)
			buf = append(buf, '}')
		}
		buf = append(buf, ']')
	}
	if useBase64 {
		buf = append(buf, `,"Encoding":"base64"`...)
	}
	return append(buf, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as encoding/json writes a string: quotes,
// backslashes and control characters escaped, and, as its HTML-safe
// default does, <, > and &, U+2028 and U+2029; invalid UTF-8 becomes
// U+FFFD.
func appendJSONString(buf, s []byte) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
