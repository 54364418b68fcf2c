package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"qaas.dev/qaas/internal/demotest"
)

// The end-to-end demo, as README shows it: the printed block pasted into
// bash makes the three OVH calls work against the sample QueueApp's
// gateway, and kubectl sees the QueueApp Ready.
func TestDemoWorksAsPrinted(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("this test runs the printed curl lines and needs curl on the PATH")
	}
	b, stop := demotest.Start(run, []string{"--listen-address", "127.0.0.1:0", "--repo", ".."}, os.Getenv,
		func(b demotest.Block) bool { return len(b.Kubectl) > 0 })
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("demo: %v", err)
		}
	}()
	ctx := context.Background()
	if len(b.Curls) != 3 || len(b.Exports) != 6 {
		t.Fatalf("the printed block has %d exports and %d curl lines", len(b.Exports), len(b.Curls))
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
	shell(b.Curls[1])
	got := shell(b.Curls[2])
	if !strings.Contains(got, `"Value":"first message"`) || !strings.Contains(got, `"Value":"second message"`) ||
		strings.Index(got, "first message") > strings.Index(got, "second message") {
		t.Fatalf("consume answered %s", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := shell(b.Kubectl[0])
		if strings.Contains(got, "my-app   True") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl get queueapps: %s", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
