// Package gomemory is how a gateway's Go runtime is set for its
// container's memory limit: by the operator, and wherever a gateway is run
// as the operator runs it (the benchmark, the memory tests).
package gomemory

import "strconv"

// LimitPercent of the container's memory limit is the Go runtime's soft
// limit (GOMEMLIMIT): the garbage collector works harder as the heap nears
// it, and the rest is left for what the runtime does not count (thread
// stacks, the kernel's socket buffers charged to the pod). The gateway
// sizes its consume budgets from it.
const LimitPercent = 90

// GCPercent is the gateway's GOGC under a memory limit. Go's default of
// 100 collects each time the heap doubles; the gateway's live heap is
// small next to its limit and what it allocates lives for one request, so
// it spent a tenth of its CPU collecting. 400 lets the heap grow to five
// times what is live, and GOMEMLIMIT still makes the collector work
// harder, whatever GOGC says, as the heap nears the limit. Without a limit
// Go's default stays: nothing would bound the heap then.
const GCPercent = 400

// DefaultContainerLimit is the memory limit the operator gives a gateway
// container when the QueueApp sets none: 256 MiB.
const DefaultContainerLimit = 256 << 20

// Var is one environment variable.
type Var struct{ Name, Value string }

// Env is the Go runtime's environment for a container memory limit in
// bytes; none when there is no limit (0).
func Env(containerLimit int64) []Var {
	if containerLimit <= 0 {
		return nil
	}
	return []Var{
		{"GOMEMLIMIT", strconv.FormatInt(containerLimit/100*LimitPercent, 10)},
		{"GOGC", strconv.Itoa(GCPercent)},
	}
}

// Environ is Env as "NAME=value" strings, for a process started directly.
func Environ(containerLimit int64) []string {
	var env []string
	for _, v := range Env(containerLimit) {
		env = append(env, v.Name+"="+v.Value)
	}
	return env
}
