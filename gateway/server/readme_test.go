package server_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// readmeCurls returns the curl lines of the first sh block of README's
// section whose heading is heading (with its "### "), failing unless
// there are n.
func readmeCurls(t *testing.T, heading string, n int) []string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(readme), heading+"\n")
	if !found {
		t.Fatalf("README has no section %q", heading)
	}
	_, block, _ := strings.Cut(section, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if strings.HasPrefix(l, "curl ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != n {
		t.Fatalf("README's block under %q has %d curl lines, want %d", heading, len(lines), n)
	}
	return lines
}

// curlRunner runs README curl lines as a user pastes them into bash, with
// the variables README's lines use set for user on replica 0 of rs, and
// returns what curl printed; it skips the test without curl.
func curlRunner(t *testing.T, rs *replicaSet, user, pass, topic string) func(line string) string {
	t.Helper()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	return func(line string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", strings.Replace(line, "curl ", curl+" -sS --fail-with-body --max-time 20 ", 1))
		cmd.Env = append(os.Environ(), "URL="+rs.replicas[0].url, "SASL_USERNAME="+user, "SASL_PASSWORD="+pass, "TOPIC="+topic, "CURL_CA_BUNDLE="+rs.certFile)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		return string(out)
	}
}

// headerOf returns header name of curl -i's output.
func headerOf(out, name string) string {
	for _, l := range strings.Split(out, "\r\n") {
		if n, value, ok := strings.Cut(l, ": "); ok && strings.EqualFold(n, name) {
			return value
		}
	}
	return ""
}
