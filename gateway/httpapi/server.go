// Package httpapi is the gateway's HTTP API: OVH Queue's produce and
// consume calls on /topic/{topic}, plus health, readiness, metrics and
// the API's OpenAPI description (openapi.json).
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"qaas.dev/qaas/gateway/auth"
	"qaas.dev/qaas/gateway/connlimit"
	"qaas.dev/qaas/gateway/kafka"
)

// Limits bound requests and responses.
type Limits struct {
	MaxRequestBytes  int64
	MaxMessageBytes  int
	MaxBatchMessages int
	MaxResponseBytes int
	// MaxHeaderBytes bounds a request's line and headers.
	MaxHeaderBytes int
}

// Deps is what the API needs.
type Deps struct {
	Pool *kafka.Pool
	// Credentials, when not nil, are checked before any Kafka login; when
	// nil, the supplied username and password are the Kafka login.
	Credentials *auth.Credentials
	Limits      Limits
	// Peers, when not nil, lets this replica forward consumes to the
	// replica that owns their group, and serve those forwarded to it.
	Peers *Peers
	// KafkaCheck reports whether Kafka is reachable, for the metrics.
	KafkaCheck func() error
	// Connections, when not nil, caps the API's connections; the API
	// serves only operations to those over the cap, and shows its metrics.
	Connections *connlimit.Limiter
	// Streams bounds consume streams (Server-Sent Events).
	Streams StreamLimits
	Log     *slog.Logger
}

type server struct {
	Deps
	metrics *metrics
	log     *slog.Logger
	// leases are the leases held for another replica or for a commit.
	leases *heldLeases
	tokens *tokens
	// streams counts the consume streams open per user.
	streams *streamSlots
}

// NewHandlers returns the API with every route in one place, and the peer
// API (nil without d.Peers); both count into the same metrics.
func NewHandlers(d Deps) (api, peer http.Handler) {
	s := &server{Deps: d, metrics: newMetrics(d.Pool, d.KafkaCheck), log: d.Log, leases: newHeldLeases(), streams: newStreamSlots(d.Streams.PerUser)}
	if d.Peers != nil {
		s.tokens = newTokens(d.Peers.Token)
	} else {
		s.tokens = newTokens("")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /topic/{topic}", s.metrics.instrument("produce", s.answer(s.produce)))
	mux.HandleFunc("GET /topic/{topic}", byAccept(s.metrics.instrument("consume", s.answer(s.consume)), s.metrics.instrument("stream", s.answer(s.stream))))
	// A HEAD would otherwise reach the GET route and consume messages
	// into a body nobody reads.
	mux.HandleFunc("HEAD /topic/{topic}", s.metrics.instrument("other", methodNotAllowed("GET, POST")))
	mux.HandleFunc("/topic/{topic}", s.metrics.instrument("other", methodNotAllowed("GET, POST")))
	mux.HandleFunc("POST /topic/{topic}/commit", s.metrics.instrument("commit", s.answer(s.commit)))
	mux.HandleFunc("/topic/{topic}/commit", s.metrics.instrument("other", methodNotAllowed("POST")))
	mux.HandleFunc("POST /topic/{topic}/ack", s.metrics.instrument("ack", s.answer(s.ack)))
	mux.HandleFunc("/topic/{topic}/ack", s.metrics.instrument("other", methodNotAllowed("POST")))
	mux.HandleFunc("GET /topic/{topic}/lag", s.metrics.instrument("lag", s.answer(s.lag)))
	mux.HandleFunc("/topic/{topic}/lag", s.metrics.instrument("other", methodNotAllowed("GET")))
	mux.HandleFunc("POST /topic/{topic}/offsets", s.metrics.instrument("offsets", s.answer(s.resetOffsets)))
	mux.HandleFunc("/topic/{topic}/offsets", s.metrics.instrument("other", methodNotAllowed("POST")))
	mux.HandleFunc("GET /healthz", s.metrics.instrument("healthz", healthz))
	mux.HandleFunc("GET /readyz", s.metrics.instrument("readyz", s.readyz))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /openapi.json", s.metrics.instrument("openapi", serveOpenAPI))
	mux.HandleFunc("/", s.metrics.instrument("other", notFound))
	if d.Connections != nil {
		s.metrics.registry.MustRegister(d.Connections.Collectors()...)
	}
	api = s.front(mux)
	if d.Peers == nil {
		return api, nil
	}
	peerMux := http.NewServeMux()
	peerMux.HandleFunc("GET /peer/v1/topic/{topic}", s.metrics.instrument("peer-consume", s.peerOnly(s.peerConsume)))
	peerMux.HandleFunc("POST /peer/v1/lease/{id}", s.metrics.instrument("peer-settle", s.peerOnly(s.peerSettle)))
	peerMux.HandleFunc("POST /peer/v1/queue/{topic}/ack", s.metrics.instrument("peer-ack", s.peerOnly(s.peerQueueAck)))
	peerMux.HandleFunc("POST /peer/v1/group/{action}", s.metrics.instrument("peer-group", s.peerOnly(s.peerGroup)))
	peerMux.HandleFunc("/", notFound)
	return api, peerMux
}

// answer serves a call of the API, writing the error it returns.
func (s *server) answer(call func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := call(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// kafkaName reports whether s is 1 to max characters among letters,
// digits, '.', '_' and '-': what Kafka accepts in a topic name, and what
// ?group= accepts in the group id it becomes part of. A loop, not a
// regular expression: it runs on every request.
func kafkaName(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validTopic(topic string) error {
	if !kafkaName(topic, 249) || topic == "." || topic == ".." {
		return badRequest("topic name must be 1 to 249 characters among letters, digits, '.', '_' and '-'")
	}
	return nil
}

// failedLoginFloor is the least time a refused login takes. Without it an
// unknown username and a wrong password are told apart by timing: Kafka's
// SCRAM refuses an unknown user at its first message and a wrong password
// one round trip later, and the credentials directory answers in
// microseconds. Padding every refusal to a floor well above both (a few
// round trips to Kafka) makes them take the same time. Throttling guesses
// stays the login limiter's job: the floor is kept under its per-user
// interval so that a sequential guesser still meets it.
const failedLoginFloor = 500 * time.Millisecond

// authenticate returns the Kafka user the request's basic credentials log
// in as. The caller releases it.
func (s *server) authenticate(r *http.Request) (*kafka.User, error) {
	name, password, ok := r.BasicAuth()
	if !ok || name == "" || password == "" {
		return nil, &requestError{status: http.StatusUnauthorized, message: "credentials required: use HTTP basic auth with a username and a password (curl -u user:password)"}
	}
	start := time.Now()
	user, err := s.login(name, password)
	if refusedLogin(err) {
		padFailedLogin(r.Context(), start)
	}
	return user, err
}

func (s *server) login(name, password string) (*kafka.User, error) {
	if s.Credentials != nil && !s.Credentials.Check(name, password) {
		return nil, &requestError{status: http.StatusUnauthorized, message: "wrong username or password"}
	}
	return s.Pool.Get(name, password)
}

// refusedLogin says whether err refuses the credentials themselves.
func refusedLogin(err error) bool {
	if err == nil {
		// errors.As's targets would be allocated for every request.
		return false
	}
	var reqErr *requestError
	var kafkaErr *kafka.Error
	return errors.As(err, &reqErr) && reqErr.status == http.StatusUnauthorized ||
		errors.As(err, &kafkaErr) && kafkaErr.Kind == kafka.KindUnauthenticated
}

// padFailedLogin returns failedLoginFloor after start, or when the client
// leaves.
func padFailedLogin(ctx context.Context, start time.Time) {
	t := time.NewTimer(time.Until(start.Add(failedLoginFloor)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether this process serves requests. It does not depend on
// Kafka: in a Kafka outage every replica stays behind the Service and
// answers its own JSON 503 with Retry-After, instead of the ingress
// controller's page for a Service without endpoints. Kafka's health is the
// qaas_gateway_kafka_up metric.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Pool.Draining() {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Status: http.StatusServiceUnavailable,
			Error: http.StatusText(http.StatusServiceUnavailable), Message: "shutting down"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, errorBody{Status: http.StatusNotFound, Error: http.StatusText(http.StatusNotFound),
		Message: "no such route: use /topic/{topic}"})
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Status: http.StatusMethodNotAllowed,
			Error: http.StatusText(http.StatusMethodNotAllowed), Message: "use " + allow + " on " + r.URL.Path})
	}
}
