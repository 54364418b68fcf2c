// Package demotest reads the instructions the demos print and runs them as
// a user pasting them into bash would. The tests of both demos use it.
package demotest

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strings"
)

// Block is what a demo printed: export lines, curl lines, kubectl lines.
type Block struct {
	Exports, Curls, Kubectl []string
}

// Read reads the lines a demo prints until complete says the block is all
// there, then drains the rest of r in the background.
func Read(r io.Reader, complete func(Block) bool) Block {
	var b Block
	lines := bufio.NewScanner(r)
	for !complete(b) && lines.Scan() {
		switch line := lines.Text(); {
		case strings.HasPrefix(line, "export "):
			b.Exports = append(b.Exports, line)
		case strings.HasPrefix(line, "curl "):
			b.Curls = append(b.Curls, line)
		case strings.Contains(line, "kubectl "):
			b.Kubectl = append(b.Kubectl, line)
		}
	}
	go func() { _, _ = io.Copy(io.Discard, r) }()
	return b
}

// Run runs line in bash after the exports; curl fails on an HTTP error and
// gives up after 20 seconds.
func (b Block) Run(ctx context.Context, line string) (string, error) {
	line = strings.Replace(line, "curl ", "curl -sS --fail-with-body --max-time 20 ", 1)
	out, err := exec.CommandContext(ctx, "bash", "-c", strings.Join(b.Exports, "\n")+"\n"+line).CombinedOutput()
	return string(out), err
}
