package kafkaconn

import (
	"strings"
	"testing"
)

func TestCheckLoginRefusesWhatKafkaCanNeverAccept(t *testing.T) {
	cases := map[string]struct {
		mechanism, user, password string
		want                      string
	}{
		"an ordinary login":      {ScramSHA512, "team-a.app.admin", "s3cret pass", ""},
		"non-ASCII is fine":      {ScramSHA256, "équipe", "mot de passe é", ""},
		"empty username":         {ScramSHA512, "", "p", "the username is empty"},
		"empty password":         {Plain, "u", "", "the password is empty"},
		"control in username":    {ScramSHA512, "u\x00", "p", "the username holds a control character"},
		"DEL in password":        {Plain, "u", "p\x7f", "the password holds a control character"},
		"invalid UTF-8":          {ScramSHA512, "u\xff", "p", "the username is not valid UTF-8"},
		"username too long":      {ScramSHA512, strings.Repeat("u", MaxUsernameBytes+1), "p", "the username is longer than 256 bytes"},
		"longest username":       {ScramSHA512, strings.Repeat("u", MaxUsernameBytes), "p", ""},
		"password too long":      {Plain, "u", strings.Repeat("p", MaxPasswordBytes+1), "the password is longer than 1024 bytes"},
		"SASLprep noncharacter":  {ScramSHA512, "u\ufdd0", "p", "the username holds characters SCRAM does not allow"},
		"SASLprep private use":   {ScramSHA256, "u", "p\ue000", "the password holds characters SCRAM does not allow"},
		"PLAIN does no SASLprep": {Plain, "u", "p\ue000", ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := CheckLogin(c.mechanism, c.user, c.password)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || err.Error() != c.want):
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
