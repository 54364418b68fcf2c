package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"qaas.dev/qaas/gateway/kafka"
)

// produceMessage is one element of a produce request's JSON array. Only
// Value is required, as in OVH's API; the others are extensions.
type produceMessage struct {
	Key       *string      `json:"Key"`
	Value     *string      `json:"Value"`
	Headers   []jsonHeader `json:"Headers"`
	Partition *int32       `json:"Partition"`
}

// jsonHeader is a Kafka record header in JSON. A list keeps duplicate keys,
// which Kafka allows.
type jsonHeader struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// bodyLimits bounds what one produce request may hold.
type bodyLimits struct {
	maxMessageBytes  int
	maxBatchMessages int
}

// decodeProduceBody turns a JSON produce body into messages. With
// base64Values, Key, Value and header values are base64 (standard
// alphabet), so any bytes can be sent.
func decodeProduceBody(body []byte, base64Values bool, limits bodyLimits) ([]kafka.Message, error) {
	// JSON would silently turn invalid UTF-8 and lone surrogate escapes
	// into U+FFFD: refuse them instead of storing other bytes than sent.
	if !utf8.Valid(body) || hasLoneSurrogate(body) {
		return nil, badRequest("body is not valid UTF-8 text: send bytes base64-encoded with ?encoding=base64, or as the whole body with ?format=raw")
	}
	if msgs, ok := decodeProduceBodyFast(body, base64Values, limits); ok {
		return msgs, nil
	}
	return decodeProduceBodyGeneral(body, base64Values, limits)
}

// decodeProduceBodyGeneral decodes any produce body with encoding/json and
// describes precisely what is wrong with one it refuses.
func decodeProduceBodyGeneral(body []byte, base64Values bool, limits bodyLimits) ([]kafka.Message, error) {
	var elements []json.RawMessage
	if err := strictDecode(body, &elements); err != nil {
		return nil, badRequest("body must be a JSON array of messages such as [{\"Value\": \"hello\"}] (or use ?format=raw to send the body as one message): " + describeJSONError(err))
	}
	if len(elements) == 0 {
		return nil, badRequest("body holds no message: send at least one, such as [{\"Value\": \"hello\"}]")
	}
	if len(elements) > limits.maxBatchMessages {
		return nil, tooLarge(fmt.Sprintf("body holds %d messages, more than the %d allowed in one request", len(elements), limits.maxBatchMessages))
	}
	msgs := make([]kafka.Message, len(elements))
	for i, raw := range elements {
		m, err := decodeMessage(raw, base64Values, limits)
		if err != nil {
			var reqErr *requestError
			if errors.As(err, &reqErr) {
				reqErr.message = fmt.Sprintf("message %d: %s", i+1, reqErr.message)
			}
			return nil, err
		}
		msgs[i] = m
	}
	return msgs, nil
}

func decodeMessage(raw json.RawMessage, base64Values bool, limits bodyLimits) (kafka.Message, error) {
	if name, ok := repeatedField(raw); ok {
		return kafka.Message{}, badRequest(fmt.Sprintf("field %s is given more than once: give each field once", name))
	}
	var pm produceMessage
	if err := strictDecode(raw, &pm); err != nil {
		return kafka.Message{}, badRequest("must be an object with a string Value (and optionally Key, Headers, Partition): " + describeJSONError(err))
	}
	if pm.Value == nil {
		return kafka.Message{}, badRequest("Value is required and must be a string")
	}
	value, err := decodeText(*pm.Value, base64Values, "Value")
	if err != nil {
		return kafka.Message{}, err
	}
	m := kafka.Message{Value: value, Partition: -1}
	if pm.Key != nil {
		if m.Key, err = decodeText(*pm.Key, base64Values, "Key"); err != nil {
			return kafka.Message{}, err
		}
	}
	for j, h := range pm.Headers {
		if h.Key == "" {
			return kafka.Message{}, badRequest(fmt.Sprintf("header %d has an empty Key", j+1))
		}
		v, err := decodeText(h.Value, base64Values, fmt.Sprintf("header %q", h.Key))
		if err != nil {
			return kafka.Message{}, err
		}
		m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: v})
	}
	if size := recordSize(m); size > limits.maxMessageBytes {
		return kafka.Message{}, tooLarge(fmt.Sprintf("key, value and headers are %d bytes, more than the %d allowed", size, limits.maxMessageBytes))
	}
	if pm.Partition != nil {
		if *pm.Partition < 0 {
			return kafka.Message{}, badRequest(fmt.Sprintf("Partition %d is negative", *pm.Partition))
		}
		m.Partition = *pm.Partition
	}
	return m, nil
}

// repeatedField returns a member name that appears twice in one object of
// data. encoding/json keeps the last of them, so [{"Value":"a","Value":"b"}]
// would silently store "b"; names are compared ignoring case, as
// encoding/json matches them to fields. Invalid JSON is left to the decoder
// that follows, which describes it.
func repeatedField(data []byte) (string, bool) {
	type frame struct {
		seen      map[string]bool // nil for an array
		expectKey bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if key, ok := tok.(string); ok && top != nil && top.seen != nil && top.expectKey {
			folded := strings.ToLower(strings.ToUpper(key))
			if top.seen[folded] {
				return key, true
			}
			top.seen[folded] = true
			top.expectKey = false
			continue
		}
		if top != nil && top.seen != nil {
			// A value ends here, or starts a nested one: a key comes
			// next either way.
			top.expectKey = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{seen: map[string]bool{}, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// recordSize is what a message weighs against --max-message-bytes.
func recordSize(m kafka.Message) int {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// hasLoneSurrogate says whether a JSON text holds a \uD800-\uDFFF escape
// that is not half of a surrogate pair.
func hasLoneSurrogate(body []byte) bool {
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' || i+1 >= len(body) {
			continue
		}
		if body[i+1] != 'u' {
			i++ // an escaped character, possibly a backslash
			continue
		}
		r, ok := hexRune(body, i+2)
		if !ok {
			continue
		}
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			if i+11 < len(body) && body[i+6] == '\\' && body[i+7] == 'u' {
				if low, ok := hexRune(body, i+8); ok && low >= 0xDC00 && low <= 0xDFFF {
					i += 11
					continue
				}
			}
			return true
		}
		i += 5
	}
	return false
}

// hexRune reads four hex digits at body[at:].
func hexRune(body []byte, at int) (rune, bool) {
	if at+4 > len(body) {
		return 0, false
	}
	var r rune
	for _, c := range body[at : at+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

func decodeText(s string, base64Values bool, what string) ([]byte, error) {
	if !base64Values {
		return []byte(s), nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, badRequest(what + " is not valid base64 (?encoding=base64 was given)")
	}
	return b, nil
}

// strictDecode decodes exactly one JSON value, refusing unknown fields (a
// misspelt "Valeu" is an error, not a silently empty message) and anything
// after the value.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// describeJSONError turns a decoding error into a sentence without Go type
// names.
func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Sprintf("field %s must not be a JSON %s", typeErr.Field, typeErr.Value)
	case errors.As(err, &typeErr):
		return fmt.Sprintf("found a JSON %s", typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("invalid JSON at byte %d: %v", syntaxErr.Offset, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the body is empty or cut short"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
