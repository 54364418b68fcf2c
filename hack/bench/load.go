package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// op is one request of one client; it returns how many messages it moved.
type op func(ctx context.Context) (int, error)

// result is what one workload measured.
type result struct {
	msgs    int64
	elapsed time.Duration
	// latencies has one entry per request, sorted.
	latencies []time.Duration
	// cpu is what each process followed used while the clock ran, by
	// name, and what the rest of the machine used (see stopwatch.end).
	cpu map[string]time.Duration
}

// drainTimeout bounds a drain that never gets its messages.
const drainTimeout = 5 * time.Minute

// load runs clients concurrent clients. Each calls warmUp once before the
// clock starts (its connection opens, the consumer joins its group), then
// do in a loop until duration passed or, with duration 0, until target
// messages were moved in all, the warm-ups' included. Requests in flight
// when it stops finish and count, so nothing is cut short.
func load(ctx context.Context, sw *stopwatch, clients int, duration time.Duration, target int64, warmUp, do op) (result, error) {
	if duration == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, drainTimeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		moved, timed atomic.Int64
		stopping     atomic.Bool
		warm, done   sync.WaitGroup
		start        = make(chan struct{})
		latencies    = make([][]time.Duration, clients)
		// firstErr is the error that stopped the workload: the others
		// that follow it are mostly its cancellation's.
		firstErr error
		errOnce  sync.Once
		fail     = func(err error) {
			errOnce.Do(func() { firstErr = err })
			cancel()
		}
		stopWhenReached = func(total int64) {
			if target > 0 && total >= target {
				stopping.Store(true)
			}
		}
	)
	for i := range clients {
		warm.Add(1)
		done.Go(func() {
			n, err := warmUp(ctx)
			stopWhenReached(moved.Add(int64(n)))
			warm.Done()
			if err != nil {
				fail(fmt.Errorf("warming up: %w", err))
				return
			}
			<-start
			for !stopping.Load() && ctx.Err() == nil {
				began := time.Now()
				n, err := do(ctx)
				if err != nil {
					fail(err)
					return
				}
				latencies[i] = append(latencies[i], time.Since(began))
				timed.Add(int64(n))
				stopWhenReached(moved.Add(int64(n)))
			}
		})
	}
	warm.Wait()
	sw.begin()
	if duration > 0 {
		defer time.AfterFunc(duration, func() { stopping.Store(true) }).Stop()
	}
	close(start)
	done.Wait()
	elapsed, cpu, err := sw.end()
	if firstErr != nil {
		return result{}, firstErr
	}
	if err != nil {
		return result{}, err
	}
	if target > 0 && moved.Load() < target {
		return result{}, fmt.Errorf("moved %d of %d messages in %s", moved.Load(), target, drainTimeout)
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	return result{msgs: timed.Load(), elapsed: elapsed, latencies: all, cpu: cpu}, nil
}

// percentile is the p-th percentile of sorted latencies, 0 without any.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}
