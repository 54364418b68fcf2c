package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// README.md shows the gateway's flags exactly as --help prints them: no
// flag missing, none that is gone.
func TestREADMEShowsTheCurrentFlags(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var help strings.Builder
	if err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	lines := strings.Split(help.String(), "\n")
	for _, line := range lines[4:] {
		if !strings.Contains(string(readme), line+"\n") {
			t.Errorf("README.md lacks this line of --help: %q (paste bin/gateway --help into it)", line)
		}
	}
	_, block, _ := strings.Cut(string(readme), "`bin/gateway --help` lists them:\n\n```\n")
	block, _, _ = strings.Cut(block, "```")
	if want := strings.Join(lines[4:], "\n"); block != want {
		t.Errorf("README.md's block of the gateway's flags is not --help's (paste bin/gateway --help into it):\n%s\nwant:\n%s", block, want)
	}
}

// The in-process broker of the demos and tests stays out of the image's
// binaries: neither the gateway nor the manager links it. Nor do they link
// the OpenAPI validator the tests check the gateway's answers with.
func TestProductBinariesLinkNoTestBroker(t *testing.T) {
	for _, binary := range []string{"qaas.dev/qaas/gateway", "qaas.dev/qaas"} {
		out, err := exec.Command("go", "list", "-deps", binary).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v: %s", binary, err, out)
		}
		for _, pkg := range strings.Fields(string(out)) {
			if pkg == "github.com/twmb/franz-go/pkg/kfake" || pkg == "qaas.dev/qaas/internal/embeddedkafka" {
				t.Errorf("%s links %s, a broker for demos and tests", binary, pkg)
			}
			if strings.HasPrefix(pkg, "github.com/pb33f/") {
				t.Errorf("%s links %s, an OpenAPI library for tests", binary, pkg)
			}
		}
	}
}
