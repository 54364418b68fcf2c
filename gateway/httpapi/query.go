package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
)

// queryParams are the query parameters the API reads. Others are ignored,
// so that a client's cache buster or tracing parameter does not break its
// calls.
var queryParams = []string{"limit", "timeout", "group", "format", "encoding", "ack", "ackTimeout", "partition", "offset", "lastEventId", "mode"}

// topicAndQuery reads what every call on /topic/{topic} starts with: the
// topic in its path and its query string.
func topicAndQuery(r *http.Request) (string, url.Values, error) {
	topic := r.PathValue("topic")
	if err := validTopic(topic); err != nil {
		return "", nil, err
	}
	q, err := parseQuery(r.URL)
	return topic, q, err
}

// topicAndGroup reads what the calls on a topic's group start with: the
// topic in the path and ?group=.
func topicAndGroup(r *http.Request) (topic, group string, err error) {
	topic, q, err := topicAndQuery(r)
	if err != nil {
		return "", "", err
	}
	group, err = parseGroup(q.Get("group"))
	return topic, group, err
}

// parseQuery reads a request's query string. net/url drops the pairs it
// cannot decode, which would turn ?limit=%zz into the default limit: a
// query that does not parse, or that gives a parameter twice, is refused
// instead of half-read.
func parseQuery(u *url.URL) (url.Values, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, badRequest(fmt.Sprintf("the query string cannot be parsed (%v): percent-encode special characters and separate parameters with &", err))
	}
	for _, name := range queryParams {
		if len(q[name]) > 1 {
			return nil, badRequest(fmt.Sprintf("%s is given %d times: give it once", name, len(q[name])))
		}
	}
	return q, nil
}
