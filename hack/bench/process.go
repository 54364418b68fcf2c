package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a process whose CPU time the bench reads: a child it
// started, or itself (the clients).
type process struct {
	name string
	pid  int
	// cmd and stop, which asks it to exit, are a child's.
	cmd  *exec.Cmd
	stop func()
}

// command is name with args, as a child that is killed when the bench
// dies, however it dies.
func command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// child is a started command, stopped by calling stop.
func child(name string, cmd *exec.Cmd, stop func()) *process {
	return &process{name: name, pid: cmd.Process.Pid, cmd: cmd, stop: stop}
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's
// times: 100 on every Linux architecture Go builds for.
const clockTicks = 100

// cpu is the user and system CPU time the process has used so far.
func (p *process) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return 0, fmt.Errorf("reading the %s's CPU time: %w", p.name, err)
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted after it, from the state (field 3); utime and stime are
	// fields 14 and 15.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("reading the %s's CPU time: /proc/%d/stat is too short", p.name, p.pid)
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
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
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
	return 0, fmt.Errorf("reading the %s's peak memory: no VmHWM in /proc/%d/status", p.name, p.pid)
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

// machineBusy is the CPU time every process on the machine has used so
// far (the first line of /proc/stat, all but idle and iowait).
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("reading the machine's CPU time: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return 0, fmt.Errorf("reading the machine's CPU time: %q", line)
	}
	var busy int64
	// user nice system idle iowait irq softirq steal
	for i, f := range fields[1:9] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("reading the machine's CPU time: %q", line)
		}
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTicks, nil
}

// stopwatch times one workload: wall clock, the CPU of each process, and
// that of the machine, whose rest is the other processes' (on a shared
// machine, what the figures competed with).
type stopwatch struct {
	procs    []*process
	start    time.Time
	cpu0     []time.Duration
	machine0 time.Duration
	err      error
}

func newStopwatch(procs []*process) *stopwatch {
	return &stopwatch{procs: procs}
}

// read is the machine's CPU time and each process's.
func (s *stopwatch) read() (time.Duration, []time.Duration, error) {
	machine, err := machineBusy()
	errs := []error{err}
	cpu := make([]time.Duration, len(s.procs))
	for i, p := range s.procs {
		cpu[i], err = p.cpu()
		errs = append(errs, err)
	}
	return machine, cpu, errors.Join(errs...)
}

func (s *stopwatch) begin() {
	s.machine0, s.cpu0, s.err = s.read()
	s.start = time.Now()
}

// end returns the time since begin and the CPU each process used, by
// name, and what the others used under otherProcesses.
func (s *stopwatch) end() (time.Duration, map[string]time.Duration, error) {
	elapsed := time.Since(s.start)
	machine, cpu1, err := s.read()
	cpu := map[string]time.Duration{}
	others := machine - s.machine0
	for i, p := range s.procs {
		cpu[p.name] = cpu1[i] - s.cpu0[i]
		others -= cpu[p.name]
	}
	// Ticks are counted apart, so the difference can dip below zero.
	cpu[otherProcesses] = max(others, 0)
	return elapsed, cpu, errors.Join(s.err, err)
}

// otherProcesses names, in a stopwatch's figures, the CPU used by every
// process it does not follow.
const otherProcesses = "others"
