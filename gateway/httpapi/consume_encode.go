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
	var e consumedEncoder
	for i, m := range msgs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = e.append(buf, m, base64Values)
	}
	buf = append(buf, "]\n"...)
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(buf)
	return err
}

// consumedEncoder appends messages as encodeConsumed's consumed marshals.
// The messages of a response share their topic and, batch by batch, their
// timestamp: each is encoded once and copied for the next message.
type consumedEncoder struct {
	topic, topicJSON []byte
	timestamp        time.Time
	timestampJSON    []byte
}

func (e *consumedEncoder) append(buf []byte, m *sarama.ConsumerMessage, base64Values bool) []byte {
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
	if e.topicJSON == nil || string(e.topic) != m.Topic {
		e.topic, e.topicJSON = []byte(m.Topic), appendJSONString(e.topicJSON[:0], []byte(m.Topic))
	}
	buf = append(buf, e.topicJSON...)
	buf = append(buf, `,"Partition":`...)
	buf = strconv.AppendInt(buf, int64(m.Partition), 10)
	buf = append(buf, `,"Offset":`...)
	buf = strconv.AppendInt(buf, m.Offset, 10)
	buf = append(buf, `,"Timestamp":`...)
	// == on time.Time compares the location too, which the format shows.
	if e.timestampJSON == nil || e.timestamp != m.Timestamp {
		e.timestamp = m.Timestamp
		e.timestampJSON = append(m.Timestamp.AppendFormat(append(e.timestampJSON[:0], '"'), time.RFC3339Nano), '"')
	}
	buf = append(buf, e.timestampJSON...)
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
		c := s[i]
		if jsonPlain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
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

// jsonPlain marks the bytes appendJSONString copies as they are: ASCII
// but control characters, '"', '\\' and the HTML-sensitive <, > and &.
// Bytes from 0x80 are looked at as UTF-8.
var jsonPlain = func() (plain [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		plain[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return plain
}()
