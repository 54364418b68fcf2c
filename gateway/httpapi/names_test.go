package httpapi

import (
	"regexp"
	"strings"
	"testing"
)

// kafkaName replaced a regular expression on the request path; it must
// accept exactly what that expression did.
func FuzzKafkaNameIsTheRegexp(f *testing.F) {
	for _, s := range []string{"", "a", "team-a.app_1.events", ".", "..", "a b", "é", "a/b", "a\x00", strings.Repeat("x", 100), strings.Repeat("x", 101), strings.Repeat("y", 249), strings.Repeat("y", 250)} {
		f.Add(s)
	}
	topic := regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
	group := regexp.MustCompile(`^[a-zA-Z0-9._-]{1,100}$`)
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := kafkaName(s, 249), topic.MatchString(s); got != want {
			t.Errorf("kafkaName(%q, 249) = %v, the expression says %v", s, got, want)
		}
		if got, want := kafkaName(s, maxGroupName), group.MatchString(s); got != want {
			t.Errorf("kafkaName(%q, %d) = %v, the expression says %v", s, maxGroupName, got, want)
		}
	})
}
