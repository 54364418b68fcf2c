package server_test

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/internal/embeddedkafka"
	"qaas.dev/qaas/internal/selfsigned"
)

// The tests here run gateway replicas as separate processes of the real
// binary, as pods behind a Service run, on one broker, and spread a
// client's requests over them round-robin as a Service does.

var (
	buildOnce   sync.Once
	gatewayPath string
	buildErr    error
)

// gatewayBinary builds the gateway once for the test binary.
func gatewayBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "qaas-gateway-bin")
		if err != nil {
			buildErr = err
			return
		}
		gatewayPath = filepath.Join(dir, "gateway")
		out, err := exec.Command("go", "build", "-o", gatewayPath, "qaas.dev/qaas/gateway").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building the gateway: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return gatewayPath
}

// replicaSet is a gateway's replicas sharing a peer token and a
// certificate, and a client that sends each request to the next one.
type replicaSet struct {
	t        testing.TB
	tb       *testBroker
	dir      string
	certFile string
	keyFile  string
	// args are flags every replica gets on top of the common ones, env
	// its environment.
	args   []string
	env    []string
	client *http.Client

	mu       sync.Mutex
	replicas []*replica
	next     int
}

// replica is one gateway process.
type replica struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
	// peer is the address the other replicas reach it at.
	peer string
}

func startReplicas(t testing.TB, tb *testBroker, n int, args ...string) *replicaSet {
	t.Helper()
	return startReplicasWithEnv(t, tb, n, nil, args...)
}

func startReplicasWithEnv(t testing.TB, tb *testBroker, n int, env []string, args ...string) *replicaSet {
	t.Helper()
	dir := t.TempDir()
	cert, err := selfsigned.New("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	rs := &replicaSet{t: t, tb: tb, dir: dir, certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key"), args: args, env: env}
	writeFile(t, rs.certFile, cert.CertPEM)
	writeFile(t, rs.keyFile, cert.KeyPEM)
	writeFile(t, filepath.Join(dir, "peer-token"), []byte(rand.Text()))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(cert.CertPEM)
	rs.client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: 64},
		Timeout:   60 * time.Second,
	}
	withContract(t, rs.client)
	for range n {
		rs.add()
	}
	t.Cleanup(func() {
		rs.mu.Lock()
		all := rs.replicas
		rs.mu.Unlock()
		for _, r := range all {
			r.stop(syscall.SIGKILL)
		}
	})
	return rs
}

// add starts one more replica and waits until it serves.
func (rs *replicaSet) add() *replica {
	rs.t.Helper()
	cmd := exec.Command(gatewayBinary(rs.t), append([]string{
		"--listen-address=127.0.0.1:0",
		"--peer-listen-address=127.0.0.1:0",
		"--peer-token-file=" + filepath.Join(rs.dir, "peer-token"),
		"--kafka-brokers=" + rs.tb.Addr,
		"--tls-cert-file=" + rs.certFile, "--tls-key-file=" + rs.keyFile,
		"--shutdown-timeout=20s",
	}, rs.args...)...)
	cmd.Env = append([]string{}, rs.env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		rs.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		rs.t.Fatal(err)
	}
	r := &replica{cmd: cmd, done: make(chan struct{})}
	addr, peer := make(chan string, 1), make(chan string, 1)
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct {
				Msg        string `json:"msg"`
				Address    string `json:"address"`
				Advertised string `json:"advertised"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "gateway listening" {
				addr <- line.Address
			}
			if line.Msg == "serving the other replicas" {
				peer <- line.Advertised
			}
			if strings.Contains(sc.Text(), `"level":"ERROR"`) {
				rs.t.Logf("replica %d: %s", cmd.Process.Pid, sc.Text())
			}
		}
		_ = cmd.Wait()
	}()
	for _, got := range []struct {
		ch   chan string
		into *string
	}{{addr, &r.url}, {peer, &r.peer}} {
		select {
		case a := <-got.ch:
			*got.into = a
		case <-time.After(30 * time.Second):
			rs.t.Fatal("a gateway replica never started listening")
		}
	}
	r.url = "https://" + r.url
	rs.mu.Lock()
	rs.replicas = append(rs.replicas, r)
	rs.mu.Unlock()
	return r
}

// stop signals the replica and waits for it to exit.
func (r *replica) stop(sig syscall.Signal) {
	_ = r.cmd.Process.Signal(sig)
	<-r.done
}

// remove takes r out of the rotation.
func (rs *replicaSet) remove(r *replica) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for i, x := range rs.replicas {
		if x == r {
			rs.replicas = append(rs.replicas[:i:i], rs.replicas[i+1:]...)
			return
		}
	}
}

// pick returns the next replica, round-robin.
func (rs *replicaSet) pick() *replica {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.replicas[rs.next%len(rs.replicas)]
	rs.next++
	return r
}

// call sends one request to the next replica; an error is a request that
// got no answer at all.
func (rs *replicaSet) call(method, path, user, password, body string) (response, error) {
	return rs.callOn(rs.pick(), method, path, user, password, body)
}

// callOn sends one request to replica r.
func (rs *replicaSet) callOn(r *replica, method, path, user, password, body string) (response, error) {
	req, err := http.NewRequest(method, r.url+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.SetBasicAuth(user, password)
	if body != "" {
		req.Header.Set("Content-Type", curlForm)
	}
	resp, err := rs.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// postNumbered posts messages "0".."n-1" in batches, keyed so that they
// spread over the partitions, round-robin over the replicas.
func (rs *replicaSet) postNumbered(t testing.TB, user, password, topic string, n, batch int) {
	t.Helper()
	for start := 0; start < n; start += batch {
		var b strings.Builder
		b.WriteString("[")
		for i := start; i < min(start+batch, n); i++ {
			if i > start {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"Key":"k%d","Value":"%d"}`, i%97, i)
		}
		b.WriteString("]")
		r, err := rs.call(http.MethodPost, "/topic/"+topic, user, password, b.String())
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("posting messages %d..: %v %d %s", start, err, r.status, r.body)
		}
	}
}

// provisionSix adds a topic with six partitions to tenant A.
func provisionSix(t testing.TB, tb *testBroker) string {
	t.Helper()
	const topic = "team-a.app.six"
	err := tb.Provision(embeddedkafka.Tenant{
		Prefix: "team-a.app.",
		Topics: map[string]int32{topic: 6},
		Users:  []embeddedkafka.TenantUser{{Name: userA, Password: tb.passwords[userA], Role: queuev1alpha1.RoleReadWrite}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return topic
}

// 10,000 messages posted through three replicas and read by one client
// whose GETs go round-robin over them: each message comes exactly once,
// every partition in order, and no answer is empty while messages wait.
func TestReplicasServeEveryMessageOfAGroupInOrder(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	six := provisionSix(t, tb)
	rs := startReplicas(t, tb, 3)
	pass := tb.passwords[userA]
	for _, topic := range []string{topicA, six} {
		t.Run(topic, func(t *testing.T) {
			const total = 10000
			rs.postNumbered(t, userA, pass, topic, total, 200)
			seen := map[string]bool{}
			last := map[int32]int64{}
			gets, empty := 0, 0
			for len(seen) < total {
				r, err := rs.call(http.MethodGet, "/topic/"+topic+"?limit=500", userA, pass, "")
				if err != nil || r.status != http.StatusOK {
					t.Fatalf("GET %d after %d messages: %v %d %s", gets, len(seen), err, r.status, r.body)
				}
				gets++
				msgs := decode[[]message](t, r)
				if len(msgs) == 0 {
					empty++
				}
				for _, m := range msgs {
					if seen[*m.Value] {
						t.Fatalf("message %s came twice", *m.Value)
					}
					seen[*m.Value] = true
					if prev, ok := last[m.Partition]; ok && m.Offset <= prev {
						t.Fatalf("partition %d: offset %d after %d", m.Partition, m.Offset, prev)
					}
					last[m.Partition] = m.Offset
				}
			}
			if empty > 0 {
				t.Errorf("%d of %d GETs were empty while messages waited", empty, gets)
			}
			t.Logf("%d messages in %d GETs over 3 replicas, %d partitions seen", total, gets, len(last))
		})
	}
}

// Four clients of one group, each on every replica in turn, never get the
// same message.
func TestConcurrentConsumersAcrossReplicasNeverShareAMessage(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	six := provisionSix(t, tb)
	rs := startReplicas(t, tb, 3)
	pass := tb.passwords[userA]
	const total = 4000
	rs.postNumbered(t, userA, pass, six, total, 200)

	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				mu.Lock()
				done := len(seen) >= total
				mu.Unlock()
				if done {
					return
				}
				r, err := rs.call(http.MethodGet, "/topic/"+six+"?limit=50&timeout=1", userA, pass, "")
				if err != nil || r.status != http.StatusOK {
					errs <- fmt.Errorf("GET: %v %d %s", err, r.status, r.body)
					return
				}
				var msgs []message
				if err := json.Unmarshal(r.body, &msgs); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, m := range msgs {
					seen[*m.Value]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for v, n := range seen {
		if n > 1 {
			t.Errorf("message %s was handed out %d times", v, n)
		}
	}
}

// A client that goes away in the middle of a response does not lose its
// messages: the next GET, on any replica, gets them.
func TestMessagesOfACutResponseComeAgain(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	// Values of 64 KiB, 200 to a response: 12.5 MiB, far more than
	// socket buffers hold, so the gateway is still writing when the
	// client leaves. A response holds what the member buffers, hence the
	// buffer's size. (A response that fits in the socket buffers counts
	// as delivered once written, whatever the client does next.)
	rs := startReplicas(t, tb, 3, "--consumer-buffer-bytes=16777216")
	pass := tb.passwords[userA]
	value := strings.Repeat("x", 64<<10)
	const total = 200
	for start := 0; start < total; start += 10 {
		var b strings.Builder
		b.WriteString("[")
		for i := start; i < start+10; i++ {
			if i > start {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"Key":"%d","Value":"%s"}`, i, value)
		}
		b.WriteString("]")
		if r, err := rs.call(http.MethodPost, "/topic/"+topicA, userA, pass, b.String()); err != nil || r.status != http.StatusOK {
			t.Fatalf("posting: %v %d %s", err, r.status, r.body)
		}
	}
	// Every replica in turn: the owner's own response and forwarded ones.
	for cut := range 3 {
		r := rs.pick()
		req, _ := http.NewRequest(http.MethodGet, r.url+"/topic/"+topicA+"?limit=200", nil)
		req.SetBasicAuth(userA, pass)
		resp, err := rs.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("cut %d: status %d", cut, resp.StatusCode)
		}
		// Read a little, then hang up.
		if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < total && time.Now().Before(deadline) {
		r, err := rs.call(http.MethodGet, "/topic/"+topicA+"?limit=20&timeout=1", userA, pass, "")
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("GET after the cuts: %v %d %s", err, r.status, r.body)
		}
		for _, m := range decode[[]message](t, r) {
			got[*m.Key] = true
		}
	}
	if len(got) != total {
		t.Fatalf("after three cut responses the next GETs got %d of the %d messages", len(got), total)
	}
}

// traffic posts numbered messages and reads them back through the
// replicas until stopped, recording what was acknowledged, what came
// back and how many responses were cut off.
type traffic struct {
	rs    *replicaSet
	topic string
	stop  chan struct{}
	wg    sync.WaitGroup

	mu          sync.Mutex
	acked       map[string]bool
	got         map[string]int
	cut         int
	postFailed  int
	getFailed   int
	readersStop chan struct{}
}

func startTraffic(rs *replicaSet, topic string) *traffic {
	tr := &traffic{rs: rs, topic: topic, stop: make(chan struct{}), readersStop: make(chan struct{}),
		acked: map[string]bool{}, got: map[string]int{}}
	pass := rs.tb.passwords[userA]
	tr.wg.Go(func() {
		for n := 0; ; n += 20 {
			select {
			case <-tr.stop:
				return
			default:
			}
			var b strings.Builder
			b.WriteString("[")
			for i := n; i < n+20; i++ {
				if i > n {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, `{"Key":"k%d","Value":"%d"}`, i%97, i)
			}
			b.WriteString("]")
			r, err := rs.call(http.MethodPost, "/topic/"+topic, userA, pass, b.String())
			tr.mu.Lock()
			if err == nil && r.status == http.StatusOK {
				for i := n; i < n+20; i++ {
					tr.acked[fmt.Sprint(i)] = true
				}
			} else {
				tr.postFailed++
			}
			tr.mu.Unlock()
		}
	})
	for range 2 {
		tr.wg.Go(func() {
			for {
				select {
				case <-tr.readersStop:
					return
				default:
				}
				r, err := rs.call(http.MethodGet, "/topic/"+topic+"?limit=50&timeout=1", userA, pass, "")
				tr.mu.Lock()
				switch {
				case err != nil:
					tr.cut++
				case r.status != http.StatusOK:
					tr.getFailed++
				default:
					var msgs []message
					if json.Unmarshal(r.body, &msgs) != nil {
						tr.cut++
					}
					for _, m := range msgs {
						tr.got[*m.Value]++
					}
				}
				tr.mu.Unlock()
				if err != nil || r.status != http.StatusOK {
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	return tr
}

// finish stops posting, reads until every acknowledged message came back
// (or a deadline), and reports.
func (tr *traffic) finish(t *testing.T) (duplicates int) {
	t.Helper()
	close(tr.stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		tr.mu.Lock()
		var missing []int
		for v := range tr.acked {
			if tr.got[v] == 0 {
				n, _ := strconv.Atoi(v)
				missing = append(missing, n)
			}
		}
		tr.mu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			close(tr.readersStop)
			tr.wg.Wait()
			// Which messages, and what the traffic met, say where to look:
			// values are posted in order, 20 per POST, keyed k0..k96.
			slices.Sort(missing)
			t.Fatalf("%d acknowledged messages never came back (of %d acknowledged): %v; %d responses cut off; %d POSTs and %d GETs failed",
				len(missing), len(tr.acked), missing[:min(len(missing), 50)], tr.cut, tr.postFailed, tr.getFailed)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(tr.readersStop)
	tr.wg.Wait()
	for _, n := range tr.got {
		duplicates += n - 1
	}
	t.Logf("%d messages acknowledged, all delivered; %d delivered twice or more; %d responses cut off; %d POSTs and %d GETs failed",
		len(tr.acked), duplicates, tr.cut, tr.postFailed, tr.getFailed)
	return duplicates
}

// A replica killed with SIGKILL mid-consume, as a crashed pod: every
// acknowledged message is still delivered. Duplicates are possible for
// the responses its death cut off and for those it delivered but had not
// committed yet; the test reports them.
func TestAReplicaKilledMidConsumeLosesNothing(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	six := provisionSix(t, tb)
	rs := startReplicas(t, tb, 3)
	tr := startTraffic(rs, six)
	time.Sleep(3 * time.Second)
	for _, victim := range rs.replicas[:1] {
		rs.remove(victim)
		victim.stop(syscall.SIGKILL)
	}
	time.Sleep(3 * time.Second)
	tr.finish(t)
}

// A rolling restart of all three replicas under load, as a Deployment
// rollout does it (a new pod first, then an old one out of the Service
// and stopped with SIGTERM): every acknowledged message is delivered, and
// none twice unless its response was cut off.
func TestARollingRestartUnderLoadLosesNothing(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{})
	six := provisionSix(t, tb)
	rs := startReplicas(t, tb, 3)
	tr := startTraffic(rs, six)
	time.Sleep(2 * time.Second)
	rs.mu.Lock()
	old := append([]*replica(nil), rs.replicas...)
	rs.mu.Unlock()
	for _, r := range old {
		rs.add()
		time.Sleep(time.Second)
		rs.remove(r)
		r.stop(syscall.SIGTERM)
	}
	time.Sleep(2 * time.Second)
	if duplicates := tr.finish(t); duplicates > 0 && tr.cut == 0 {
		t.Errorf("%d messages were delivered twice although no response was cut off", duplicates)
	}
}

// Kafka down: every replica stays ready (so a Service keeps sending it
// clients) and answers JSON 503 with Retry-After, forwarded GETs
// included; Kafka back: every replica serves again without a restart.
func TestKafkaOutageAcrossReplicas(t *testing.T) {
	tb := startBroker(t, embeddedkafka.BrokerOptions{DataDir: t.TempDir()})
	rs := startReplicas(t, tb, 3)
	pass := tb.passwords[userA]
	path := "/topic/" + topicA
	// Every replica joins the group and learns its owner before the outage.
	rs.postNumbered(t, userA, pass, topicA, 3, 3)
	for range 3 {
		if r, err := rs.call(http.MethodGet, path+"?limit=1", userA, pass, ""); err != nil || r.status != http.StatusOK {
			t.Fatalf("GET before the outage: %v %d %s", err, r.status, r.body)
		}
	}

	tb.Close()
	for i := range 3 {
		for _, req := range []struct{ method, path, body string }{
			{http.MethodPost, path, `[{"Value":"during"}]`},
			{http.MethodGet, path, ""},
		} {
			r, err := rs.call(req.method, req.path, userA, pass, req.body)
			if err != nil {
				t.Fatalf("%s on replica %d during the outage: %v", req.method, i, err)
			}
			var body apiError
			if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || json.Unmarshal(r.body, &body) != nil || body.Message == "" {
				t.Errorf("%s on replica %d during the outage: status %d, Retry-After %q, body %s; want a JSON 503 with Retry-After",
					req.method, i, r.status, r.header.Get("Retry-After"), r.body)
			}
		}
		if r, err := rs.call(http.MethodGet, "/readyz", "", "", ""); err != nil || r.status != http.StatusOK {
			t.Errorf("readyz on replica %d during the outage: %v %d %s", i, err, r.status, r.body)
		}
	}

	tb.restart(t)
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; i < 6; {
		r, err := rs.call(http.MethodPost, path, userA, pass, `[{"Value":"after"}]`)
		if err == nil && r.status == http.StatusOK {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Kafka came back: %v %d %s", err, r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	after := 0
	for after < 6 {
		r, err := rs.call(http.MethodGet, path+"?limit=10&timeout=1", userA, pass, "")
		if err == nil && r.status == http.StatusOK {
			for _, m := range decode[[]message](t, r) {
				if *m.Value == "after" {
					after++
				}
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("GET after Kafka came back: %v %d %s", err, r.status, r.body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Kafka came back the group got %d of the 6 messages posted since", after)
		}
	}
}
