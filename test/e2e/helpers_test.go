//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/internal/apicontract"
	"qaas.dev/qaas/internal/embeddedkafka"
)

// repoRoot is the checkout, two levels up from this package.
const repoRoot = "../.."

// ingressAddr is where the cluster's Ingress controller serves HTTPS.
const ingressAddr = "127.0.0.1:443"

// env is what `make e2e` hands the test: the cluster and the tools.
type env struct {
	kubeconfig string
	kubectl    string
	helm       string
	image      string // repository:tag, imported into the node
}

func readEnv(t *testing.T) env {
	t.Helper()
	e := env{
		kubeconfig: os.Getenv("KUBECONFIG"),
		kubectl:    os.Getenv("KUBECTL"),
		helm:       os.Getenv("HELM"),
		image:      os.Getenv("QAAS_IMAGE"),
	}
	if e.kubeconfig == "" || e.kubectl == "" || e.helm == "" || e.image == "" {
		t.Fatal("KUBECONFIG, KUBECTL, HELM and QAAS_IMAGE must be set: run this test with `make e2e`")
	}
	return e
}

// phaseStart is when the test began; phase lines show the time since.
var phaseStart = time.Now()

// phase prints a line per step, with the time since the test began.
func phase(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("[%5.1fs] %s", time.Since(phaseStart).Seconds(), fmt.Sprintf(format, args...))
}

// run runs a command with the cluster's kubeconfig and kubectl on the PATH,
// as a user's shell would have them, and fails the test when it fails.
func (e env) run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	out, err := e.try(stdin, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (e env) try(stdin string, name string, args ...string) (string, error) {
	return e.tryIn("", stdin, name, args...)
}

// tryIn runs a command in dir (empty: the test's directory).
func (e env) tryIn(dir, stdin string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig,
		"PATH="+filepath.Dir(e.kubectl)+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e env) kubectlRun(t *testing.T, args ...string) string {
	t.Helper()
	return e.run(t, "", e.kubectl, args...)
}

func (e env) kubectlApply(t *testing.T, manifest string) {
	t.Helper()
	e.run(t, manifest, e.kubectl, "apply", "-f", "-")
}

func (e env) helmRun(t *testing.T, args ...string) string {
	t.Helper()
	return e.run(t, "", e.helm, args...)
}

// client is a non-caching client of the cluster: every read sees the API
// server's current state.
func (e env) client(t *testing.T) client.Client {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", e.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := queuev1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventually retries f until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// endpoint is one QueueApp's HTTPS endpoint as a client sees it.
type endpoint struct {
	url    string
	client *http.Client
}

// ingressEndpoint reaches url's host through the Ingress controller,
// trusting ca: what a client with the Secret's url and ca.crt does, with
// the host name resolved to the controller. Every answer of a gateway is
// checked against openapi.json, a mismatch failing t when it ends.
func ingressEndpoint(t *testing.T, url string, ca []byte) (*endpoint, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in the endpoint's CA")
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, ingressAddr)
		},
		MaxIdleConnsPerHost: 16,
	}
	ep := &endpoint{url: url, client: &http.Client{Transport: transport, Timeout: 30 * time.Second}}
	contract := apicontract.Watch(t, ep.client)
	contract.IsProxyAnswer = ingressOwnAnswer
	t.Cleanup(func() {
		t.Logf("  %s: %d answers written by the Ingress controller itself (not a gateway's, not checked against openapi.json)", url, contract.ProxyAnswers.Load())
	})
	return ep, nil
}

// plainEndpoint reaches a gateway over plain HTTP (a Service or a pod from
// the node). Every answer is checked against openapi.json, a mismatch
// failing t when it ends.
func plainEndpoint(t *testing.T, url string) *endpoint {
	t.Helper()
	ep := &endpoint{url: url, client: &http.Client{Timeout: 30 * time.Second}}
	apicontract.Watch(t, ep.client)
	return ep
}

// do sends one request and returns the status and body.
func (ep *endpoint) do(method, path, user, password, body string) (int, string, error) {
	req, err := http.NewRequest(method, ep.url+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.SetBasicAuth(user, password)
	resp, err := ep.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// credentials are what a QueueApp's credentials Secret gives a client.
type credentials struct {
	url, ca string
	data    map[string][]byte
}

func (c credentials) user(name string) (string, string) {
	return string(c.data[name+".username"]), string(c.data[name+".password"])
}

func (c credentials) topic(name string) string { return string(c.data[name+".topic"]) }

func readCredentials(t *testing.T, c client.Client, namespace, app string) credentials {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: app + "-credentials"}, s); err != nil {
		t.Fatal(err)
	}
	return credentials{url: string(s.Data["url"]), ca: string(s.Data["ca.crt"]), data: s.Data}
}

// drain reads every message of topic as the Kafka superuser, straight from
// the broker: the ground truth of what Kafka holds.
func drain(t *testing.T, broker *embeddedkafka.Broker, topic string) map[string]bool {
	t.Helper()
	c, err := broker.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	consumer, err := sarama.NewConsumerFromClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	partitions, err := c.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]bool{}
	for _, p := range partitions {
		newest, err := c.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		if newest == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for m := range pc.Messages() {
			values[string(m.Value)] = true
			if m.Offset >= newest-1 {
				break
			}
		}
		pc.Close()
	}
	return values
}

// readmeBlock returns the lines of the first fenced code block of README.md
// that contains marker.
func readmeBlock(t *testing.T, marker string) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for _, line := range strings.Split(string(readme), "\n") {
		switch {
		case strings.HasPrefix(line, "```") && !in:
			in, block = true, nil
		case strings.HasPrefix(line, "```"):
			in = false
			if strings.Contains(strings.Join(block, "\n"), marker) {
				return block
			}
		case in:
			block = append(block, line)
		}
	}
	t.Fatalf("README.md has no code block with %q", marker)
	return nil
}

// script joins lines into a bash script that stops at the first failure.
func script(lines ...string) string {
	var b bytes.Buffer
	b.WriteString("set -euo pipefail\n")
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}
