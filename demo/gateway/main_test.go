package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"qaas.dev/qaas/internal/demotest"
)

// The gateway demo prints a block a user pastes into a shell; pasted
// into bash, its three curl lines work as OVH documents them.
func TestGatewayDemoWorksAsPrinted(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("this test runs the printed curl lines and needs curl on the PATH")
	}
	b, stop := demotest.Start(run, []string{"--listen-address", "127.0.0.1:0", "--log-level", "warn"},
		func(string) string { return "" }, func(b demotest.Block) bool { return len(b.Curls) == 3 })
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("gateway: %v", err)
		}
	}()
	ctx := context.Background()
	for _, name := range []string{"URL", "SASL_USERNAME", "SASL_PASSWORD", "TOPIC", "CURL_CA_BUNDLE"} {
		if !strings.Contains(strings.Join(b.Exports, "\n"), "export "+name+"=") {
			t.Fatalf("the printed block lacks export %s=...: %q", name, b.Exports)
		}
	}
	if len(b.Curls) != 3 {
		t.Fatalf("the printed block has %d curl lines, want 3", len(b.Curls))
	}
	shell := func(line string) string {
		t.Helper()
		got, err := b.Run(ctx, line)
		if err != nil {
			t.Fatalf("%s: %v: %s", line, err, got)
		}
		return got
	}
	if got := shell(b.Curls[0]); !strings.Contains(got, `"Offset":1`) {
		t.Fatalf("produce answered %s", got)
	}
	if got := shell(b.Curls[1]); !strings.Contains(got, `"Offset":2`) {
		t.Fatalf("raw produce answered %s", got)
	}
	got := shell(b.Curls[2])
	if !strings.Contains(got, `"Value":"first message"`) || !strings.Contains(got, `"Value":"second message"`) ||
		strings.Index(got, "first message") > strings.Index(got, "second message") || strings.Contains(got, "complex") {
		t.Fatalf("consume with limit=2 answered %s", got)
	}
	// The third message is still there for the next GET.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(got, "complex") && time.Now().Before(deadline) {
		got = shell(b.Curls[2])
	}
	if !strings.Contains(got, `{\"my\": {\"complex\": [\"json\", \"here\"]}}`) {
		t.Fatalf("the raw message came back as %s", got)
	}
}

// With --data-dir, a restarted demo keeps its password, certificate and
// messages.
func TestGatewayDemoKeepsItsDataDir(t *testing.T) {
	dir := t.TempDir()
	start := func() (demotest.Block, func()) {
		b, stop := demotest.Start(run, []string{"--data-dir", dir, "--listen-address", "127.0.0.1:0", "--log-level", "warn"},
			func(string) string { return "" }, func(b demotest.Block) bool { return len(b.Exports) == 5 })
		return b, func() {
			if err := stop(); err != nil {
				t.Errorf("gateway: %v", err)
			}
		}
	}
	curl := func(e demotest.Block, args ...string) string {
		t.Helper()
		cmd := exec.Command("curl", append([]string{"-sS", "--fail-with-body", "--max-time", "20", "--cacert", e.Export("CURL_CA_BUNDLE"),
			"-u", e.Export("SASL_USERNAME") + ":" + e.Export("SASL_PASSWORD")}, args...)...)
		got, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v: %s", args, err, got)
		}
		return string(got)
	}

	first, stop := start()
	curl(first, "-XPOST", first.Export("URL")+"/topic/"+first.Export("TOPIC"), "-d", `[{"Value":"kept"}]`)
	stop()

	second, stop := start()
	defer stop()
	if second.Export("SASL_PASSWORD") != first.Export("SASL_PASSWORD") || second.Export("CURL_CA_BUNDLE") != first.Export("CURL_CA_BUNDLE") {
		t.Fatal("the restarted demo has another password or certificate")
	}
	if got := curl(second, second.Export("URL")+"/topic/"+second.Export("TOPIC")); !strings.Contains(got, `"Value":"kept"`) {
		t.Fatalf("after the restart the topic holds %s", got)
	}
}
