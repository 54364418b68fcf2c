package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"qaas.dev/qaas/gateway/kafka"
)

type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	produced    prometheus.Counter
	consumed    prometheus.Counter
	kafkaErrors *prometheus.CounterVec
	// queueRedelivered and queueAcks count queue mode's deliveries after
	// the first and its acknowledgements by result.
	queueRedelivered prometheus.Counter
	queueAcks        *prometheus.CounterVec
	streams          prometheus.Gauge
}

func newMetrics(pool *kafka.Pool, kafkaCheck func() error) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qaas_gateway_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "qaas_gateway_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		produced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qaas_gateway_messages_produced_total", Help: "Messages acknowledged by Kafka and reported to clients.",
		}),
		consumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qaas_gateway_messages_consumed_total", Help: "Messages handed out to clients.",
		}),
		kafkaErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qaas_gateway_kafka_errors_total", Help: "Kafka failures returned to clients, by kind.",
		}, []string{"kind"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "qaas_gateway_consume_streams", Help: "Consume streams (Server-Sent Events) open now.",
		}),
		queueRedelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qaas_gateway_queue_redeliveries_total", Help: "Queue-mode records handed out again (delivery count above 1).",
		}),
		queueAcks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qaas_gateway_queue_acknowledgements_total", Help: "Queue-mode acknowledgements by result: accept, release or reject when Kafka took them, else expired or failed.",
		}, []string{"result"}),
	}
	users := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qaas_gateway_kafka_clients", Help: "Users with an open Kafka client.",
	}, func() float64 { return float64(pool.Stats().Users) })
	members := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qaas_gateway_consumer_group_members", Help: "Consumer group members kept open, one per (user, topic, group).",
	}, func() float64 { return float64(pool.Stats().Members) })
	consumeMemory := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qaas_gateway_consume_memory_bytes", Help: "Memory the open consumer group members reserved, each its worst case.",
	}, func() float64 { return float64(pool.Stats().MemoryBytes) })
	consumeMemoryLimit := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qaas_gateway_consume_memory_limit_bytes", Help: "The gateway's budget for qaas_gateway_consume_memory_bytes.",
	}, func() float64 { return float64(pool.Stats().MemoryLimit) })
	evictions := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "qaas_gateway_consumer_group_evictions_total", Help: "Idle consumer group members closed to make room in the memory budget for others.",
	}, func() float64 { return float64(pool.Stats().Evictions) })
	kafkaUp := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qaas_gateway_kafka_up", Help: "1 when a Kafka bootstrap server answered at scrape time, else 0.",
	}, func() float64 {
		if kafkaCheck() != nil {
			return 0
		}
		return 1
	})
	m.registry.MustRegister(m.requests, m.duration, m.produced, m.consumed, m.kafkaErrors, m.queueRedelivered, m.queueAcks, m.streams, users, members, consumeMemory, consumeMemoryLimit, evictions, kafkaUp,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// instrument counts and times the requests of one route.
func (m *metrics) instrument(route string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next(rec, r)
		m.requests.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(rec.status)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// methodLabel keeps the method label to a fixed set: clients choose the
// method, and every label value is a time series kept in memory.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodHead:
		return method
	}
	return "OTHER"
}
