package httpapi

import (
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

func TestLastEventIDSkipsOnlyUntilTheStreamPassedIt(t *testing.T) {
	seen, err := parseLastEventID("1-5", "")
	if err != nil {
		t.Fatal(err)
	}
	msg := func(partition int32, offset int64) *sarama.ConsumerMessage {
		return &sarama.ConsumerMessage{Partition: partition, Offset: offset}
	}
	if !seen.covers(msg(1, 5)) || !seen.covers(msg(1, 0)) {
		t.Error("records of the event's partition at or before it are not covered")
	}
	if seen.covers(msg(1, 6)) || seen.covers(msg(0, 3)) {
		t.Error("a record after the event, or of another partition, is covered")
	}
	if seen.passedBy(msg(1, 5)) || seen.passedBy(msg(0, 9)) {
		t.Error("the event or another partition's record passes it")
	}
	if !seen.passedBy(msg(1, 6)) {
		t.Error("the next record of its partition does not pass it")
	}
}
