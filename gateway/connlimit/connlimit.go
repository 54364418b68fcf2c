// Package connlimit caps the connections a listener holds open, so that a
// flood of connections cannot exhaust file descriptors and memory or slow
// down the health checks.
//
// At the cap, a new connection first takes the place of the connection
// idle the longest (a keep-alive connection between requests, or one that
// has not sent a request yet): clients holding connections open without
// using them cannot lock out new ones. When every connection is busy, the
// next few (the headroom) are still accepted, but serve only the health,
// readiness and metrics endpoints, and every other request on them gets a
// JSON 503 with Retry-After: the kubelet's probes keep working and a client
// learns why it is refused. Past the headroom a connection is accepted and
// closed at once, before its TLS handshake: no HTTP answer is possible
// then, and holding it unaccepted would fill the kernel's backlog, where
// the probes would wait too.
package connlimit

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limiter holds the connections of the listeners it wraps to max, plus
// headroom restricted ones. Give its ConnState and ConnContext to the
// http.Server that serves them.
type Limiter struct {
	max, headroom int

	mu         sync.Mutex
	open       map[*conn]struct{}
	restricted int

	refused prometheus.Counter
	evicted prometheus.Counter
}

// New returns a limiter of max connections plus headroom restricted ones.
func New(max, headroom int) *Limiter {
	return &Limiter{
		max:      max,
		headroom: headroom,
		open:     map[*conn]struct{}{},
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qaas_gateway_http_connections_refused_total",
			Help: "Connections closed on arrival because every connection, headroom included, was busy.",
		}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "qaas_gateway_http_connections_evicted_total",
			Help: "Idle connections closed to make room for a new one at the connection cap.",
		}),
	}
}

// Collectors are the limiter's metrics.
func (l *Limiter) Collectors() []prometheus.Collector {
	open := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "qaas_gateway_http_connections",
		Help: "HTTP connections open now, those over the cap (health checks only) included.",
	}, func() float64 { return float64(l.Open()) })
	return []prometheus.Collector{open, l.refused, l.evicted}
}

// Open is the number of connections open now.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open)
}

// Wrap returns ln, admitting connections within the limiter's cap.
func (l *Limiter) Wrap(ln net.Listener) net.Listener { return &listener{Listener: ln, l: l} }

type listener struct {
	net.Listener
	l *Limiter
}

// Accept returns the next connection the cap admits.
func (ln *listener) Accept() (net.Conn, error) {
	l := ln.l
	for {
		nc, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c, victim := l.admit(nc)
		if victim != nil {
			// Its server goroutine sees the connection closed and ends.
			victim.Close()
			l.evicted.Inc()
		}
		if c != nil {
			return c, nil
		}
		nc.Close()
		l.refused.Inc()
	}
}

// admit decides nc's fate: a connection of its own, or restricted, or
// none; victim, when not nil, is the idle connection to close for it.
func (l *Limiter) admit(nc net.Conn) (c, victim *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c = &conn{Conn: nc, l: l, since: time.Now()}
	if len(l.open)-l.restricted >= l.max {
		victim = l.longestIdle()
		switch {
		case victim != nil:
			victim.evicted = true
			l.removeLocked(victim)
		case l.restricted < l.headroom:
			c.restricted = true
			l.restricted++
		default:
			return nil, nil
		}
	}
	l.open[c] = struct{}{}
	return c, victim
}

// longestIdle is the unrestricted connection that has not been serving a
// request for the longest, or nil when all are serving one.
func (l *Limiter) longestIdle() *conn {
	var oldest *conn
	for c := range l.open {
		if c.restricted || c.state != http.StateNew && c.state != http.StateIdle {
			continue
		}
		if oldest == nil || c.since.Before(oldest.since) {
			oldest = c
		}
	}
	return oldest
}

func (l *Limiter) removeLocked(c *conn) {
	if _, ok := l.open[c]; !ok {
		return
	}
	delete(l.open, c)
	if c.restricted {
		l.restricted--
	}
}

// ConnState follows whether each connection is serving a request; set it
// as the http.Server's ConnState.
func (l *Limiter) ConnState(nc net.Conn, state http.ConnState) {
	c := unwrap(nc)
	if c == nil {
		return
	}
	l.mu.Lock()
	c.state, c.since = state, time.Now()
	l.mu.Unlock()
}

type connKey struct{}

// ConnContext lets the requests of each connection know what the cap made
// of it; set it as the http.Server's ConnContext.
func (l *Limiter) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if c := unwrap(nc); c != nil {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// Restricted says whether the request of ctx came on a connection over the
// cap, which serves health checks only.
func Restricted(ctx context.Context) bool {
	c, _ := ctx.Value(connKey{}).(*conn)
	return c != nil && c.restricted
}

// Evicted says whether the connection of ctx was closed to make room. A
// connection is chosen while idle, but a request may arrive on it before
// it is closed: its handler, which starts after the connection is marked
// busy, checks this first so that it does nothing a client could not learn
// the outcome of.
func Evicted(ctx context.Context) bool {
	c, _ := ctx.Value(connKey{}).(*conn)
	if c == nil {
		return false
	}
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	return c.evicted
}

// unwrap finds the listener's connection under the server's TLS.
func unwrap(nc net.Conn) *conn {
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	c, _ := nc.(*conn)
	return c
}

type conn struct {
	net.Conn
	l          *Limiter
	restricted bool
	// Guarded by l.mu.
	state   http.ConnState
	since   time.Time
	evicted bool
}

func (c *conn) Close() error {
	c.l.mu.Lock()
	c.l.removeLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
