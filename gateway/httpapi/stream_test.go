package httpapi

import (
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

func TestAcceptsEventStreamOnlyWhenPreferredToJSON(t *testing.T) {
	cases := map[string]struct {
		accept []string
		stream bool
	}{
		"EventSource's header":                     {accept: []string{"text/event-stream"}, stream: true},
		"no Accept":                                {},
		"a plain GET's JSON":                       {accept: []string{"application/json"}},
		"anything":                                 {accept: []string{"*/*"}},
		"a generic client listing both":            {accept: []string{"application/json, text/event-stream"}},
		"both in two headers":                      {accept: []string{"text/event-stream", "application/json"}},
		"events then anything":                     {accept: []string{"text/event-stream, */*"}},
		"events preferred to anything":             {accept: []string{"text/event-stream, */*;q=0.1"}, stream: true},
		"events preferred to JSON":                 {accept: []string{"application/json;q=0.5, text/event-stream"}, stream: true},
		"JSON preferred to events":                 {accept: []string{"application/json, text/event-stream;q=0.9"}},
		"JSON's own entry wins over application/*": {accept: []string{"application/json;q=0.2, application/*, text/event-stream;q=0.5"}, stream: true},
		"application/* wins over */*":              {accept: []string{"application/*;q=0.8, */*;q=0.1, text/event-stream;q=0.5"}},
		"events with q=0":                          {accept: []string{"text/event-stream;q=0"}},
		"events with q=0.0":                        {accept: []string{"text/event-stream; q=0.0"}},
		"events with q=0.000 and nothing else":     {accept: []string{"text/event-stream;q=0.000"}},
		"events with a low q, alone":               {accept: []string{"text/event-stream;q=0.001"}, stream: true},
		"events with a q that is no number":        {accept: []string{"text/event-stream;q=high"}},
		"events with a q above 1":                  {accept: []string{"text/event-stream;q=2"}},
		"events with other parameters":             {accept: []string{"text/event-stream; charset=utf-8"}, stream: true},
		"events refused, JSON wanted":              {accept: []string{"text/event-stream;q=0, application/json"}},
		"spaces around":                            {accept: []string{" text/event-stream ; q=1.0 , application/json;q=0.5"}, stream: true},
		"other text types only":                    {accept: []string{"text/*"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := acceptsEventStream(c.accept); got != c.stream {
				t.Fatalf("Accept %q: stream %v, want %v", c.accept, got, c.stream)
			}
		})
	}
}

// A reconnected stream skips the records of Last-Event-ID's partition up
// to it only until it wrote one after it: a rewind of the group after that
// (a reset, a recreated topic) is written in full, not committed unseen.
func TestLastEventIDSkipsOnlyUntilTheStreamPassedIt(t *testing.T) {
	seen, err := parseLastEventID("1-5", "")
	if err != nil {
		t.Fatal(err)
	}
	msgs := func(partition int32, offsets ...int64) []*sarama.ConsumerMessage {
		var ms []*sarama.ConsumerMessage
		for _, o := range offsets {
			ms = append(ms, &sarama.ConsumerMessage{Topic: "t", Partition: partition, Offset: o, Value: []byte("v")})
		}
		return ms
	}
	var enc consumedEncoder
	ids := func(buf []byte) []string {
		var ids []string
		for _, line := range strings.Split(string(buf), "\n") {
			if id, ok := strings.CutPrefix(line, "id: "); ok {
				ids = append(ids, id)
			}
		}
		return ids
	}
	for i, round := range []struct {
		msgs []*sarama.ConsumerMessage
		want string
	}{
		{msgs(1, 3, 4, 5), ""},
		{append(msgs(0, 2), msgs(1, 0)...), "0-2"},
		{msgs(1, 6, 7), "1-6,1-7"},
		{msgs(1, 0, 1), "1-0,1-1"},
	} {
		buf, events := appendRound(nil, &enc, round.msgs, &seen, false)
		if got := strings.Join(ids(buf), ","); got != round.want || events != len(ids(buf)) {
			t.Fatalf("round %d wrote %q (%d events), want %q", i, got, events, round.want)
		}
	}
}
