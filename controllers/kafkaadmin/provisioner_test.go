package kafkaadmin_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/controllers/kafkaadmin"
	"qaas.dev/qaas/internal/embeddedkafka"
	"qaas.dev/qaas/internal/kafkaconn"
)

// A broker with SASL/SCRAM and ACLs on, whose superuser provisions.
func startBroker(t *testing.T, opts embeddedkafka.BrokerOptions) *embeddedkafka.Broker {
	t.Helper()
	if opts.AdminPassword == "" {
		opts.AdminPassword = rand.Text()
	}
	b, err := embeddedkafka.StartBroker(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func newProvisioner(t *testing.T, b **embeddedkafka.Broker) *kafkaadmin.Provisioner {
	t.Helper()
	p, err := kafkaadmin.New(kafkaadmin.Config{
		Kafka:                    kafkaconn.Connection{Brokers: []string{(*b).Addr}, Mechanism: kafkaconn.ScramSHA512, Version: sarama.V3_6_0_0},
		DefaultReplicationFactor: -1,
		AdminCredentials: func(context.Context) (string, string, error) {
			return embeddedkafka.AdminUser, (*b).AdminPassword, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func queueApp(ns, name string) *queuev1alpha1.QueueApp {
	return &queuev1alpha1.QueueApp{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: queuev1alpha1.QueueAppSpec{
			Topics: []queuev1alpha1.TopicSpec{
				{Name: "orders", Partitions: 3, Config: map[string]string{"retention.ms": "604800000"}},
				{Name: "events", Partitions: 1},
			},
			DeletionPolicy: queuev1alpha1.DeletionRetain,
		},
	}
}

func usersOf(app *queuev1alpha1.QueueApp, roles map[string]queuev1alpha1.UserRole) []kafkaadmin.User {
	var out []kafkaadmin.User
	for name, role := range roles {
		out = append(out, kafkaadmin.User{Name: app.KafkaUserName(name), Password: "pw-" + app.KafkaUserName(name), Role: role})
	}
	return out
}

// brokerState is what Kafka holds, read back through the admin API.
type brokerState struct {
	partitions map[string]int
	config     map[string]map[string]string
	users      []string
	acls       []string // "principal resource operation" on prefixes
}

func readBack(t *testing.T, b *embeddedkafka.Broker) brokerState {
	t.Helper()
	admin, err := b.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	st := brokerState{partitions: map[string]int{}, config: map[string]map[string]string{}}
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range topics {
		st.partitions[name] = int(d.NumPartitions)
		results, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: name}}, sarama.DescribeConfigsOptions{})
		if err != nil || len(results) != 1 {
			t.Fatal(err)
		}
		st.config[name] = map[string]string{}
		for _, e := range results[0].Configs {
			if e.Source == sarama.SourceTopic {
				st.config[name][e.Name] = e.Value
			}
		}
	}
	var candidates []string
	for _, ns := range []string{"team-a", "team-b"} {
		for _, u := range []string{"admin", "reader"} {
			candidates = append(candidates, ns+".shop."+u)
		}
	}
	users, err := admin.DescribeUserScramCredentials(candidates)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if errors.Is(u.ErrorCode, sarama.ErrNoError) && len(u.CredentialInfos) > 0 {
			st.users = append(st.users, u.User)
		}
	}
	sort.Strings(st.users)
	acls, err := admin.ListAcls(sarama.AclFilter{ResourceType: sarama.AclResourceAny, ResourcePatternTypeFilter: sarama.AclPatternAny,
		Operation: sarama.AclOperationAny, PermissionType: sarama.AclPermissionAny})
	if err != nil {
		t.Fatal(err)
	}
	for _, ra := range acls {
		for _, a := range ra.Acls {
			if ra.ResourcePatternType != sarama.AclPatternPrefixed || a.PermissionType != sarama.AclPermissionAllow {
				t.Errorf("unexpected ACL %+v on %+v", a, ra.Resource)
			}
			st.acls = append(st.acls, a.Principal+" "+resourceName(ra.ResourceType)+":"+ra.ResourceName+" "+operationName(a.Operation))
		}
	}
	sort.Strings(st.acls)
	return st
}

func resourceName(r sarama.AclResourceType) string {
	switch r {
	case sarama.AclResourceTopic:
		return "topic"
	case sarama.AclResourceGroup:
		return "group"
	case sarama.AclResourceCluster:
		return "cluster"
	}
	return "other"
}

func operationName(o sarama.AclOperation) string {
	switch o {
	case sarama.AclOperationRead:
		return "Read"
	case sarama.AclOperationWrite:
		return "Write"
	case sarama.AclOperationDescribe:
		return "Describe"
	case sarama.AclOperationAlterConfigs:
		return "AlterConfigs"
	case sarama.AclOperationDescribeConfigs:
		return "DescribeConfigs"
	}
	return "op" + strconv.Itoa(int(o))
}

func aclsOf(prefix, user string, write bool) []string {
	p := "User:" + prefix + user
	out := []string{p + " group:" + prefix + " AlterConfigs", p + " group:" + prefix + " DescribeConfigs", p + " group:" + prefix + " Read",
		p + " topic:" + prefix + " Describe", p + " topic:" + prefix + " Read"}
	if write {
		out = append(out, p+" topic:"+prefix+" Write")
	}
	return out
}

func TestTwoTenantsAreProvisionedAsSpecified(t *testing.T) {
	b := startBroker(t, embeddedkafka.BrokerOptions{})
	p := newProvisioner(t, &b)
	a, bApp := queueApp("team-a", "shop"), queueApp("team-b", "shop")
	ctx := context.Background()
	for _, app := range []*queuev1alpha1.QueueApp{a, bApp} {
		topics, err := p.Reconcile(ctx, app, usersOf(app, map[string]queuev1alpha1.UserRole{"admin": queuev1alpha1.RoleReadWrite, "reader": queuev1alpha1.RoleRead}))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{app.KafkaTopicName("orders"), app.KafkaTopicName("events")}; !slices.Equal(topics, want) {
			t.Fatalf("topics %q, want %q", topics, want)
		}
	}
	st := readBack(t, b)
	for _, prefix := range []string{"team-a.shop.", "team-b.shop."} {
		if st.partitions[prefix+"orders"] != 3 || st.partitions[prefix+"events"] != 1 {
			t.Errorf("partitions %v", st.partitions)
		}
		if st.config[prefix+"orders"]["retention.ms"] != "604800000" {
			t.Errorf("config of %sorders: %v", prefix, st.config[prefix+"orders"])
		}
	}
	if want := []string{"team-a.shop.admin", "team-a.shop.reader", "team-b.shop.admin", "team-b.shop.reader"}; !slices.Equal(st.users, want) {
		t.Errorf("users %q, want %q", st.users, want)
	}
	var want []string
	for _, prefix := range []string{"team-a.shop.", "team-b.shop."} {
		want = append(want, aclsOf(prefix, "admin", true)...)
		want = append(want, aclsOf(prefix, "reader", false)...)
	}
	sort.Strings(want)
	if !slices.Equal(st.acls, want) {
		t.Errorf("ACLs:\n%s\nwant:\n%s", strings.Join(st.acls, "\n"), strings.Join(want, "\n"))
	}
}

// The ACLs confine each tenant: A's user reads and writes A's topics and
// groups, and is refused B's.
func TestACLsConfineATenant(t *testing.T) {
	b := startBroker(t, embeddedkafka.BrokerOptions{})
	p := newProvisioner(t, &b)
	a, bApp := queueApp("team-a", "shop"), queueApp("team-b", "shop")
	ctx := context.Background()
	aUsers := usersOf(a, map[string]queuev1alpha1.UserRole{"admin": queuev1alpha1.RoleReadWrite})
	for app, users := range map[*queuev1alpha1.QueueApp][]kafkaadmin.User{a: aUsers, bApp: usersOf(bApp, map[string]queuev1alpha1.UserRole{"admin": queuev1alpha1.RoleReadWrite})} {
		if _, err := p.Reconcile(ctx, app, users); err != nil {
			t.Fatal(err)
		}
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	kafkaconn.Login(cfg, kafkaconn.ScramSHA512, aUsers[0].Name, aUsers[0].Password)
	client, err := sarama.NewClient([]string{b.Addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "team-a.shop.orders", Value: sarama.StringEncoder("mine")}); err != nil {
		t.Fatalf("producing to its own topic: %v", err)
	}
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "team-b.shop.orders", Value: sarama.StringEncoder("theirs")}); !errors.Is(err, sarama.ErrTopicAuthorizationFailed) {
		t.Fatalf("producing to the other tenant's topic: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	// Committing offsets needs Read on the group.
	commit := func(group string) error {
		_, err := admin.AlterConsumerGroupOffsets(group, map[string]map[int32]sarama.OffsetAndMetadata{"team-a.shop.orders": {0: {Offset: 1}}}, nil)
		return err
	}
	if err := commit("team-a.shop.admin.default"); err != nil {
		t.Fatalf("committing in its own group: %v", err)
	}
	if err := commit("team-b.shop.admin.default"); !errors.Is(err, sarama.ErrGroupAuthorizationFailed) {
		t.Fatalf("committing in the other tenant's group: %v, want GROUP_AUTHORIZATION_FAILED", err)
	}
	if _, err := admin.ListTopics(); err != nil {
		t.Fatal(err)
	} else if topics, _ := admin.ListTopics(); len(topics) != 2 || topics["team-b.shop.orders"].NumPartitions != 0 {
		t.Fatalf("the tenant sees topics %v, want only its own", keys(topics))
	}
}

func keys(m map[string]sarama.TopicDetail) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// countWrites counts the requests that change Kafka.
func countWrites(b *embeddedkafka.Broker) *atomic.Int64 {
	var n atomic.Int64
	writes := map[int16]bool{19: true, 20: true, 30: true, 31: true, 33: true, 37: true, 44: true, 51: true}
	b.ObserveRequests(func(key int16) {
		if writes[key] {
			n.Add(1)
		}
	})
	return &n
}

func TestEditsConvergeAndNothingChangedMeansNoWrites(t *testing.T) {
	b := startBroker(t, embeddedkafka.BrokerOptions{})
	p := newProvisioner(t, &b)
	ctx := context.Background()
	app := queueApp("team-a", "shop")
	roles := map[string]queuev1alpha1.UserRole{"admin": queuev1alpha1.RoleReadWrite, "reader": queuev1alpha1.RoleRead}
	if _, err := p.Reconcile(ctx, app, usersOf(app, roles)); err != nil {
		t.Fatal(err)
	}
	writes := countWrites(b)
	if _, err := p.Reconcile(ctx, app, usersOf(app, roles)); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 0 {
		t.Fatalf("a reconcile with nothing changed made %d Kafka writes", n)
	}

	// Grow a topic, change and drop config, drop a user, demote another.
	app.Spec.Topics[0].Partitions = 5
	app.Spec.Topics[0].Config = map[string]string{"cleanup.policy": "compact"}
	roles = map[string]queuev1alpha1.UserRole{"admin": queuev1alpha1.RoleRead}
	if _, err := p.Reconcile(ctx, app, usersOf(app, roles)); err != nil {
		t.Fatal(err)
	}
	st := readBack(t, b)
	if st.partitions["team-a.shop.orders"] != 5 {
		t.Errorf("partitions %v", st.partitions)
	}
	if c := st.config["team-a.shop.orders"]; len(c) != 1 || c["cleanup.policy"] != "compact" {
		t.Errorf("config %v, want only cleanup.policy=compact", c)
	}
	if !slices.Equal(st.users, []string{"team-a.shop.admin"}) {
		t.Errorf("users %q", st.users)
	}
	if want := aclsOf("team-a.shop.", "admin", false); !slices.Equal(st.acls, want) {
		t.Errorf("ACLs %q, want %q", st.acls, want)
	}

	// A decrease is refused with a reason and changes nothing.
	app.Spec.Topics[0].Partitions = 2
	writes.Store(0)
	topics, err := p.Reconcile(ctx, app, usersOf(app, roles))
	var refused *kafkaadmin.SpecError
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "topic orders has 5 partitions and Kafka cannot remove partitions") {
		t.Fatalf("decreasing partitions: %v", err)
	}
	if len(topics) != 2 || readBack(t, b).partitions["team-a.shop.orders"] != 5 || writes.Load() != 0 {
		t.Fatalf("a refused decrease changed Kafka (%d writes)", writes.Load())
	}

	// A changed password is written once, and logs in.
	users := usersOf(app, roles)
	users[0].Password = "rotated"
	if _, err := p.Reconcile(ctx, app, users); !errors.As(err, &refused) {
		t.Fatal(err)
	}
	if writes.Load() != 1 {
		t.Fatalf("a password change made %d writes, want 1", writes.Load())
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	kafkaconn.Login(cfg, kafkaconn.ScramSHA512, users[0].Name, "rotated")
	client, err := sarama.NewClient([]string{b.Addr}, cfg)
	if err != nil {
		t.Fatalf("the new password does not log in: %v", err)
	}
	client.Close()

	// A topic Kafka refuses (more replicas than brokers) is reported, not
	// retried as an outage, and the rest converges.
	app.Spec.Topics[0].Partitions = 5
	app.Spec.Topics = append(app.Spec.Topics, queuev1alpha1.TopicSpec{Name: "replicated", Partitions: 1, ReplicationFactor: ptr.To[int32](3)})
	topics, err = p.Reconcile(ctx, app, users)
	if !errors.As(err, &refused) || !strings.Contains(err.Error(), "Kafka refused topic replicated") || len(topics) != 2 {
		t.Fatalf("three replicas on one broker: %v (topics %q)", err, topics)
	}
}

func TestDeleteFollowsTheDeletionPolicy(t *testing.T) {
	for _, policy := range []queuev1alpha1.DeletionPolicy{queuev1alpha1.DeletionRetain, queuev1alpha1.DeletionDelete} {
		t.Run(string(policy), func(t *testing.T) {
			b := startBroker(t, embeddedkafka.BrokerOptions{})
			p := newProvisioner(t, &b)
			ctx := context.Background()
			app, other := queueApp("team-a", "shop"), queueApp("team-b", "shop")
			for _, x := range []*queuev1alpha1.QueueApp{app, other} {
				if _, err := p.Reconcile(ctx, x, usersOf(x, map[string]queuev1alpha1.UserRole{"admin": queuev1alpha1.RoleReadWrite})); err != nil {
					t.Fatal(err)
				}
			}
			app.Spec.DeletionPolicy = policy
			// The spec's users are named: one whose ACLs were lost is
			// found all the same.
			if err := p.Delete(ctx, app, []string{app.KafkaUserName("admin")}); err != nil {
				t.Fatal(err)
			}
			st := readBack(t, b)
			_, kept := st.partitions["team-a.shop.orders"]
			if kept != (policy == queuev1alpha1.DeletionRetain) {
				t.Errorf("policy %s: topic kept = %v", policy, kept)
			}
			if !slices.Equal(st.users, []string{"team-b.shop.admin"}) {
				t.Errorf("users %q, want only the other tenant's", st.users)
			}
			if want := aclsOf("team-b.shop.", "admin", true); !slices.Equal(st.acls, want) {
				t.Errorf("ACLs %q, want only the other tenant's", st.acls)
			}
			if _, ok := st.partitions["team-b.shop.orders"]; !ok {
				t.Error("the other tenant's topic went too")
			}
		})
	}
}

func TestUnreachableKafkaIsNamedAndRecovered(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, embeddedkafka.BrokerOptions{DataDir: dir})
	p := newProvisioner(t, &b)
	ctx := context.Background()
	app := queueApp("team-a", "shop")
	users := usersOf(app, map[string]queuev1alpha1.UserRole{"admin": queuev1alpha1.RoleReadWrite})
	if _, err := p.Reconcile(ctx, app, users); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(b.Addr)
	b.Close()
	_, err := p.Reconcile(ctx, app, users)
	if err == nil || !strings.Contains(err.Error(), b.Addr) {
		t.Fatalf("with Kafka down: %v, want an error naming %s", err, b.Addr)
	}
	n, _ := strconv.Atoi(port)
	restarted, err := embeddedkafka.StartBroker(embeddedkafka.BrokerOptions{Port: n, DataDir: dir, AdminPassword: b.AdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(restarted.Close)
	b = restarted
	app.Spec.Topics[1].Partitions = 2
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := p.Reconcile(ctx, app, users)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Kafka is back but reconciling fails: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if readBack(t, b).partitions["team-a.shop.events"] != 2 {
		t.Fatal("the edit made while Kafka was down did not land")
	}
}
