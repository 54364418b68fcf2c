package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"qaas.dev/qaas/internal/kafkaconn"
)

// bench holds what every workload uses.
type bench struct {
	o      *options
	stderr io.Writer
	rep    *report
	native *nativeProducer
	conn   kafkaconn.Connection
	// gateway is the gateway's process; always are those followed in
	// every workload: the bench itself (its clients), and the broker when
	// the bench runs it.
	gateway, always []*process
	http1, http2    *gatewayClient
	value           []byte
	// runID makes this run's consumer groups new.
	runID string
}

// produceShape is one produce workload: clients each sending requests of
// batch messages, as a JSON array or, raw, as the body itself.
type produceShape struct {
	name, label string
	clients     int
	batch       int
	raw         bool
}

func (b *bench) produceShapes() []produceShape {
	var shapes []produceShape
	for _, c := range b.o.concurrency {
		shapes = append(shapes, produceShape{fmt.Sprintf("produce_single_c%d", c), "POST 1 msg, " + clientCount(c), c, 1, false})
	}
	for _, n := range b.o.batchSizes {
		for _, c := range b.o.batchConcurrency {
			shapes = append(shapes, produceShape{fmt.Sprintf("produce_batch%d_c%d", n, c), fmt.Sprintf("POST %d msgs, %s", n, clientCount(c)), c, n, false})
		}
	}
	for _, c := range b.o.rawConcurrency {
		shapes = append(shapes, produceShape{fmt.Sprintf("produce_raw_c%d", c), "POST raw, " + clientCount(c), c, 1, true})
	}
	return shapes
}

// produceAll runs every produce workload natively, then through the
// gateway over HTTP/1.1 and HTTP/2.
func (b *bench) produceAll(ctx context.Context) error {
	topic := "/topic/" + b.o.kafkaTopic
	for _, s := range b.produceShapes() {
		path, body := topic, b.value
		if s.raw {
			path += "?format=raw"
		} else {
			msgs := make([]struct{ Value string }, s.batch)
			for i := range msgs {
				msgs[i].Value = string(b.value)
			}
			body, _ = json.Marshal(msgs)
		}
		r := &row{Name: s.name, Label: s.label}
		var err error
		r.Native, err = b.measure(ctx, s.name+" native", b.always, s.clients, 0, nil, func(context.Context) (int, error) {
			return b.native.send(b.o.kafkaTopic, b.value, s.batch)
		})
		if err != nil {
			return err
		}
		for _, via := range []struct {
			client *gatewayClient
			f      **figures
		}{{b.http1, &r.HTTP1}, {b.http2, &r.HTTP2}} {
			*via.f, err = b.measure(ctx, fmt.Sprintf("%s http%d", s.name, via.client.proto), b.withGateway(), s.clients, 0, nil, func(ctx context.Context) (int, error) {
				_, err := via.client.do(ctx, http.MethodPost, path, body)
				return s.batch, err
			})
			if err != nil {
				return err
			}
		}
		b.rep.Workloads = append(b.rep.Workloads, r)
	}
	return nil
}

// nativeDrains is how many times the native consumer group drains the topic.
const nativeDrains = 3

// drainAll preloads the topic, drains it with a native consumer group,
// then with the gateway's groups, each a new group reading the same
// messages from the oldest.
func (b *bench) drainAll(ctx context.Context) error {
	n := b.o.drainMessages
	batch := int(min(n, 1000))
	preload := func(context.Context) (int, error) { return b.native.send(b.o.kafkaTopic, b.value, batch) }
	if _, err := load(ctx, newStopwatch(nil), 4, 0, n, preload, preload); err != nil {
		return fmt.Errorf("preloading the topic: %w", err)
	}
	// The native drain is the quickest workload, and so the one a pause
	// of the machine skews most: the median of three is its figure.
	var runs []result
	for i := range nativeDrains {
		res, err := nativeDrain(ctx, newStopwatch(b.always), b.conn, b.o.kafkaUser, b.o.kafkaPassword, b.o.kafkaTopic, fmt.Sprintf("%s.bench-native%d-%s", b.o.kafkaUser, i, b.runID), n)
		if err != nil {
			return err
		}
		runs = append(runs, res)
	}
	slices.SortFunc(runs, func(a, b result) int { return cmp.Compare(a.elapsed, b.elapsed) })
	native := newFigures(runs[len(runs)/2])
	b.progress("drain native", native)
	for _, c := range b.o.drainClients {
		r := &row{Name: fmt.Sprintf("consume_c%d", c), Label: "GET limit=1000, " + clientCount(c), Native: native}
		for _, via := range []struct {
			client *gatewayClient
			f      **figures
		}{{b.http1, &r.HTTP1}, {b.http2, &r.HTTP2}} {
			name := fmt.Sprintf("%s http%d", r.Name, via.client.proto)
			topic := fmt.Sprintf("/topic/%s?group=bench-h%d-c%d-%s", b.o.kafkaTopic, via.client.proto, c, b.runID)
			get := func(query string) op {
				return func(ctx context.Context) (int, error) {
					body, err := via.client.do(ctx, http.MethodGet, topic+query, nil)
					// Counting is enough: values are the bench's own, with
					// no quote to make a false match.
					return bytes.Count(body, []byte(`"Offset":`)), err
				}
			}
			// The warm-up waits until the group formed and its first
			// message came, as the native drain's clock starts at its first.
			var err error
			*via.f, err = b.measure(ctx, name, b.withGateway(), c, n, get("&limit=1&timeout=10s"), get("&limit=1000"))
			if err != nil {
				return err
			}
		}
		b.rep.Workloads = append(b.rep.Workloads, r)
	}
	return nil
}

// measure runs one workload (see load; warmUp nil is do) and shows its
// throughput as it goes.
func (b *bench) measure(ctx context.Context, name string, procs []*process, clients int, target int64, warmUp, do op) (*figures, error) {
	duration := b.o.duration
	if target > 0 {
		duration = 0
	}
	if warmUp == nil {
		warmUp = do
	}
	r, err := load(ctx, newStopwatch(procs), clients, duration, target, warmUp, do)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f := newFigures(r)
	b.progress(name, f)
	return f, nil
}

func (b *bench) progress(name string, f *figures) {
	fmt.Fprintf(b.stderr, "%-30s %9.0f msg/s\n", name, f.MsgsPerSec)
}

func clientCount(n int) string {
	if n == 1 {
		return "1 client"
	}
	return fmt.Sprintf("%d clients", n)
}

func (b *bench) withGateway() []*process { return slices.Concat(b.gateway, b.always) }
