//go:build e2e

// Package e2e installs qaas on a real single-node Kubernetes cluster the way
// a platform team does (helm install), creates QueueApps the way application
// teams do (kubectl apply), and uses them the way their clients do (README's
// curl lines through the Ingress over HTTPS). `make e2e` brings the cluster
// up, runs this test against it and tears it down.
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/internal/apicontract"
	"qaas.dev/qaas/internal/embeddedkafka"
)

const (
	// kafkaVersion is the chart's kafka.version: not the default, so that
	// it shows it reaches the gateways.
	kafkaVersion = "3.7.0"
	// readyRounds is how many times in a row a re-created QueueApp must
	// answer README's curl lines as soon as `kubectl wait` says Ready.
	readyRounds       = 10
	operatorNamespace = "qaas-system"
	release           = "qaas"
	// ingressDomain makes hosts like my-app.team-a.localhost: curl and
	// browsers resolve *.localhost to the loopback address, where the
	// Ingress controller listens on 443, so README's lines work unchanged.
	ingressDomain = "localhost"
)

func TestInstallAndUse(t *testing.T) {
	e := readEnv(t)
	c := e.client(t)
	ctx := context.Background()

	phase(t, "starting a Kafka broker (SASL/SCRAM, ACLs) on the node's address")
	nodeIP := nodeAddress(t, c)
	broker, err := embeddedkafka.StartBroker(embeddedkafka.BrokerOptions{Host: nodeIP, AdminPassword: rand.Text()})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()

	phase(t, "helm install %s (image %s, Kafka at %s)", release, e.image, broker.Addr)
	e.kubectlRun(t, "create", "namespace", operatorNamespace)
	e.kubectlRun(t, "-n", operatorNamespace, "create", "secret", "generic", "kafka-admin",
		"--from-literal=username="+embeddedkafka.AdminUser, "--from-literal=password="+broker.AdminPassword)
	repo, tag, _ := strings.Cut(e.image, ":")
	values := filepath.Join(t.TempDir(), "values.yaml")
	writeFile(t, values, fmt.Sprintf(`image: {repository: %q, tag: %q}
kafka:
  bootstrapServers: [%q]
  adminSecret: kafka-admin
  replicationFactor: 1
  version: %q
ingress: {domain: %q, className: traefik}
`, repo, tag, broker.Addr, kafkaVersion, ingressDomain))
	chart := filepath.Join(repoRoot, "charts", "qaas")
	e.helmRun(t, "install", release, chart, "-n", operatorNamespace, "-f", values, "--wait", "--timeout", "3m")

	phase(t, "kubectl apply the sample QueueApp; waiting for Ready")
	e.kubectlRun(t, "create", "namespace", "team-a")
	e.kubectlRun(t, "apply", "-f", filepath.Join(repoRoot, "config", "samples", "queue_v1alpha1_queueapp.yaml"))
	e.kubectlRun(t, "-n", "team-a", "wait", "--for=condition=Ready", "queueapp/my-app", "--timeout=3m")

	phase(t, "checking both gateway pods are Ready through their probes")
	pods := gatewayPods(t, c, "team-a", "my-app")
	if len(pods) != 2 {
		t.Fatalf("%d gateway pods, want the sample's 2", len(pods))
	}
	for _, p := range pods {
		if !podReady(&p) {
			t.Fatalf("pod %s is not Ready: %+v", p.Name, p.Status.Conditions)
		}
	}

	phase(t, "the gateways speak the operator's Kafka version and size their memory budget from their memory limit")
	for _, p := range pods {
		logs := e.kubectlRun(t, "-n", "team-a", "logs", p.Name)
		for _, want := range []string{
			`"msg":"speaking Kafka"`, `"version":"` + kafkaVersion + `"`,
			// The default 256Mi limit: GOMEMLIMIT 90% of it, the consume
			// budget half of that.
			`"msg":"consume memory budgets","gateway_bytes":120795930,`,
		} {
			if !strings.Contains(logs, want) {
				t.Fatalf("pod %s's log lacks %s:\n%s", p.Name, want, logs)
			}
		}
	}

	teamA := readCredentials(t, c, "team-a", "my-app")
	if want := "https://my-app.team-a." + ingressDomain; teamA.url != want {
		t.Fatalf("the Secret's url is %q, want %q", teamA.url, want)
	}
	ingress, err := ingressEndpoint(t, teamA.url, []byte(teamA.ca))
	if err != nil {
		t.Fatal(err)
	}
	phase(t, "waiting for the Ingress controller to route %s", teamA.url)
	waitForRoute(t, ingress)

	phase(t, "README's curl lines, pasted as they are, through the Ingress over HTTPS")
	runReadmeCurls(t, e)

	adminUser, adminPassword := teamA.user("admin")
	topic := teamA.topic("orders")

	phase(t, "produce and consume through the Service (ClusterIP, from the node)")
	svc := &corev1.Service{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "my-app-gateway"}, svc); err != nil {
		t.Fatal(err)
	}
	service := plainEndpoint(t, "http://"+svc.Spec.ClusterIP)
	marker := "through-the-service-" + rand.Text()
	if code, body, err := service.do("POST", "/topic/"+topic, adminUser, adminPassword, `[{"Value":"`+marker+`"}]`); err != nil || code != 200 {
		t.Fatalf("POST through the Service: %d %s %v", code, body, err)
	}
	consumeUntil(t, service, topic, "through-service", adminUser, adminPassword, marker)

	phase(t, "both gateway pods serve one group: GETs alternate between the pods, the one that does not own the group forwards")
	bothPodsServeOneGroup(t, c, topic, adminUser, adminPassword)

	phase(t, "queue mode (a Kafka share group with the QueueApp's settings): records handed out by one pod, acknowledged through the other")
	queueAcrossPods(t, c, topic, adminUser, adminPassword)

	phase(t, "a second QueueApp in another namespace; checking isolation (401, 403)")
	isolation(t, e, c, ingress, teamA)

	phase(t, "deleting a gateway pod during a produce loop; every acknowledged message must be in Kafka")
	killDuringProduce(t, e, c, ingress, adminUser, adminPassword, topic, broker)
	phase(t, "the same with the pod killed at once (--grace-period=0 --force)")
	killDuringProduce(t, e, c, ingress, adminUser, adminPassword, topic, broker, "--grace-period=0", "--force")

	phase(t, "rotating the reader's password: the gateways roll; the admin's requests must not fail meanwhile")
	rotatePassword(t, e, c, ingress, teamA)

	phase(t, "helm upgrade to 2 operator replicas (leader election); the operator still acts on edits")
	upgrade(t, e, c, values)

	phase(t, "deleting the sample QueueApp under traffic: its gateway pods go before its Kafka users")
	deleteUnderTraffic(t, e, c, ingress, teamA, broker)
	for round := 1; round <= readyRounds; round++ {
		if round > 1 {
			e.kubectlRun(t, "-n", "team-a", "delete", "queueapp", "my-app", "--timeout=3m")
		}
		phase(t, "round %d of %d: applying the sample at once, kubectl wait for Ready, then README's curl lines at once", round, readyRounds)
		e.kubectlRun(t, "apply", "-f", filepath.Join(repoRoot, "config", "samples", "queue_v1alpha1_queueapp.yaml"))
		e.kubectlRun(t, "-n", "team-a", "wait", "--for=condition=Ready", "queueapp/my-app", "--timeout=3m")
		for i := range readmeCurls(t) {
			runReadmeLine(t, e, i)
		}
	}

	phase(t, "helm uninstall: the operator goes, the CRD and the QueueApps stay")
	e.helmRun(t, "uninstall", release, "-n", operatorNamespace, "--wait", "--timeout", "2m")
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	if err := c.Get(ctx, client.ObjectKey{Name: "queueapps.queue.qaas.dev"}, crd); err != nil {
		t.Fatalf("the CRD is gone after helm uninstall: %v", err)
	}
	apps := &queuev1alpha1.QueueAppList{}
	if err := c.List(ctx, apps); err != nil || len(apps.Items) != 2 {
		t.Fatalf("after helm uninstall: %d QueueApps (%v), want both", len(apps.Items), err)
	}
	deps := &appsv1.DeploymentList{}
	if err := c.List(ctx, deps, client.InNamespace(operatorNamespace)); err != nil || len(deps.Items) != 0 {
		t.Fatalf("after helm uninstall: %d Deployments left in %s (%v)", len(deps.Items), operatorNamespace, err)
	}
	if doc, err := apicontract.Load(); err == nil {
		phase(t, "openapi.json: %d answers of the gateways checked, %d closed before they were read (not checked)", doc.Checked.Load(), doc.Unread.Load())
	}
	phase(t, "done")
}

// waitForRoute waits until the Ingress controller routes ep's host to a
// gateway.
func waitForRoute(t *testing.T, ep *endpoint) {
	t.Helper()
	eventually(t, time.Minute, "the Ingress routes to the gateway", func() error {
		code, body, err := ep.do("GET", "/healthz", "", "", "")
		if err == nil && code != 200 {
			err = fmt.Errorf("GET /healthz: %d %s", code, body)
		}
		return err
	})
}

// readmeCurls are README's three OVH curl lines, made to fail on an HTTP
// error and to keep their answer for a check against openapi.json
// (curlCapture).
func readmeCurls(t *testing.T) []string {
	t.Helper()
	var curls []string
	for _, l := range readmeBlock(t, "curl -u $SASL_USERNAME:$SASL_PASSWORD -XPOST $URL/topic/$TOPIC -d") {
		if strings.HasPrefix(l, "curl ") {
			curls = append(curls, strings.Replace(l, "curl ", "curl -sS --fail-with-body --max-time 20 "+curlCapture+" ", 1)+" >"+curlRequestFile)
		}
	}
	if len(curls) != 3 {
		t.Fatalf("README's block has %d curl lines, want the three OVH calls", len(curls))
	}
	return curls
}

// runReadmeLine runs README's credentials lines and then its curl line i in
// bash, as a user pastes them, checks the answer against openapi.json and
// returns its body.
func runReadmeLine(t *testing.T, e env, i int) string {
	t.Helper()
	line := readmeCurls(t)[i]
	dir := t.TempDir()
	out, err := e.tryIn(dir, "", "bash", "-c", script(append(readmeBlock(t, "secret() {"), line)...))
	body := checkCurlAnswer(t, dir, line)
	if err != nil {
		t.Fatalf("%s: %v\n%s%s", line, err, out, body)
	}
	return body
}

// runReadmeCurls runs README's three OVH curl lines and checks what they
// answer.
func runReadmeCurls(t *testing.T, e env) {
	t.Helper()
	var outs []string
	for i := range readmeCurls(t) {
		outs = append(outs, runReadmeLine(t, e, i))
	}
	if !strings.Contains(outs[0], `"Offset":`) {
		t.Fatalf("README's produce answered %s", outs[0])
	}
	first, second := strings.Index(outs[2], `"Value":"first message"`), strings.Index(outs[2], `"Value":"second message"`)
	if first < 0 || second < first {
		t.Fatalf("README's consume answered %s", outs[2])
	}
}

// consumeUntil GETs as group until a message with value comes.
func consumeUntil(t *testing.T, ep *endpoint, topic, group, user, password, value string) {
	t.Helper()
	eventually(t, time.Minute, "consuming "+value, func() error {
		code, body, err := ep.do("GET", "/topic/"+topic+"?limit=1000&timeout=2&group="+group, user, password, "")
		switch {
		case err != nil:
			return err
		case code != 200:
			return fmt.Errorf("GET: %d %s", code, body)
		case !strings.Contains(body, value):
			return fmt.Errorf("not yet in %.200s", body)
		}
		return nil
	})
}

func isolation(t *testing.T, e env, c client.Client, teamAIngress *endpoint, teamA credentials) {
	t.Helper()
	e.kubectlRun(t, "create", "namespace", "team-b")
	e.kubectlApply(t, `apiVersion: queue.qaas.dev/v1alpha1
kind: QueueApp
metadata: {name: other, namespace: team-b}
spec:
  topics: [{name: events, partitions: 1}]
  gateway: {replicas: 1}
`)
	e.kubectlRun(t, "-n", "team-b", "wait", "--for=condition=Ready", "queueapp/other", "--timeout=3m")
	teamB := readCredentials(t, c, "team-b", "other")
	teamBIngress, err := ingressEndpoint(t, teamB.url, []byte(teamB.ca))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the Ingress routes to team-b's gateway", func() error {
		code, _, err := teamBIngress.do("GET", "/healthz", "", "", "")
		if err == nil && code != 200 {
			err = fmt.Errorf("GET /healthz: %d", code)
		}
		return err
	})
	bUser, bPassword := teamB.user("admin")
	aUser, aPassword := teamA.user("admin")
	readerUser, readerPassword := teamA.user("reader")
	aTopic := teamA.topic("orders")
	checks := []struct {
		name               string
		ep                 *endpoint
		method, user, pass string
		topic              string
		want               int
	}{
		{"team-b's admin writing team-a's topic through its own endpoint", teamBIngress, "POST", bUser, bPassword, aTopic, 403},
		{"team-b's admin reading team-a's topic through its own endpoint", teamBIngress, "GET", bUser, bPassword, aTopic, 403},
		{"team-b's admin on team-a's endpoint", teamAIngress, "POST", bUser, bPassword, aTopic, 401},
		{"team-a's admin on team-b's endpoint", teamBIngress, "GET", aUser, aPassword, teamB.topic("events"), 401},
		{"team-a's admin with a wrong password", teamAIngress, "POST", aUser, aPassword + "x", aTopic, 401},
		{"team-a's read-only user writing", teamAIngress, "POST", readerUser, readerPassword, aTopic, 403},
		{"team-b's admin on its own topic", teamBIngress, "POST", bUser, bPassword, teamB.topic("events"), 200},
	}
	for _, ch := range checks {
		body := ""
		if ch.method == "POST" {
			body = `[{"Value":"isolation"}]`
		}
		code, got, err := ch.ep.do(ch.method, "/topic/"+ch.topic+"?group=isolation", ch.user, ch.pass, body)
		if err != nil || code != ch.want {
			t.Errorf("%s: got %d %s (%v), want %d", ch.name, code, got, err, ch.want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// produceLoop POSTs numbered single messages from several clients until
// stop closes, and returns the values Kafka acknowledged and the count of
// requests that failed.
func produceLoop(ep *endpoint, user, password, topic, prefix string, stop <-chan struct{}) (acked func() []string, failed *atomic.Int64, wait func()) {
	var mu sync.Mutex
	var ok []string
	failed = &atomic.Int64{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v := fmt.Sprintf("%s-%d-%d", prefix, w, i)
				code, _, err := ep.do("POST", "/topic/"+topic, user, password, `[{"Value":"`+v+`"}]`)
				if err != nil || code != 200 {
					failed.Add(1)
					time.Sleep(50 * time.Millisecond)
					continue
				}
				mu.Lock()
				ok = append(ok, v)
				mu.Unlock()
			}
		}()
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(ok)
	}, failed, wg.Wait
}

// killDuringProduce deletes a gateway pod, with deleteFlags, while clients
// produce through ep, and checks Kafka holds every message acknowledged.
func killDuringProduce(t *testing.T, e env, c client.Client, ep *endpoint, user, password, topic string, broker *embeddedkafka.Broker, deleteFlags ...string) {
	t.Helper()
	victim := gatewayPods(t, c, "team-a", "my-app")[0]
	stop := make(chan struct{})
	acked, failed, wait := produceLoop(ep, user, password, topic, "kill", stop)
	eventually(t, 30*time.Second, "the produce loop gets going", func() error {
		if n := len(acked()); n < 50 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	e.kubectlRun(t, append([]string{"-n", "team-a", "delete", "pod", victim.Name, "--wait=false"}, deleteFlags...)...)
	eventually(t, 2*time.Minute, "the pod is gone and a replacement is Ready", func() error {
		err := c.Get(context.Background(), client.ObjectKeyFromObject(&victim), &corev1.Pod{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("%s still exists (%v)", victim.Name, err)
		}
		ready := 0
		for _, p := range gatewayPods(t, c, "team-a", "my-app") {
			if podReady(&p) {
				ready++
			}
		}
		if ready != 2 {
			return fmt.Errorf("%d gateway pods Ready", ready)
		}
		return nil
	})
	before := len(acked())
	eventually(t, 30*time.Second, "produces go on with the replacement pod", func() error {
		if n := len(acked()) - before; n < 200 {
			return fmt.Errorf("%d acknowledged since", n)
		}
		return nil
	})
	close(stop)
	wait()
	sent := acked()
	inKafka := drain(t, broker, topic)
	var lost []string
	for _, v := range sent {
		if !inKafka[v] {
			lost = append(lost, v)
		}
	}
	phase(t, "  %d messages acknowledged, %d requests failed during the deletion, %d acknowledged messages missing from Kafka",
		len(sent), failed.Load(), len(lost))
	if len(lost) > 0 {
		t.Fatalf("acknowledged but not in Kafka: %v", lost)
	}
	// A graceful deletion keeps serving until traffic has moved away (the
	// pre-stop delay), so it fails no request; a forced one may.
	if graceful := len(deleteFlags) == 0; graceful && failed.Load() > 0 {
		t.Fatalf("%d requests failed while a gateway pod was deleted gracefully", failed.Load())
	}
}

func rotatePassword(t *testing.T, e env, c client.Client, ep *endpoint, teamA credentials) {
	t.Helper()
	ctx := context.Background()
	user, password := teamA.user("admin")
	readerUser, oldReaderPassword := teamA.user("reader")
	topic := teamA.topic("orders")
	dep := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "my-app-gateway"}, dep); err != nil {
		t.Fatal(err)
	}
	before := dep.Generation
	stop := make(chan struct{})
	acked, failed, wait := produceLoop(ep, user, password, topic, "rotate", stop)
	e.kubectlRun(t, "-n", "team-a", "patch", "secret", "my-app-credentials", "--type=json",
		`-p=[{"op": "remove", "path": "/data/reader.password"}]`)
	eventually(t, 3*time.Minute, "the gateways roll with the new password", func() error {
		if err := c.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "my-app-gateway"}, dep); err != nil {
			return err
		}
		s := dep.Status
		if dep.Generation == before || s.ObservedGeneration < dep.Generation || s.UpdatedReplicas != 2 ||
			s.AvailableReplicas != 2 || s.Replicas != 2 {
			return fmt.Errorf("generation %d (was %d), status %+v", dep.Generation, before, s)
		}
		// Until the old pods are gone, through their pre-stop delay and
		// shutdown: that is when requests could fail.
		pods := &corev1.PodList{}
		if err := c.List(ctx, pods, client.InNamespace("team-a"), client.MatchingLabels(dep.Spec.Selector.MatchLabels)); err != nil {
			return err
		}
		if n := len(pods.Items); n != 2 {
			return fmt.Errorf("%d gateway pods, terminating ones included", n)
		}
		return nil
	})
	close(stop)
	wait()
	phase(t, "  %d messages acknowledged during the roll, %d requests failed", len(acked()), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed while the gateways rolled", failed.Load())
	}
	rotated := readCredentials(t, c, "team-a", "my-app")
	_, newReaderPassword := rotated.user("reader")
	if newReaderPassword == "" || newReaderPassword == oldReaderPassword {
		t.Fatal("the reader's password did not change")
	}
	if code, body, err := ep.do("GET", "/topic/"+topic+"?group=rotated", readerUser, newReaderPassword, ""); err != nil || code != 200 {
		t.Fatalf("the new password: %d %s %v", code, body, err)
	}
	if code, body, err := ep.do("GET", "/topic/"+topic+"?group=rotated", readerUser, oldReaderPassword, ""); err != nil || code != 401 {
		t.Fatalf("the old password: %d %s %v", code, body, err)
	}
}

// deleteUnderTraffic deletes the sample QueueApp while clients produce and
// consume, and checks, until it is gone, that its Kafka users never
// disappear while one of its gateway pods exists.
func deleteUnderTraffic(t *testing.T, e env, c client.Client, ep *endpoint, teamA credentials, broker *embeddedkafka.Broker) {
	t.Helper()
	ctx := context.Background()
	user, password := teamA.user("admin")
	topic := teamA.topic("orders")
	stop := make(chan struct{})
	acked, _, wait := produceLoop(ep, user, password, topic, "deleted", stop)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for {
			select {
			case <-stop:
				return
			default:
				_, _, _ = ep.do("GET", "/topic/"+topic+"?limit=100", user, password, "")
			}
		}
	}()
	defer func() {
		close(stop)
		wait()
		<-consumed
	}()
	admin, err := broker.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	eventually(t, 30*time.Second, "the traffic gets going", func() error {
		if n := len(acked()); n < 100 {
			return fmt.Errorf("%d acknowledged", n)
		}
		return nil
	})
	e.kubectlRun(t, "-n", "team-a", "delete", "queueapp", "my-app", "--wait=false")
	start := time.Now()
	var podsSeen time.Duration
	for {
		err := c.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "my-app"}, &queuev1alpha1.QueueApp{})
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > 3*time.Minute {
			t.Fatal("the QueueApp is still there after 3 minutes")
		}
		// The user first, then the pods: a user gone while a pod still
		// exists after it is a violation whatever happens between the reads.
		creds, err := admin.DescribeUserScramCredentials([]string{user})
		if err != nil {
			t.Fatal(err)
		}
		pods := &corev1.PodList{}
		if err := c.List(ctx, pods, client.InNamespace("team-a"), client.MatchingLabels{"app.kubernetes.io/name": "qaas-gateway", "app.kubernetes.io/instance": "my-app"}); err != nil {
			t.Fatal(err)
		}
		// A pod whose containers all ended (phase Succeeded or Failed)
		// no longer uses the user, though its object stays until the
		// kubelet has cleaned it up: only the others count, as for the
		// operator.
		var running []string
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
				running = append(running, fmt.Sprintf("%s (%s)", p.Name, p.Status.Phase))
			}
		}
		if len(running) > 0 {
			podsSeen = time.Since(start)
		}
		if len(running) > 0 && (len(creds) == 0 || len(creds[0].CredentialInfos) == 0) {
			t.Fatalf("%s left Kafka while gateway pods still run: %s", user, strings.Join(running, ", "))
		}
		time.Sleep(200 * time.Millisecond)
	}
	phase(t, "  gateway pods last seen running %.1fs after the delete, the QueueApp gone %.1fs after", podsSeen.Seconds(), time.Since(start).Seconds())
	creds, err := admin.DescribeUserScramCredentials([]string{user})
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) > 0 && len(creds[0].CredentialInfos) > 0 {
		t.Fatalf("%s is still in Kafka after its QueueApp is gone", user)
	}
}

func upgrade(t *testing.T, e env, c client.Client, values string) {
	t.Helper()
	ctx := context.Background()
	chart := filepath.Join(repoRoot, "charts", "qaas")
	e.helmRun(t, "upgrade", release, chart, "-n", operatorNamespace, "-f", values, "--set", "replicaCount=2",
		"--wait", "--timeout", "3m")
	lease := &coordinationv1.Lease{}
	eventually(t, time.Minute, "an operator replica holds the leader lease", func() error {
		if err := c.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: "qaas-operator.queue.qaas.dev"}, lease); err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return fmt.Errorf("no holder")
		}
		return nil
	})
	e.kubectlRun(t, "-n", "team-a", "patch", "queueapp", "my-app", "--type=json",
		`-p=[{"op": "add", "path": "/spec/topics/-", "value": {"name": "invoices", "partitions": 1}}]`)
	eventually(t, 2*time.Minute, "the upgraded operator provisions the new topic", func() error {
		app := &queuev1alpha1.QueueApp{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "team-a", Name: "my-app"}, app); err != nil {
			return err
		}
		if !slices.Contains(app.Status.Topics, "team-a.my-app.invoices") || app.Status.ObservedGeneration != app.Generation {
			return fmt.Errorf("status %+v", app.Status)
		}
		for _, cond := range app.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == metav1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("not Ready: %+v", app.Status.Conditions)
	})
}

func nodeAddress(t *testing.T, c client.Client) string {
	t.Helper()
	nodes := &corev1.NodeList{}
	if err := c.List(context.Background(), nodes); err != nil || len(nodes.Items) != 1 {
		t.Fatalf("want one node: %d (%v)", len(nodes.Items), err)
	}
	for _, a := range nodes.Items[0].Status.Addresses {
		if a.Type == corev1.NodeInternalIP && net.ParseIP(a.Address).To4() != nil {
			return a.Address
		}
	}
	t.Fatalf("node %s has no InternalIP", nodes.Items[0].Name)
	return ""
}

// gatewayPods are app's gateway pods that are not terminating.
// bothPodsServeOneGroup posts 100 messages, then reads them with GETs
// sent to each gateway pod in turn, by pod IP: every message comes once,
// each partition in order, and no answer is empty while messages wait.
func bothPodsServeOneGroup(t *testing.T, c client.Client, topic, user, password string) {
	t.Helper()
	pods, eps := podEndpoints(t, c)
	prefix := "replicas-" + rand.Text() + "-"
	var batch []string
	for i := range 100 {
		batch = append(batch, fmt.Sprintf(`{"Value":"%s%03d"}`, prefix, i))
	}
	if code, body, err := eps[0].do("POST", "/topic/"+topic, user, password, "["+strings.Join(batch, ",")+"]"); err != nil || code != 200 {
		t.Fatalf("POST: %d %s %v", code, body, err)
	}
	group := "replicas-" + rand.Text()
	// The group is new, so it also reads what earlier checks posted.
	got := map[string]bool{}
	posted := 0
	last := map[int32]int64{}
	for i := 0; posted < 100; i++ {
		code, body, err := eps[i%len(eps)].do("GET", "/topic/"+topic+"?limit=7&group="+group, user, password, "")
		if err != nil || code != 200 {
			t.Fatalf("GET %d on pod %s: %d %s %v", i, pods[i%len(pods)].Name, code, body, err)
		}
		var msgs []struct {
			Value     string
			Partition int32
			Offset    int64
		}
		if err := json.Unmarshal([]byte(body), &msgs); err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			t.Fatalf("GET %d on pod %s was empty with %d of 100 messages still waiting", i, pods[i%len(pods)].Name, 100-posted)
		}
		for _, m := range msgs {
			if got[m.Value] {
				t.Fatalf("message %s came twice", m.Value)
			}
			got[m.Value] = true
			if strings.HasPrefix(m.Value, prefix) {
				posted++
			}
			if prev, ok := last[m.Partition]; ok && m.Offset <= prev {
				t.Fatalf("partition %d: offset %d came after %d", m.Partition, m.Offset, prev)
			}
			last[m.Partition] = m.Offset
		}
	}
	t.Logf("  %d messages once each, partitions in order, through %d pods, no empty answer", len(got), len(pods))
}

// queueAcrossPods takes records of a new queue group from each pod in turn
// and acknowledges each batch through the other pod: each record is
// accepted once, and none comes again.
func queueAcrossPods(t *testing.T, c client.Client, topic, user, password string) {
	t.Helper()
	_, eps := podEndpoints(t, c)
	prefix := "queue-" + rand.Text() + "-"
	var batch []string
	for i := range 40 {
		batch = append(batch, fmt.Sprintf(`{"Value":"%s%02d"}`, prefix, i))
	}
	if code, body, err := eps[0].do("POST", "/topic/"+topic, user, password, "["+strings.Join(batch, ",")+"]"); err != nil || code != 200 {
		t.Fatalf("POST: %d %s %v", code, body, err)
	}
	// A new group starts at the oldest record: it also reads what earlier
	// checks posted, and is drained until both pods answer nothing.
	group := "queue-" + rand.Text()
	accepted := map[string]bool{}
	posted, empty := 0, 0
	for i := 0; posted < 40 || empty < 2; i++ {
		get, ack := eps[i%2], eps[(i+1)%2]
		code, body, err := get.do("GET", "/topic/"+topic+"?mode=queue&limit=7&timeout=2&group="+group, user, password, "")
		if err != nil || code != 200 {
			t.Fatalf("queue GET %d: %d %s %v", i, code, body, err)
		}
		var recs []struct{ Value, Receipt string }
		if err := json.Unmarshal([]byte(body), &recs); err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			if empty++; posted < 40 && empty > 10 {
				t.Fatalf("queue GETs came back empty with %d of 40 records not accepted", 40-posted)
			}
			continue
		}
		empty = 0
		var acks []string
		for _, r := range recs {
			if accepted[r.Value] {
				t.Fatalf("record %s came again after it was accepted", r.Value)
			}
			acks = append(acks, fmt.Sprintf(`{"Receipt":%q,"Outcome":"accept"}`, r.Receipt))
		}
		code, body, err = ack.do("POST", "/topic/"+topic+"/ack?group="+group, user, password, "["+strings.Join(acks, ",")+"]")
		if err != nil || code != 200 {
			t.Fatalf("ack %d: %d %s %v", i, code, body, err)
		}
		var results []struct{ Result string }
		if err := json.Unmarshal([]byte(body), &results); err != nil || len(results) != len(recs) {
			t.Fatalf("ack %d answered %s", i, body)
		}
		for j, r := range results {
			if r.Result != "acknowledged" {
				t.Fatalf("ack of %s through the other pod: %s", recs[j].Value, body)
			}
			accepted[recs[j].Value] = true
			if strings.HasPrefix(recs[j].Value, prefix) {
				posted++
			}
		}
	}
	t.Logf("  %d records accepted once each, handed out by one pod and acknowledged through the other", len(accepted))
}

// podEndpoints are the sample's two gateway pods and their plain-HTTP
// endpoints, each reached at its pod IP.
func podEndpoints(t *testing.T, c client.Client) ([]corev1.Pod, []*endpoint) {
	t.Helper()
	pods := gatewayPods(t, c, "team-a", "my-app")
	if len(pods) < 2 {
		t.Fatalf("%d gateway pods, want 2", len(pods))
	}
	var eps []*endpoint
	for _, p := range pods {
		eps = append(eps, plainEndpoint(t, "http://"+p.Status.PodIP+":8080"))
	}
	return pods, eps
}

func gatewayPods(t *testing.T, c client.Client, namespace, app string) []corev1.Pod {
	t.Helper()
	pods := &corev1.PodList{}
	if err := c.List(context.Background(), pods, client.InNamespace(namespace),
		client.MatchingLabels{"app.kubernetes.io/name": "qaas-gateway", "app.kubernetes.io/instance": app}); err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
