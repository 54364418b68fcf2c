package httpapi

import (
	"strings"
	"testing"
	"time"
)

// A token opens to what was sealed, with the same secret only, and not
// once a byte of it changed.
func TestCommitTokens(t *testing.T) {
	a, b := newTokens("replicas' secret"), newTokens("replicas' secret")
	token := a.seal("10.0.0.7:8090", "LEASEID")
	if holder, id, ok := b.open(token); !ok || holder != "10.0.0.7:8090" || id != "LEASEID" {
		t.Fatalf("open: %q %q %v", holder, id, ok)
	}
	if strings.Contains(token, "10.0.0.7") {
		t.Fatal("the token shows the holder's address")
	}
	if _, _, ok := newTokens("another secret").open(token); ok {
		t.Fatal("a token opened with another secret")
	}
	for i := range token {
		c := byte('A')
		if token[i] == 'A' {
			c = 'B'
		}
		if _, _, ok := a.open(token[:i] + string(c) + token[i+1:]); ok {
			t.Fatalf("a token changed at byte %d opened", i)
		}
	}
	for _, bad := range []string{"", "!!", "AAAA", token[:10]} {
		if _, _, ok := a.open(bad); ok {
			t.Fatalf("%q opened", bad)
		}
	}
	if one, two := a.seal("h", "id"), a.seal("h", "id"); one == two {
		t.Fatal("two seals of the same lease are equal: the nonce is not random")
	}
}

func TestParseAck(t *testing.T) {
	for _, c := range []struct {
		ack, timeout string
		want         time.Duration
		ok           bool
	}{
		{"", "", 0, true},
		{"auto", "", 0, true},
		{"manual", "", DefaultAckTimeout, true},
		{"manual", "90", 90 * time.Second, true},
		{"manual", "2m", 2 * time.Minute, true},
		{"manual", "5m", 5 * time.Minute, true},
		{"manual", "5m1s", 0, false},
		{"manual", "0.9", 0, false},
		{"manual", "NaN", 0, false},
		{"manual", "1e300", 0, false},
		{"auto", "5s", 0, false},
		{"Manual", "", 0, false},
	} {
		got, err := parseAck(c.ack, c.timeout)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseAck(%q, %q) = %s, %v; want %s, ok %v", c.ack, c.timeout, got, err, c.want, c.ok)
		}
	}
}
