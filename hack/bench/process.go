package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a child process whose CPU time the bench reads.
type process struct {
	name string
	cmd  *exec.Cmd
	// stop asks the process to exit.
	stop func()
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's
// times: 100 on every Linux architecture Go builds for.
const clockTicks = 100

// cpu is the user and system CPU time the process has used so far.
func (p *process) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("reading the %s's CPU time: %w", p.name, err)
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after it, from the state (field 3); utime and stime are
	// fields 14 and 15.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("reading the %s's CPU time: /proc/%d/stat is too short", p.name, p.cmd.Process.Pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("reading the %s's CPU time: %q", p.name, b)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// peakRSS is the most resident memory the process has held, in bytes
// (VmHWM).
func (p *process) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("reading the %s's peak memory: %w", p.name, err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("reading the %s's peak memory: %q", p.name, line)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("reading the %s's peak memory: no VmHWM in /proc/%d/status", p.name, p.cmd.Process.Pid)
}

// close stops the process and waits for it, killing it if it takes more
// than ten seconds.
func (p *process) close() {
	p.stop()
	done := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// terminate is a stop that sends SIGTERM.
func terminate(cmd *exec.Cmd) func() {
	return func() { _ = cmd.Process.Signal(syscall.SIGTERM) }
}

// stopwatch times one workload: wall clock and the CPU of each process.
type stopwatch struct {
	procs []*process
	start time.Time
	cpu0  []time.Duration
	err   error
}

func newStopwatch(procs []*process) *stopwatch {
	return &stopwatch{procs: procs, cpu0: make([]time.Duration, len(procs))}
}

func (s *stopwatch) begin() {
	for i, p := range s.procs {
		c, err := p.cpu()
		s.cpu0[i] = c
		if s.err == nil {
			s.err = err
		}
	}
	s.start = time.Now()
}

// end returns the time since begin and the CPU each process used, by name.
func (s *stopwatch) end() (time.Duration, map[string]time.Duration, error) {
	elapsed := time.Since(s.start)
	cpu := map[string]time.Duration{}
	for i, p := range s.procs {
		c, err := p.cpu()
		if s.err == nil {
			s.err = err
		}
		cpu[p.name] = c - s.cpu0[i]
	}
	return elapsed, cpu, s.err
}
