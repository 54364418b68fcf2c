package server_test

import (
	"bytes"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"qaas.dev/qaas/internal/embeddedkafka"
)

// BenchmarkScaleUpGetLatency reads a group through one replica, then
// starts two more while reading on: GETs go round-robin over whichever
// replicas serve, so the new ones join the group and forward to its owner.
// It reads until every waiting message came and reports the worst and the
// 99th-percentile GET latency after the scale-up began, next to those
// before it, and the empty answers (there should be none).
func BenchmarkScaleUpGetLatency(b *testing.B) {
	for range b.N {
		tb := startBroker(b, embeddedkafka.BrokerOptions{})
		six := provisionSix(b, tb)
		rs := startReplicas(b, tb, 1)
		pass := tb.passwords[userA]
		// Enough waiting messages that no GET of the run comes back empty.
		const total = 150000
		rs.postNumbered(b, userA, pass, six, total, 1000)

		type sample struct {
			at      time.Time
			latency time.Duration
			msgs    int
		}
		var mu sync.Mutex
		var samples []sample
		var wg sync.WaitGroup
		wg.Go(func() {
			for read := 0; read < total; {
				start := time.Now()
				r, err := rs.call(http.MethodGet, "/topic/"+six+"?limit=20", userA, pass, "")
				if err != nil || r.status != http.StatusOK {
					b.Errorf("GET: %v %d %s", err, r.status, r.body)
					return
				}
				n := bytes.Count(r.body, []byte(`"Offset"`))
				read += n
				mu.Lock()
				samples = append(samples, sample{start, time.Since(start), n})
				mu.Unlock()
			}
		})
		time.Sleep(2 * time.Second)
		scaleUp := time.Now()
		rs.add()
		rs.add()
		wg.Wait()
		afterFor := time.Since(scaleUp)

		var before, after []time.Duration
		read, empty := 0, 0
		for _, s := range samples {
			read += s.msgs
			if s.msgs == 0 {
				empty++
			}
			if s.at.Before(scaleUp) {
				before = append(before, s.latency)
			} else {
				after = append(after, s.latency)
			}
		}
		if len(before) == 0 || len(after) == 0 {
			b.Fatalf("%d GETs before and %d after the scale-up", len(before), len(after))
		}
		slices.Sort(before)
		slices.Sort(after)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(after[len(after)-1]), "worst-ms-after")
		b.ReportMetric(ms(after[len(after)*99/100]), "p99-ms-after")
		b.ReportMetric(ms(before[len(before)-1]), "worst-ms-before")
		b.ReportMetric(ms(before[len(before)*99/100]), "p99-ms-before")
		b.ReportMetric(float64(len(after))/afterFor.Seconds(), "gets/s-after")
		b.ReportMetric(float64(read), "msgs-read")
		b.ReportMetric(float64(empty), "empty-gets")
	}
}
