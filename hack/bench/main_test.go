package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for the bench's own when the
// bench starts its broker process with -broker.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == "-broker" {
		main()
		return
	}
	os.Exit(m.Run())
}

// A short run goes through every workload for real (the broker process,
// the gateway binary, HTTPS) and ends with the JSON line, holding every
// ratio. It checks that the figures exist, never what they are.
func TestARunEndsWithEveryFigureAsJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"-duration", "100ms", "-drain-messages", "3000"}
	if err := run(t.Context(), args, func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := []byte(lines[len(lines)-1])

	var headline map[string]any
	if err := json.Unmarshal(last, &headline); err != nil {
		t.Fatalf("the last line is not JSON: %v\n%s", err, stdout.String())
	}
	for _, name := range []string{"produce_single_c64_vs_native", "produce_batch_c16_vs_native", "consume_vs_native"} {
		if v, ok := headline[name].(float64); !ok || v <= 0 {
			t.Errorf("%s is %v, want a positive ratio", name, headline[name])
		}
	}

	var rep report
	if err := json.Unmarshal(last, &rep); err != nil {
		t.Fatal(err)
	}
	// Three single, four batch, one raw and two drain workloads by default.
	if len(rep.Workloads) != 10 {
		t.Errorf("%d workloads, want 10", len(rep.Workloads))
	}
	for _, w := range rep.Workloads {
		for via, f := range map[string]*figures{"native": w.Native, "http1": w.HTTP1, "http2": w.HTTP2} {
			switch {
			case f == nil || f.MsgsPerSec <= 0:
				t.Errorf("%s %s: no throughput", w.Name, via)
			case via != "native" && (f.VsNative <= 0 || f.GatewayCPU == nil || f.BrokerCPU == nil || f.P99Ms <= 0):
				t.Errorf("%s %s: a ratio, the CPU figures or a latency are missing: %+v", w.Name, via, f)
			}
		}
	}
	if rep.GatewayPeakRSSBytes <= 0 {
		t.Error("no peak memory of the gateway")
	}
}
