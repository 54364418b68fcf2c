package controllers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/gateway/config"
	"qaas.dev/qaas/gateway/server"
	"qaas.dev/qaas/internal/kafkaconn"
	"qaas.dev/qaas/internal/standin"
)

// tenantApp is a QueueApp with two topics and a readwrite and a read user.
func tenantApp(ns string) *queuev1alpha1.QueueApp {
	return &queuev1alpha1.QueueApp{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: ns},
		Spec: queuev1alpha1.QueueAppSpec{
			Topics:  []queuev1alpha1.TopicSpec{{Name: "orders", Partitions: 1}, {Name: "events", Partitions: 3}},
			Users:   []queuev1alpha1.UserSpec{{Name: "admin", Role: queuev1alpha1.RoleReadWrite}, {Name: "reader", Role: queuev1alpha1.RoleRead}},
			Ingress: queuev1alpha1.IngressSpec{Host: "shop." + ns + ".example.com"},
		},
	}
}

func createApp(t *testing.T, app *queuev1alpha1.QueueApp) {
	t.Helper()
	if err := k8s.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	waitForCondition(t, app, queuev1alpha1.ConditionKafkaReady, metav1.ConditionTrue, "")
}

// waitForCondition waits for condType to have status (and a message
// holding message).
func waitForCondition(t *testing.T, app *queuev1alpha1.QueueApp, condType string, status metav1.ConditionStatus, message string) *metav1.Condition {
	t.Helper()
	var found *metav1.Condition
	eventually(t, fmt.Sprintf("%s becomes %s", condType, status), func() error {
		cur := &queuev1alpha1.QueueApp{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(app), cur); err != nil {
			return err
		}
		found = meta.FindStatusCondition(cur.Status.Conditions, condType)
		if found == nil || found.Status != status || !strings.Contains(found.Message, message) {
			return fmt.Errorf("%s is %+v", condType, found)
		}
		return nil
	})
	return found
}

// kafkaAdmin reads the broker as its superuser.
func kafkaAdmin(t *testing.T) sarama.ClusterAdmin {
	t.Helper()
	admin, err := broker.Admin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	return admin
}

func topicPartitions(t *testing.T) map[string]int32 {
	t.Helper()
	topics, err := kafkaAdmin(t).ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int32{}
	for name, d := range topics {
		out[name] = d.NumPartitions
	}
	return out
}

func scramUsers(t *testing.T, names ...string) map[string]bool {
	t.Helper()
	results, err := kafkaAdmin(t).DescribeUserScramCredentials(names)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, r := range results {
		if r.ErrorCode == sarama.ErrNoError && len(r.CredentialInfos) > 0 {
			out[r.User] = true
		}
	}
	return out
}

func prefixACLs(t *testing.T, prefix string) int {
	t.Helper()
	acls, err := kafkaAdmin(t).ListAcls(sarama.AclFilter{ResourceType: sarama.AclResourceAny, ResourceName: &prefix,
		ResourcePatternTypeFilter: sarama.AclPatternPrefixed, Operation: sarama.AclOperationAny, PermissionType: sarama.AclPermissionAny})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ra := range acls {
		n += len(ra.Acls)
	}
	return n
}

// runGateway runs the gateway as the QueueApp's Deployment would: its
// arguments, with the credentials Secret as files in a directory. The
// gateway must speak Kafka as the operator does, at the operator's
// protocol version.
func runGateway(t *testing.T, app *queuev1alpha1.QueueApp) string {
	t.Helper()
	dep := get(t, app.Namespace, GatewayName(app), &appsv1.Deployment{})
	creds := get(t, app.Namespace, CredentialsSecretName(app), &corev1.Secret{})
	dir := t.TempDir()
	for key, value := range creds.Data {
		if err := os.WriteFile(filepath.Join(dir, key), value, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args, err := LocalGatewayArgs(dep.Spec.Template.Spec.Containers[0].Args, dir, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := server.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedLog{}
	gw, err := server.New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	if want := "version=" + managerSettings.Kafka.Version; managerSettings.Kafka.Version == kafkaconn.DefaultVersion ||
		!strings.Contains(logs.String(), "speaking Kafka") || !strings.Contains(logs.String(), want) {
		t.Fatalf("the gateway does not speak the operator's Kafka version %s (which must not be the gateway's default): %s",
			managerSettings.Kafka.Version, logs.String())
	}
	serveCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(serveCtx, ls) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ls.API.Addr().String()
}

// lockedLog is a gateway's log, which the test reads while the gateway
// writes it.
type lockedLog struct {
	mu  sync.Mutex
	log strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.log.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.log.String()
}

func call(t *testing.T, method, url, user, password, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTenantsAreProvisionedAndConfinedEndToEnd(t *testing.T) {
	a, b := tenantApp(newNamespace(t)), tenantApp(newNamespace(t))
	createApp(t, a)
	createApp(t, b)

	// Kafka holds both tenants as specified.
	parts := topicPartitions(t)
	for _, app := range []*queuev1alpha1.QueueApp{a, b} {
		if parts[app.KafkaTopicName("orders")] != 1 || parts[app.KafkaTopicName("events")] != 3 {
			t.Errorf("partitions %v", parts)
		}
		users := scramUsers(t, app.KafkaUserName("admin"), app.KafkaUserName("reader"))
		if len(users) != 2 {
			t.Errorf("SCRAM users of %s: %v", app.KafkaPrefix(), users)
		}
		// admin: Describe, Read, Write on topics, Read, AlterConfigs and
		// DescribeConfigs on groups; reader: the same without Write.
		if n := prefixACLs(t, app.KafkaPrefix()); n != 11 {
			t.Errorf("%d ACLs on %s, want 11", n, app.KafkaPrefix())
		}
		cur := get(t, app.Namespace, app.Name, &queuev1alpha1.QueueApp{})
		if strings.Join(cur.Status.Topics, ",") != app.KafkaTopicName("orders")+","+app.KafkaTopicName("events") {
			t.Errorf("status.topics %v", cur.Status.Topics)
		}
	}

	// A gateway run as A's Deployment runs it works on A's topics only.
	url := runGateway(t, a)
	creds := get(t, a.Namespace, CredentialsSecretName(a), &corev1.Secret{}).Data
	admin, adminPass := string(creds["admin.username"]), string(creds["admin.password"])
	reader, readerPass := string(creds["reader.username"]), string(creds["reader.password"])
	mine, theirs := url+"/topic/"+a.KafkaTopicName("orders"), url+"/topic/"+b.KafkaTopicName("orders")

	if code, body := call(t, http.MethodPost, mine, admin, adminPass, `[{"Value":"hello"}]`); code != http.StatusOK {
		t.Fatalf("producing to its own topic: %d %s", code, body)
	}
	if code, body := call(t, http.MethodGet, mine, reader, readerPass, ""); code != http.StatusOK || !strings.Contains(body, `"Value":"hello"`) {
		t.Fatalf("the read user consuming: %d %s", code, body)
	}
	for name, c := range map[string]struct {
		method, url, user, password string
	}{
		"produce to the other tenant's topic": {http.MethodPost, theirs, admin, adminPass},
		"consume the other tenant's topic":    {http.MethodGet, theirs, admin, adminPass},
		"the read user produces":              {http.MethodPost, mine, reader, readerPass},
	} {
		if code, body := call(t, c.method, c.url, c.user, c.password, `[{"Value":"x"}]`); code != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", name, code, body)
		}
	}
	bCreds := get(t, b.Namespace, CredentialsSecretName(b), &corev1.Secret{}).Data
	if code, _ := call(t, http.MethodGet, theirs, string(bCreds["admin.username"]), string(bCreds["admin.password"]), ""); code != http.StatusUnauthorized {
		t.Errorf("B's user at A's gateway: %d, want 401", code)
	}
}

func TestKafkaConvergesOnEditsAndRefusesAPartitionDecrease(t *testing.T) {
	app := tenantApp(newNamespace(t))
	createApp(t, app)

	edit(t, app.Namespace, app.Name, &queuev1alpha1.QueueApp{}, func(cur *queuev1alpha1.QueueApp) {
		cur.Spec.Topics[1].Partitions = 5
		cur.Spec.Topics[0].Config = map[string]string{"retention.ms": "3600000"}
		cur.Spec.Users = cur.Spec.Users[:1]
	})
	eventually(t, "Kafka follows the edit", func() error {
		if p := topicPartitions(t)[app.KafkaTopicName("events")]; p != 5 {
			return fmt.Errorf("events has %d partitions", p)
		}
		if users := scramUsers(t, app.KafkaUserName("reader")); len(users) != 0 {
			return fmt.Errorf("the removed user is still in Kafka")
		}
		if n := prefixACLs(t, app.KafkaPrefix()); n != 6 {
			return fmt.Errorf("%d ACLs, want the admin's 6", n)
		}
		return nil
	})
	results, err := kafkaAdmin(t).DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: app.KafkaTopicName("orders")}}, sarama.DescribeConfigsOptions{})
	if err != nil || len(results) != 1 {
		t.Fatal(err)
	}
	found := false
	for _, e := range results[0].Configs {
		found = found || (e.Name == "retention.ms" && e.Value == "3600000" && e.Source == sarama.SourceTopic)
	}
	if !found {
		t.Error("the topic config was not set")
	}

	cur := edit(t, app.Namespace, app.Name, &queuev1alpha1.QueueApp{}, func(cur *queuev1alpha1.QueueApp) {
		cur.Spec.Topics[1].Partitions = 2
	})
	c := waitForCondition(t, app, queuev1alpha1.ConditionKafkaReady, metav1.ConditionFalse, "Kafka cannot remove partitions")
	if c.Reason != "SpecRefused" || c.ObservedGeneration != cur.Generation {
		t.Errorf("KafkaReady %+v", c)
	}
	if p := topicPartitions(t)[app.KafkaTopicName("events")]; p != 5 {
		t.Fatalf("a refused decrease changed the topic to %d partitions", p)
	}
}

func TestDeletionRemovesUsersAndACLsAndTopicsByPolicy(t *testing.T) {
	for _, policy := range []queuev1alpha1.DeletionPolicy{queuev1alpha1.DeletionRetain, queuev1alpha1.DeletionDelete} {
		t.Run(string(policy), func(t *testing.T) {
			app := tenantApp(newNamespace(t))
			app.Spec.DeletionPolicy = policy
			createApp(t, app)
			group := app.KafkaUserName("admin") + ".default"
			commitOffset(t, group, app.KafkaTopicName("orders"))
			if err := k8s.Delete(ctx, get(t, app.Namespace, app.Name, &queuev1alpha1.QueueApp{})); err != nil {
				t.Fatal(err)
			}
			waitForRelease(t, app)
			if users := scramUsers(t, app.KafkaUserName("admin"), app.KafkaUserName("reader")); len(users) != 0 {
				t.Errorf("users left in Kafka: %v", users)
			}
			if n := prefixACLs(t, app.KafkaPrefix()); n != 0 {
				t.Errorf("%d ACLs left on %s", n, app.KafkaPrefix())
			}
			_, kept := topicPartitions(t)[app.KafkaTopicName("orders")]
			if kept != (policy == queuev1alpha1.DeletionRetain) {
				t.Errorf("deletionPolicy %s: topic kept = %v", policy, kept)
			}
			groups, err := kafkaAdmin(t).ListConsumerGroups()
			if err != nil {
				t.Fatal(err)
			}
			if _, kept := groups[group]; kept != (policy == queuev1alpha1.DeletionRetain) {
				t.Errorf("deletionPolicy %s: consumer group kept = %v", policy, kept)
			}
		})
	}
}

// commitOffset commits an offset of topic's partition 0 for group, as a
// gateway handing out a message does, which makes the group exist in Kafka.
func commitOffset(t *testing.T, group, topic string) {
	t.Helper()
	c, err := broker.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	coordinator, err := c.Coordinator(group)
	if err != nil {
		t.Fatal(err)
	}
	// A commit outside any generation (-1), as Kafka allows for a group
	// without members.
	req := &sarama.OffsetCommitRequest{Version: 2, ConsumerGroup: group, ConsumerGroupGeneration: -1, RetentionTime: -1}
	req.AddBlock(topic, 0, 1, 0, "")
	resp, err := coordinator.CommitOffset(req)
	if err != nil {
		t.Fatal(err)
	}
	if kerr := resp.Errors[topic][0]; kerr != sarama.ErrNoError {
		t.Fatalf("committing an offset for %s: %v", group, kerr)
	}
	groups, err := kafkaAdmin(t).ListConsumerGroups()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := groups[group]; !ok {
		t.Fatalf("committing an offset did not make group %s: %v", group, groups)
	}
}

// A deleted QueueApp stops its gateway before it takes the tenant out of
// Kafka: while a gateway pod exists, the users stay (and the condition says
// what the deletion waits for); once the pods are gone, the users go.
func TestDeletionStopsTheGatewayBeforeKafka(t *testing.T) {
	app := tenantApp(newNamespace(t))
	createApp(t, app)
	// envtest runs no kubelet: this pod stands for a gateway pod that is
	// still stopping.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-gateway-stopping", Namespace: app.Namespace, Labels: childLabels(app)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "gateway", Image: "gateway"}}},
	}
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(ctx, get(t, app.Namespace, app.Name, &queuev1alpha1.QueueApp{})); err != nil {
		t.Fatal(err)
	}
	c := waitForCondition(t, app, queuev1alpha1.ConditionGatewayReady, metav1.ConditionFalse, "waiting for 1 gateway pods to stop")
	if c.Reason != "Stopping" {
		t.Errorf("GatewayReady %+v", c)
	}
	eventually(t, "the gateway Deployment is deleted", func() error {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: GatewayName(app)}, &appsv1.Deployment{})
		if err == nil {
			return fmt.Errorf("still there")
		}
		return client.IgnoreNotFound(err)
	})
	users := []string{app.KafkaUserName("admin"), app.KafkaUserName("reader")}
	if got := scramUsers(t, users...); len(got) != 2 {
		t.Fatalf("a gateway pod still runs, yet the Kafka users are %v", got)
	}
	if err := k8s.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	waitForRelease(t, app)
	if got := scramUsers(t, users...); len(got) != 0 {
		t.Errorf("users left in Kafka: %v", got)
	}
}

// Kafka going away shows in KafkaReady, with a message naming the problem;
// Kafka coming back makes the QueueApp Ready again without any edit.
func TestKafkaOutageShowsAndHeals(t *testing.T) {
	app := tenantApp(newNamespace(t))
	createApp(t, app)
	markGatewayServing(t, app)
	waitForCondition(t, app, queuev1alpha1.ConditionReady, metav1.ConditionTrue, "")

	broker.Close()
	restarted := false
	defer func() {
		if !restarted {
			restartBroker(t)
		}
	}()
	// Any event makes the operator look again; an annotation is the
	// lightest.
	edit(t, app.Namespace, app.Name, &queuev1alpha1.QueueApp{}, func(cur *queuev1alpha1.QueueApp) {
		cur.Annotations = map[string]string{"touch": time.Now().String()}
	})
	c := waitForCondition(t, app, queuev1alpha1.ConditionKafkaReady, metav1.ConditionFalse, broker.Addr)
	if c.Reason != "KafkaUnavailable" {
		t.Errorf("KafkaReady %+v", c)
	}
	waitForCondition(t, app, queuev1alpha1.ConditionReady, metav1.ConditionFalse, "")

	restartBroker(t)
	restarted = true
	waitForCondition(t, app, queuev1alpha1.ConditionKafkaReady, metav1.ConditionTrue, "")
	waitForCondition(t, app, queuev1alpha1.ConditionReady, metav1.ConditionTrue, "")
}

// A gateway pod that stops for longer than gatewayStopTimeout (its node is
// lost, say) no longer holds up a deletion; one that is still running does.
func TestAPodStuckStoppingDoesNotHoldUpDeletion(t *testing.T) {
	app := tenantApp(newNamespace(t))
	app.UID = "stuck"
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: app.Namespace, Labels: childLabels(app),
				// Keeps the deleted pod as a lost node's kubelet would.
				Finalizers: []string{"test.qaas.dev/lost-node"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "gateway", Image: "gateway"}}},
		}
	}
	stuck, runningPod := pod("stuck"), pod("running")
	for _, p := range []*corev1.Pod{stuck, runningPod} {
		if err := k8s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			edit(t, p.Namespace, p.Name, &corev1.Pod{}, func(cur *corev1.Pod) { cur.Finalizers = nil })
		})
	}
	if err := k8s.Delete(ctx, stuck); err != nil {
		t.Fatal(err)
	}
	r := &QueueAppReconciler{Client: k8s, APIReader: k8s}
	for name, c := range map[string]struct {
		now  time.Time
		want int
	}{
		"just deleted: both are waited for":   {time.Now(), 2},
		"stopping for too long: not any more": {time.Now().Add(gatewayStopTimeout + time.Minute), 1},
	} {
		if got, err := r.stopGateway(ctx, app, c.now); err != nil || got != c.want {
			t.Errorf("%s: %d pods waited for (%v), want %d", name, got, err, c.want)
		}
	}
}

// Ready means a client can connect: an available Deployment is not enough
// until its pods are behind the Service and the Ingress controller has
// published an address.
func TestReadyWaitsForEndpointsAndTheIngressAddress(t *testing.T) {
	app := tenantApp(newNamespace(t))
	createApp(t, app)
	key := client.ObjectKey{Namespace: app.Namespace, Name: GatewayName(app)}

	if err := standin.ReportAvailable(ctx, k8s, key, 2); err != nil {
		t.Fatal(err)
	}
	if c := waitForCondition(t, app, queuev1alpha1.ConditionGatewayReady, metav1.ConditionFalse, "no ready endpoint"); c.Reason != "NoEndpoints" {
		t.Errorf("GatewayReady %+v", c)
	}
	waitForCondition(t, app, queuev1alpha1.ConditionReady, metav1.ConditionFalse, "GatewayReady")

	if err := standin.PutBehindService(ctx, k8s, key, 2, "10.88.0.10"); err != nil {
		t.Fatal(err)
	}
	waitForCondition(t, app, queuev1alpha1.ConditionGatewayReady, metav1.ConditionTrue, "2 serving behind Service")
	if c := waitForCondition(t, app, queuev1alpha1.ConditionIngressReady, metav1.ConditionFalse, "publish an address"); c.Reason != "NoAddress" {
		t.Errorf("IngressReady %+v", c)
	}
	waitForCondition(t, app, queuev1alpha1.ConditionReady, metav1.ConditionFalse, "IngressReady")

	if err := standin.PublishAddress(ctx, k8s, key, "192.0.2.80"); err != nil {
		t.Fatal(err)
	}
	waitForCondition(t, app, queuev1alpha1.ConditionIngressReady, metav1.ConditionTrue, "192.0.2.80")
	waitForCondition(t, app, queuev1alpha1.ConditionReady, metav1.ConditionTrue, "")
}

// markGatewayServing does what the kubelet and the controllers absent from
// envtest would once the gateway's pods are ready.
func markGatewayServing(t *testing.T, app *queuev1alpha1.QueueApp) {
	t.Helper()
	if err := standin.ReportServing(ctx, k8s, app.Namespace, GatewayName(app), 2, "10.88.0.10", "192.0.2.80"); err != nil {
		t.Fatal(err)
	}
}

// A QueueApp deleted while Kafka is down stays, says why, and goes once its
// users and ACLs are removed.
func TestDeletionWaitsForKafka(t *testing.T) {
	app := tenantApp(newNamespace(t))
	createApp(t, app)
	broker.Close()
	restarted := false
	defer func() {
		if !restarted {
			restartBroker(t)
		}
	}()
	if err := k8s.Delete(ctx, get(t, app.Namespace, app.Name, &queuev1alpha1.QueueApp{})); err != nil {
		t.Fatal(err)
	}
	c := waitForCondition(t, app, queuev1alpha1.ConditionKafkaReady, metav1.ConditionFalse, "kept until its Kafka users and ACLs are removed")
	if c.Reason != "DeletionBlocked" {
		t.Errorf("KafkaReady %+v", c)
	}
	restartBroker(t)
	restarted = true
	waitForRelease(t, app)
	if users := scramUsers(t, app.KafkaUserName("admin"), app.KafkaUserName("reader")); len(users) != 0 {
		t.Errorf("users left in Kafka: %v", users)
	}
}
