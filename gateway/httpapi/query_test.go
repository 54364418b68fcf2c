package httpapi

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParseQueryRefusesWhatItCannotRead(t *testing.T) {
	cases := map[string]struct {
		query   string
		invalid string
	}{
		"OVH's limit":              {query: "limit=2"},
		"unknown parameter kept":   {query: "limit=2&_=1700000000"},
		"unknown parameter repeat": {query: "x=1&x=2"},
		"bad escape":               {query: "limit=%zz", invalid: `the query string cannot be parsed (invalid URL escape "%zz")`},
		"bad escape elsewhere":     {query: "limit=2&x=%", invalid: "cannot be parsed"},
		"semicolon separator":      {query: "limit=2;group=a", invalid: "cannot be parsed"},
		"limit twice":              {query: "limit=1&limit=1000", invalid: "limit is given 2 times: give it once"},
		"format twice":             {query: "format=raw&format=json", invalid: "format is given 2 times"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := parseQuery(&url.URL{RawQuery: c.query})
			if c.invalid == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var reqErr *requestError
			if !errors.As(err, &reqErr) || reqErr.status != 400 || !strings.Contains(reqErr.message, c.invalid) {
				t.Fatalf("error %v, want a 400 mentioning %q", err, c.invalid)
			}
		})
	}
}
