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

// RunFunc is a demo program's whole run, as its main calls it.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Start runs a demo in the background and reads what it prints until
// complete says the block is all there. stop ends the demo and returns the
// error it ended with.
func Start(run RunFunc, args []string, getenv func(string) string, complete func(Block) bool) (b Block, stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	out, printed := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, getenv, printed, io.Discard)
		printed.Close()
	}()
	return Read(out, complete), func() error {
		cancel()
		return <-done
	}
}

// Export is the value a printed export line gives name, or "".
func (b Block) Export(name string) string {
	for _, line := range b.Exports {
		if v, ok := strings.CutPrefix(line, "export "+name+"="); ok {
			return v
		}
	}
	return ""
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
