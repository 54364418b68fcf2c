package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The end-to-end demo, as README shows it: the printed block pasted into
// bash makes the three OVH calls work against the sample QueueApp's
// gateway, and kubectl sees the QueueApp Ready.
func TestDemoWorksAsPrinted(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("this test runs the printed curl lines and needs curl on the PATH")
	}
	ctx, cancel := context.WithCancel(context.Background())
	out, printed := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen-address", "127.0.0.1:0", "--repo", ".."}, os.Getenv, printed, io.Discard)
		printed.Close()
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()

	var exports, curls, kubectl []string
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		line := lines.Text()
		switch {
		case strings.HasPrefix(line, "export "):
			exports = append(exports, line)
		case strings.HasPrefix(line, "curl "):
			curls = append(curls, line)
		case strings.Contains(line, "kubectl get queueapps"):
			kubectl = append(kubectl, line)
		}
		if len(kubectl) == 1 {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if len(curls) != 3 || len(exports) != 6 || len(kubectl) != 1 {
		t.Fatalf("the printed block has %d exports, %d curl lines, %d kubectl lines", len(exports), len(curls), len(kubectl))
	}
	shell := func(line string) string {
		t.Helper()
		script := strings.Join(exports, "\n") + "\n" + strings.Replace(line, "curl ", "curl -sS --fail-with-body --max-time 20 ", 1)
		got, err := exec.CommandContext(ctx, "bash", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", line, err, got)
		}
		return string(got)
	}
	if got := shell(curls[0]); !strings.Contains(got, `"Offset":1`) {
		t.Fatalf("produce answered %s", got)
	}
	shell(curls[1])
	got := shell(curls[2])
	if !strings.Contains(got, `"Value":"first message"`) || !strings.Contains(got, `"Value":"second message"`) ||
		strings.Index(got, "first message") > strings.Index(got, "second message") {
		t.Fatalf("consume answered %s", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := shell(kubectl[0])
		if strings.Contains(got, "my-app   True") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl get queueapps: %s", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
