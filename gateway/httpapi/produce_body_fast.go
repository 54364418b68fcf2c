package httpapi

import (
	"math"
	"unicode/utf16"
	"unicode/utf8"

	"qaas.dev/qaas/gateway/kafka"
)

// decodeProduceBodyFast decodes the produce bodies clients send in
// practice in one pass over the body, without reflection, and with values
// that are the body's own bytes where they hold no escape. It is
// conservative: it gives up (false) on anything unusual, valid or not (a
// field spelt in another case, a null, an exponent, a value over a limit,
// any error), and decodeProduceBody then takes the general path, which
// accepts the same bodies and describes every error precisely. What it
// accepts it decodes as the general path does (FuzzFastDecodeAgreesWithTheGeneralPath).
// The body must already be valid UTF-8 and be kept unchanged while the
// messages live.
func decodeProduceBodyFast(body []byte, base64Values bool, limits bodyLimits) ([]kafka.Message, bool) {
	p := fastParser{buf: body}
	if !p.consume('[') {
		return nil, false
	}
	var msgs []kafka.Message
	for {
		if len(msgs) == limits.maxBatchMessages {
			return nil, false
		}
		m, ok := p.message(base64Values, limits)
		if !ok {
			return nil, false
		}
		msgs = append(msgs, m)
		if p.consume(',') {
			continue
		}
		if !p.consume(']') {
			return nil, false
		}
		p.space()
		return msgs, p.pos == len(p.buf)
	}
}

// fastParser reads JSON from buf at pos.
type fastParser struct {
	buf []byte
	pos int
}

func (p *fastParser) space() {
	for p.pos < len(p.buf) {
		switch p.buf[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// consume skips white space, then c if it comes next.
func (p *fastParser) consume(c byte) bool {
	p.space()
	if p.pos < len(p.buf) && p.buf[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// message reads one {"Key":…, "Value":…, "Headers":[…], "Partition":…}.
func (p *fastParser) message(base64Values bool, limits bodyLimits) (kafka.Message, bool) {
	m := kafka.Message{Partition: -1}
	var seenKey, seenValue, seenHeaders, seenPartition bool
	if !p.consume('{') {
		return m, false
	}
	for first := true; ; first = false {
		if first && p.consume('}') {
			break
		}
		name, ok := p.str()
		if !ok || !p.consume(':') {
			return m, false
		}
		switch string(name) {
		case "Value":
			if seenValue {
				return m, false
			}
			seenValue = true
			if m.Value, ok = p.text(base64Values); !ok {
				return m, false
			}
		case "Key":
			if seenKey {
				return m, false
			}
			seenKey = true
			if m.Key, ok = p.text(base64Values); !ok {
				return m, false
			}
		case "Headers":
			if seenHeaders {
				return m, false
			}
			seenHeaders = true
			if m.Headers, ok = p.headers(base64Values); !ok {
				return m, false
			}
		case "Partition":
			if seenPartition {
				return m, false
			}
			seenPartition = true
			if m.Partition, ok = p.partition(); !ok {
				return m, false
			}
		default:
			return m, false
		}
		if p.consume('}') {
			break
		}
		if !p.consume(',') {
			return m, false
		}
	}
	if !seenValue || recordSize(m) > limits.maxMessageBytes {
		return m, false
	}
	return m, true
}

// headers reads [{"Key":…, "Value":…}, …] with non-empty keys.
func (p *fastParser) headers(base64Values bool) ([]kafka.Header, bool) {
	if !p.consume('[') {
		return nil, false
	}
	var out []kafka.Header
	if p.consume(']') {
		return out, true
	}
	for {
		var h kafka.Header
		var seenKey, seenValue bool
		if !p.consume('{') {
			return nil, false
		}
		for {
			name, ok := p.str()
			if !ok || !p.consume(':') {
				return nil, false
			}
			switch {
			case string(name) == "Key" && !seenKey:
				seenKey = true
				key, ok := p.str()
				if !ok || len(key) == 0 {
					return nil, false
				}
				h.Key = string(key)
			case string(name) == "Value" && !seenValue:
				seenValue = true
				if h.Value, ok = p.text(base64Values); !ok {
					return nil, false
				}
			default:
				return nil, false
			}
			if p.consume('}') {
				break
			}
			if !p.consume(',') {
				return nil, false
			}
		}
		if !seenKey {
			return nil, false
		}
		if !seenValue {
			h.Value = []byte{}
		}
		out = append(out, h)
		if p.consume(']') {
			return out, true
		}
		if !p.consume(',') {
			return nil, false
		}
	}
}

// text reads a string value, base64-decoded when asked.
func (p *fastParser) text(base64Values bool) ([]byte, bool) {
	s, ok := p.str()
	if !ok {
		return nil, false
	}
	if !base64Values {
		return s, true
	}
	b, err := decodeText(string(s), true, "")
	return b, err == nil
}

// partition reads a non-negative int32 written plainly (no sign,
// fraction or exponent).
func (p *fastParser) partition() (int32, bool) {
	p.space()
	start := p.pos
	var n int64
	for p.pos < len(p.buf) && p.buf[p.pos] >= '0' && p.buf[p.pos] <= '9' {
		n = n*10 + int64(p.buf[p.pos]-'0')
		if n > math.MaxInt32 {
			return 0, false
		}
		p.pos++
	}
	digits := p.pos - start
	if digits == 0 || (digits > 1 && p.buf[start] == '0') {
		return 0, false
	}
	if p.pos < len(p.buf) {
		switch p.buf[p.pos] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return int32(n), true
}

// str reads a JSON string. Without escapes it is a slice of the body;
// with them, a new slice. A control character, a bad escape or a lone
// surrogate gives up.
func (p *fastParser) str() ([]byte, bool) {
	if !p.consume('"') {
		return nil, false
	}
	start := p.pos
	for p.pos < len(p.buf) {
		c := p.buf[p.pos]
		switch {
		case c == '"':
			s := p.buf[start:p.pos:p.pos]
			p.pos++
			return s, true
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return nil, false
		}
		p.pos++
	}
	return nil, false
}

// escaped finishes reading a string that started at start and has an
// escape at pos.
func (p *fastParser) escaped(start int) ([]byte, bool) {
	out := append([]byte(nil), p.buf[start:p.pos]...)
	for p.pos < len(p.buf) {
		c := p.buf[p.pos]
		switch {
		case c == '"':
			p.pos++
			return out, true
		case c < 0x20:
			return nil, false
		case c != '\\':
			out = append(out, c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.buf) {
			return nil, false
		}
		e := p.buf[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hexRune(p.buf, p.pos)
			if !ok {
				return nil, false
			}
			p.pos += 4
			if utf16.IsSurrogate(r) {
				low, ok := rune(0), false
				if p.pos+6 <= len(p.buf) && p.buf[p.pos] == '\\' && p.buf[p.pos+1] == 'u' {
					low, ok = hexRune(p.buf, p.pos+2)
				}
				r = utf16.DecodeRune(r, low)
				if !ok || r == utf8.RuneError {
					return nil, false
				}
				p.pos += 6
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, false
		}
	}
	return nil, false
}
