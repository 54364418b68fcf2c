package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// figures are one workload's numbers through one path (native, or the
// gateway over one HTTP version).
type figures struct {
	MsgsPerSec float64 `json:"msgs_per_s"`
	Messages   int64   `json:"messages"`
	// P50Ms and P99Ms are request latencies; a native drain has none.
	P50Ms float64 `json:"p50_ms,omitempty"`
	P99Ms float64 `json:"p99_ms,omitempty"`
	// GatewayCPU, BrokerCPU and ClientCPU (the bench's own clients,
	// native or HTTP) are CPU seconds per 100k messages.
	GatewayCPU *float64 `json:"gateway_cpu_s_per_100k_msgs,omitempty"`
	BrokerCPU  *float64 `json:"broker_cpu_s_per_100k_msgs,omitempty"`
	ClientCPU  *float64 `json:"client_cpu_s_per_100k_msgs,omitempty"`
	// CoresBusy is the CPU all of them used over the wall clock: near the
	// machine's count of cores, CPU is what bounds the workload.
	CoresBusy float64 `json:"cores_busy"`
	// OthersCoresBusy is what the machine's other processes used meanwhile.
	OthersCoresBusy float64 `json:"others_cores_busy"`
	// VsNative is MsgsPerSec over the native path's.
	VsNative float64 `json:"vs_native,omitempty"`
}

func newFigures(r result) *figures {
	f := &figures{
		MsgsPerSec: float64(r.msgs) / r.elapsed.Seconds(),
		Messages:   r.msgs,
		P50Ms:      ms(percentile(r.latencies, 50)),
		P99Ms:      ms(percentile(r.latencies, 99)),
	}
	per100k := func(cpu time.Duration) *float64 {
		v := cpu.Seconds() / float64(max(r.msgs, 1)) * 1e5
		return &v
	}
	if cpu, ok := r.cpu["gateway"]; ok {
		f.GatewayCPU = per100k(cpu)
	}
	if cpu, ok := r.cpu["broker"]; ok {
		f.BrokerCPU = per100k(cpu)
	}
	if cpu, ok := r.cpu["client"]; ok {
		f.ClientCPU = per100k(cpu)
	}
	var busy time.Duration
	for name, cpu := range r.cpu {
		if name != otherProcesses {
			busy += cpu
		}
	}
	f.CoresBusy = busy.Seconds() / r.elapsed.Seconds()
	f.OthersCoresBusy = r.cpu[otherProcesses].Seconds() / r.elapsed.Seconds()
	return f
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// row is one workload through every path.
type row struct {
	Name   string   `json:"name"`
	Label  string   `json:"-"`
	Native *figures `json:"native"`
	HTTP1  *figures `json:"http1"`
	HTTP2  *figures `json:"http2"`
}

// report is the whole run, printed last as one JSON line.
type report struct {
	ValueBytes          int     `json:"value_bytes"`
	DurationS           float64 `json:"duration_s"`
	Kafka               string  `json:"kafka"`
	CPUs                int     `json:"cpus"`
	GatewayPeakRSSBytes int64   `json:"gateway_peak_rss_bytes"`
	// GatewayEnv is the Go runtime's environment the gateway ran with.
	GatewayEnv []string `json:"gateway_env"`
	Workloads  []*row   `json:"workloads"`
	// The headline ratios, gateway over native msgs/s, over HTTP/1.1 (how
	// an ingress controller forwards to the gateway); null when the
	// workload was not run.
	ProduceSingleC64 *float64 `json:"produce_single_c64_vs_native"`
	ProduceBatchC16  *float64 `json:"produce_batch_c16_vs_native"`
	ConsumeVsNative  *float64 `json:"consume_vs_native"`
}

// headlineWorkloads are the workloads behind the headline ratios.
const (
	headlineSingle  = "produce_single_c64"
	headlineBatch   = "produce_batch100_c16"
	headlineConsume = "consume_c4"
)

// finish computes every ratio.
func (rep *report) finish() {
	for _, r := range rep.Workloads {
		for _, f := range []*figures{r.HTTP1, r.HTTP2} {
			if f != nil && r.Native != nil && r.Native.MsgsPerSec > 0 {
				f.VsNative = f.MsgsPerSec / r.Native.MsgsPerSec
			}
		}
	}
	headline := func(name string) *float64 {
		for _, r := range rep.Workloads {
			if r.Name == name && r.HTTP1 != nil && r.HTTP1.VsNative > 0 {
				return &r.HTTP1.VsNative
			}
		}
		return nil
	}
	rep.ProduceSingleC64 = headline(headlineSingle)
	rep.ProduceBatchC16 = headline(headlineBatch)
	rep.ConsumeVsNative = headline(headlineConsume)
}

// print writes the table, then the JSON line.
func (rep *report) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tvia\tgateway msg/s\tnative msg/s\tratio\tp50 ms gw/native\tp99 ms gw/native\tgateway CPU s/100k\tbroker CPU s/100k gw/native\tcores busy gw/native\t")
	for _, r := range rep.Workloads {
		for _, via := range []struct {
			name string
			f    *figures
		}{{"HTTP/1.1", r.HTTP1}, {"HTTP/2", r.HTTP2}} {
			if via.f == nil {
				continue
			}
			n := r.Native
			if n == nil {
				n = &figures{}
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%.2f\t%s / %s\t%s / %s\t%s\t%s / %s\t%.1f / %.1f\t\n", r.Label, via.name,
				via.f.MsgsPerSec, n.MsgsPerSec, via.f.VsNative,
				num(via.f.P50Ms), num(n.P50Ms), num(via.f.P99Ms), num(n.P99Ms),
				cpu(via.f.GatewayCPU), cpu(via.f.BrokerCPU), cpu(n.BrokerCPU), via.f.CoresBusy, n.CoresBusy)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "gateway peak RSS %.0f MiB (%s); %d-byte values, %d CPUs, Kafka %s\n",
		float64(rep.GatewayPeakRSSBytes)/(1<<20), strings.Join(append([]string{"env"}, rep.GatewayEnv...), " "), rep.ValueBytes, rep.CPUs, rep.Kafka)
	line, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}

func num(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func cpu(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *v)
}
