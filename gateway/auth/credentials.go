// Package auth checks HTTP basic credentials against a directory of users,
// as the operator mounts them from the tenant's credentials Secret.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"qaas.dev/qaas/internal/credentialsdir"
)

// Credentials are the users of one gateway. Only hashes of the passwords
// are compared, in constant time.
type Credentials struct {
	users map[string][32]byte
}

// LoadDir reads a credentials directory (see credentialsdir): for each
// user, a file "<name>.username" holding the username (the Kafka username)
// and a file "<name>.password" holding its password. Other files are
// ignored, so the whole Secret can be mounted. A trailing newline in a
// file is not part of its value.
func LoadDir(dir string) (*Credentials, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading credentials directory: %w", err)
	}
	c := &Credentials{users: map[string][32]byte{}}
	for _, e := range entries {
		name, ok := credentialsdir.UserOf(e.Name())
		// Kubernetes' own "..data" entries of a mounted Secret are no user.
		if !ok || strings.HasPrefix(name, "..") {
			continue
		}
		username, err := readValue(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		password, err := readValue(filepath.Join(dir, credentialsdir.PasswordKey(name)))
		if err != nil {
			return nil, fmt.Errorf("user %q has no password file: %w", username, err)
		}
		if username == "" || password == "" {
			return nil, fmt.Errorf("user entry %q has an empty username or password", name)
		}
		c.users[username] = sha256.Sum256([]byte(password))
	}
	if len(c.users) == 0 {
		return nil, fmt.Errorf("credentials directory %s holds no <name>.username/<name>.password pair", dir)
	}
	return c, nil
}

func readValue(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Check says whether password is username's. It takes the same time for
// unknown users and wrong passwords.
func (c *Credentials) Check(username, password string) bool {
	got := sha256.Sum256([]byte(password))
	want, known := c.users[username]
	match := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	return known && match
}

// Len is the number of users.
func (c *Credentials) Len() int { return len(c.users) }
