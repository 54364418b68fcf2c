package server_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// failedLoginFloor is the least time the gateway takes to refuse a login.
const failedLoginFloor = 500 * time.Millisecond

// hostileCase is a request a hostile or broken client sends, and the exact
// answer it must get.
type hostileCase struct {
	send   func(t *testing.T, gw *gateway) response
	status int
	// body is the exact body; errorJSON builds those of errors.
	body string
	// header holds response headers that must be set, with their values.
	header map[string]string
	// atLeast is the least time the answer may take.
	atLeast time.Duration
}

// Every hostile input of the review gets its own clear JSON answer, over
// TLS against a broker with SASL and ACLs on, in passthrough mode (the
// HTTP login is the Kafka login), and none of them produces a message,
// counts as a Kafka outage or logs a warning.
func TestHostileInputsGetExactJSONAnswers(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	gw := startGateway(t, tb, "--read-timeout", "2s")
	pass := tb.passwords[userA]
	produce := "/topic/" + topicA
	cannotLogIn := "Kafka cannot accept this username and password: "
	unauthorized := map[string]string{"WWW-Authenticate": `Basic realm="qaas", charset="UTF-8"`}
	getAs := func(user, password string) func(*testing.T, *gateway) response {
		return func(t *testing.T, gw *gateway) response { return gw.get(t, user, password, produce) }
	}

	cases := map[string]hostileCase{
		"username with a control character": {
			send:   getAs(userA+"\x01", pass),
			status: 401, body: errorJSON(401, cannotLogIn+"the username holds a control character"),
			header: unauthorized, atLeast: failedLoginFloor,
		},
		"password with a newline": {
			send:   getAs(userA, pass+"\n"),
			status: 401, body: errorJSON(401, cannotLogIn+"the password holds a control character"),
			header: unauthorized, atLeast: failedLoginFloor,
		},
		"password not UTF-8": {
			send:   getAs(userA, "\xff\xfe"),
			status: 401, body: errorJSON(401, cannotLogIn+"the password is not valid UTF-8"),
			header: unauthorized, atLeast: failedLoginFloor,
		},
		"username over 256 bytes": {
			send:   getAs(strings.Repeat("u", 257), pass),
			status: 401, body: errorJSON(401, cannotLogIn+"the username is longer than 256 bytes"),
			header: unauthorized, atLeast: failedLoginFloor,
		},
		"password over 1024 bytes": {
			send:   getAs(userA, strings.Repeat("p", 1025)),
			status: 401, body: errorJSON(401, cannotLogIn+"the password is longer than 1024 bytes"),
			header: unauthorized, atLeast: failedLoginFloor,
		},
		"username SASLprep refuses": {
			send:   getAs("team-a.app.\ufdd0", pass),
			status: 401, body: errorJSON(401, cannotLogIn+"the username holds characters SCRAM does not allow"),
			header: unauthorized, atLeast: failedLoginFloor,
		},
		"empty password": {
			send:   getAs(userA, ""),
			status: 401, body: errorJSON(401, "credentials required: use HTTP basic auth with a username and a password (curl -u user:password)"),
			header: unauthorized,
		},
		"unknown user": {
			send:   getAs("team-a.app.nobody", pass),
			status: 401, body: errorJSON(401, "Kafka refused the username and password"),
			header: unauthorized, atLeast: failedLoginFloor,
		},
		"wrong password": {
			send:   getAs(userA, "not-"+pass),
			status: 401, body: errorJSON(401, "Kafka refused the username and password"),
			header: unauthorized, atLeast: failedLoginFloor,
		},
		"body that stalls, HTTP/1.1": {
			send: func(t *testing.T, gw *gateway) response {
				conn := gw.dialTLS(t, "http/1.1")
				fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: gw\r\nAuthorization: Basic %s\r\nContent-Length: 100\r\n\r\n[{\"Value\":",
					produce, base64.StdEncoding.EncodeToString([]byte(userA+":"+pass)))
				return readResponse(t, conn)
			},
			status: 408, body: errorJSON(408, "the body did not arrive in time: send it without pausing, or send a smaller one"),
			atLeast: 2 * time.Second,
		},
		"body that stalls, HTTP/2": {
			send: func(t *testing.T, gw *gateway) response {
				body, w := io.Pipe()
				defer w.Close()
				go func() { _, _ = io.WriteString(w, `[{"Value":`) }()
				req, err := http.NewRequest(http.MethodPost, gw.URL+produce, body)
				if err != nil {
					t.Fatal(err)
				}
				req.SetBasicAuth(userA, pass)
				resp, err := gw.client.Do(req)
				return readHTTPResponse(t, resp, err)
			},
			status: 408, body: errorJSON(408, "the body did not arrive in time: send it without pausing, or send a smaller one"),
			atLeast: 2 * time.Second,
		},
		"repeated Value": {
			send: func(t *testing.T, gw *gateway) response {
				return gw.post(t, userA, pass, produce, `[{"Value":"a","Value":"b"}]`)
			},
			status: 400, body: errorJSON(400, "message 1: field Value is given more than once: give each field once"),
		},
		"Value twice in two cases": {
			send: func(t *testing.T, gw *gateway) response {
				return gw.post(t, userA, pass, produce, `[{"Value":"a","value":"b"}]`)
			},
			status: 400, body: errorJSON(400, "message 1: field value is given more than once: give each field once"),
		},
		"query with a bad escape": {
			send:   func(t *testing.T, gw *gateway) response { return gw.get(t, userA, pass, produce+"?limit=%zz") },
			status: 400, body: errorJSON(400, `the query string cannot be parsed (invalid URL escape "%zz"): percent-encode special characters and separate parameters with &`),
		},
		"limit given twice": {
			send:   func(t *testing.T, gw *gateway) response { return gw.get(t, userA, pass, produce+"?limit=1&limit=1000") },
			status: 400, body: errorJSON(400, "limit is given 2 times: give it once"),
		},
		"unknown format": {
			send:   func(t *testing.T, gw *gateway) response { return gw.post(t, userA, pass, produce+"?format=avro", "x") },
			status: 400, body: errorJSON(400, `format "avro" is not one of json, raw`),
		},
		"limit out of range": {
			send:   func(t *testing.T, gw *gateway) response { return gw.get(t, userA, pass, produce+"?limit=0") },
			status: 400, body: errorJSON(400, "limit must be a whole number from 1 to 1000"),
		},
		"headers over the limit, HTTP/1.1": {
			send: func(t *testing.T, gw *gateway) response {
				return gw.raw(t, "http/1.1", oversizedHead)
			},
			status: 431, body: errorJSON(431, fmt.Sprintf("request line and headers are %d bytes, more than the 65536 allowed", len(oversizedHead))),
		},
		"headers over the limit, HTTP/2": {
			send: func(t *testing.T, gw *gateway) response {
				req, err := http.NewRequest(http.MethodGet, gw.URL+"/healthz", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-Big", strings.Repeat("a", 70000))
				resp, err := gw.client.Do(req)
				return readHTTPResponse(t, resp, err)
			},
			// HTTP/2 has no request line: its pseudo-headers count as one.
			status: 431, body: errorJSON(431, fmt.Sprintf("request line and headers are %d bytes, more than the 65536 allowed",
				len("GET /healthz HTTP/2.0\r\nHost: \r\nX-Big: \r\nAccept-Encoding: gzip\r\nUser-Agent: Go-http-client/2.0\r\n\r\n")+70000+len("127.0.0.1:"+gw.port()))),
		},
		"double slash": {
			send:   func(t *testing.T, gw *gateway) response { return gw.get(t, userA, pass, "/"+produce) },
			status: 404, body: errorJSON(404, "no such route: the path must be in canonical form, such as "+produce),
		},
		"dot segment": {
			send: func(t *testing.T, gw *gateway) response {
				return gw.raw(t, "http/1.1", "GET /topic/../healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
			},
			status: 404, body: errorJSON(404, "no such route: the path must be in canonical form, such as /healthz"),
		},
		"HTTP/1.0 over TLS": {
			send: func(t *testing.T, gw *gateway) response {
				return gw.raw(t, "http/1.0", "GET /healthz HTTP/1.0\r\n\r\n")
			},
			status: 200, body: `{"status":"ok"}` + "\n",
		},
	}
	// The group returns once every parallel case is done.
	t.Run("answers", func(t *testing.T) {
		for name, c := range cases {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				r := c.send(t, gw)
				took := time.Since(start)
				if r.status != c.status || string(r.body) != c.body {
					t.Errorf("answer %d %s, want %d %s", r.status, r.body, c.status, c.body)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type %q, want application/json", ct)
				}
				for name, want := range c.header {
					if got := r.header.Get(name); got != want {
						t.Errorf("%s: %q, want %q", name, got, want)
					}
				}
				if took < c.atLeast {
					t.Errorf("answered in %s, want at least %s", took, c.atLeast)
				}
			})
		}
	})
	t.Run("nothing was produced", func(t *testing.T) {
		r := gw.get(t, userA, pass, produce+"?group=after-hostile")
		expectStatus(t, r, http.StatusOK)
		if got := decode[[]message](t, r); len(got) != 0 {
			t.Errorf("hostile requests produced %q", values(got))
		}
	})
	t.Run("no Kafka outage counted or logged", func(t *testing.T) {
		metrics := string(gw.get(t, "", "", "/metrics").body)
		for _, want := range []string{`qaas_gateway_kafka_up 1`, `qaas_gateway_kafka_errors_total{kind="unauthenticated"}`} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(metrics, `kind="unavailable"`) {
			t.Error(`/metrics counts a Kafka outage (kind="unavailable")`)
		}
		if logs := gw.logs.String(); strings.Contains(logs, "level=WARN") {
			t.Errorf("the gateway logged warnings:\n%s", logs)
		}
	})
}

// oversizedHead is a request whose headers are over the default 64 KiB
// limit, and under net/http's own ceiling.
var oversizedHead = "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Big: " + strings.Repeat("a", 70000) + "\r\n\r\n"

// A refused login takes at least the floor whether the user exists or
// not, in both login modes: timing tells nothing about which usernames
// exist.
func TestRefusedLoginsTakeTheSameFloorForUnknownUsers(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "admin.username"), []byte(userA))
	writeFile(t, filepath.Join(dir, "admin.password"), []byte(tb.passwords[userA]))
	modes := map[string]struct {
		gw      *gateway
		refusal string
	}{
		"passthrough":           {startGateway(t, tb), "Kafka refused the username and password"},
		"credentials directory": {startGateway(t, tb, "--credentials-dir", dir), "wrong username or password"},
	}
	for mode, m := range modes {
		for who, login := range map[string][2]string{
			"unknown user":   {"team-a.app.nobody", tb.passwords[userA]},
			"wrong password": {userA, "not-" + tb.passwords[userA]},
		} {
			t.Run(mode+", "+who, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				r := m.gw.get(t, login[0], login[1], "/topic/"+topicA)
				if took := time.Since(start); took < failedLoginFloor {
					t.Errorf("refused in %s, before the %s floor", took, failedLoginFloor)
				}
				if r.status != 401 || string(r.body) != errorJSON(401, m.refusal) {
					t.Errorf("answer %d %s, want 401 %q", r.status, r.body, m.refusal)
				}
			})
		}
	}
}

// curl --http1.0 offers only http/1.0 by ALPN; the gateway must accept it.
func TestCurlHTTP10OverTLS(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	gw := startGateway(t, startBroker(t, embeddedDefaults()))
	out, err := exec.Command(curl, "--http1.0", "-k", "-sS", "-i", gw.URL+"/healthz").CombinedOutput()
	if err != nil {
		t.Fatalf("curl --http1.0: %v\n%s", err, out)
	}
	if !bytes.HasPrefix(out, []byte("HTTP/1.0 200 OK\r\n")) || !bytes.HasSuffix(out, []byte("\r\n\r\n{\"status\":\"ok\"}\n")) {
		t.Fatalf("curl --http1.0 got:\n%s", out)
	}
}

// errorJSON is the exact body of an error answer.
func errorJSON(status int, message string) string {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(struct {
		Status  int    `json:"status"`
		Error   string `json:"error"`
		Message string `json:"message"`
	}{status, http.StatusText(status), message})
	return b.String()
}

// dialTLS opens a TLS connection to the gateway offering protocol by ALPN.
func (g *gateway) dialTLS(t *testing.T, protocol string) *tls.Conn {
	t.Helper()
	cfg := g.tls.Clone()
	cfg.NextProtos = []string{protocol}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(g.URL, "https://"), cfg)
	if err != nil {
		t.Fatalf("TLS with ALPN %s: %v", protocol, err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	return conn
}

// raw sends request as written over a new TLS connection and reads the
// answer.
func (g *gateway) raw(t *testing.T, protocol, request string) response {
	t.Helper()
	conn := g.dialTLS(t, protocol)
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	return readResponse(t, conn)
}

func (g *gateway) port() string {
	return g.URL[strings.LastIndex(g.URL, ":")+1:]
}

// readResponse reads one answer from conn.
func readResponse(t *testing.T, conn io.Reader) response {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	return readHTTPResponse(t, resp, err)
}

func readHTTPResponse(t *testing.T, resp *http.Response, err error) response {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b, proto: resp.Proto}
}
