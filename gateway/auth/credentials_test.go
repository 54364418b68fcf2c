package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A directory laid out as Kubernetes mounts a Secret: the keys, plus the
// "..data" link and a timestamped directory.
func secretDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "..2026_11_25_10_00_00.1"), 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadDirChecksEachUser(t *testing.T) {
	dir := secretDir(t, map[string]string{
		"admin.username":  "team-a.app.admin",
		"admin.password":  "s3cret\n",
		"reader.username": "team-a.app.reader",
		"reader.password": "other",
		"url":             "https://app.example.com",
	})
	c, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		user, password string
		ok             bool
	}{
		{"team-a.app.admin", "s3cret", true},
		{"team-a.app.reader", "other", true},
		{"team-a.app.admin", "other", false},
		{"team-a.app.admin", "s3cret\n", false},
		{"admin", "s3cret", false},
		{"nobody", "", false},
		{"", "", false},
	}
	for _, ck := range checks {
		if got := c.Check(ck.user, ck.password); got != ck.ok {
			t.Errorf("Check(%q, ...) = %v, want %v", ck.user, got, ck.ok)
		}
	}
	if c.Len() != 2 {
		t.Errorf("%d users, want 2", c.Len())
	}
}

func TestLoadDirRefusesIncompleteEntries(t *testing.T) {
	cases := map[string]struct {
		files map[string]string
		want  string
	}{
		"no users":         {map[string]string{"url": "x"}, "holds no"},
		"missing password": {map[string]string{"a.username": "u"}, `user "u" has no password file`},
		"empty password":   {map[string]string{"a.username": "u", "a.password": "\n"}, "empty username or password"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadDir(secretDir(t, c.files))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
	if _, err := LoadDir(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Fatal("a missing directory was accepted")
	}
}
