// Package kafkaadmin provisions QueueApps' tenants in Kafka with sarama's
// ClusterAdmin, logged in as the platform's admin user: topics, SCRAM users
// and ACLs prefixed on the tenant's prefix.
package kafkaadmin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/internal/kafkaconn"
)

// User is one of a QueueApp's users as Kafka knows it.
type User struct {
	// Name is the Kafka username, "<namespace>.<app>.<user>".
	Name     string
	Password string
	Role     queuev1alpha1.UserRole
}

// Config is how the operator reaches Kafka as its admin.
type Config struct {
	// Kafka is the cluster. Its mechanism is SCRAM-SHA-512 or
	// SCRAM-SHA-256: the admin logs in with it and tenants' users are
	// given credentials for it.
	Kafka kafkaconn.Connection
	// AdminCredentials returns the admin's username and password. It is
	// called for every new connection, so a rotated Secret is picked up.
	AdminCredentials func(ctx context.Context) (user, password string, err error)
	// DefaultReplicationFactor applies to topics that set none; -1 leaves
	// it to the brokers' default.replication.factor.
	DefaultReplicationFactor int16
}

// SpecError is a spec Kafka cannot follow, such as fewer partitions than a
// topic has. Waiting does not help; an edit does.
type SpecError struct{ Problems []string }

func (e *SpecError) Error() string { return strings.Join(e.Problems, "; ") }

// Provisioner converges Kafka on QueueApps.
type Provisioner struct {
	cfg Config

	// mu serialises admin operations on the one connection.
	mu    sync.Mutex
	admin sarama.ClusterAdmin
	// adminUser is the admin's name, never given to a tenant.
	adminUser string
	// applied remembers the fingerprint of each password this process
	// gave Kafka, so that unchanged passwords are not written again (Kafka
	// cannot be asked whether a password matches).
	applied map[string][32]byte
}

// New returns a Provisioner; it connects on first use.
func New(cfg Config) (*Provisioner, error) {
	switch cfg.Kafka.Mechanism {
	case kafkaconn.ScramSHA512, kafkaconn.ScramSHA256:
	default:
		return nil, fmt.Errorf("provisioning Kafka users needs SCRAM-SHA-512 or SCRAM-SHA-256, not %q", cfg.Kafka.Mechanism)
	}
	return &Provisioner{cfg: cfg, applied: map[string][32]byte{}}, nil
}

// Reconcile converges Kafka on app: its topics (created, grown, configured),
// its users (credentials upserted when new or changed, removed when gone
// from the spec) and their ACLs. It returns the Kafka names of the topics
// that exist. A *SpecError says what of the spec Kafka refused; the rest is
// converged all the same.
func (p *Provisioner) Reconcile(ctx context.Context, app *queuev1alpha1.QueueApp, users []User) ([]string, error) {
	var topics []string
	var problems []string
	err := p.withAdmin(ctx, func(a sarama.ClusterAdmin) error {
		var err error
		if topics, problems, err = p.reconcileTopics(a, app); err != nil {
			return err
		}
		acls, aclUsers, err := listACLs(a, app)
		if err != nil {
			return err
		}
		if err := p.reconcileUsers(a, app, users, aclUsers); err != nil {
			return err
		}
		return reconcileACLs(a, app, users, acls)
	})
	var refused *SpecError
	if errors.As(err, &refused) {
		// Not a connection failure: keep the connection.
		problems = append(problems, refused.Problems...)
		err = nil
	}
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return topics, &SpecError{Problems: problems}
	}
	return topics, nil
}

// Delete removes app's users and ACLs, and its consumer groups and topics when its
// deletionPolicy is Delete. users names the app's users as the spec has
// them (its defaults included); users found in the ACLs go too.
func (p *Provisioner) Delete(ctx context.Context, app *queuev1alpha1.QueueApp, users []string) error {
	return p.withAdmin(ctx, func(a sarama.ClusterAdmin) error {
		_, aclUsers, err := listACLs(a, app)
		if err != nil {
			return err
		}
		if err := p.deleteUsers(a, app, append(aclUsers, users...)); err != nil {
			return err
		}
		if err := deleteACLs(a, app); err != nil {
			return err
		}
		if app.Spec.DeletionPolicy != queuev1alpha1.DeletionDelete {
			return nil
		}
		if err := deleteGroups(a, app); err != nil {
			return err
		}
		return deleteTopics(a, app)
	})
}

// withAdmin runs fn with a connected admin client; after a failure the
// connection is dropped, and the next call connects afresh.
func (p *Provisioner) withAdmin(ctx context.Context, fn func(sarama.ClusterAdmin) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.admin == nil {
		admin, err := p.connect(ctx)
		if err != nil {
			return err
		}
		p.admin = admin
	}
	err := fn(p.admin)
	var refused *SpecError
	if err != nil && !errors.As(err, &refused) {
		_ = p.admin.Close()
		p.admin = nil
	}
	return err
}

func (p *Provisioner) connect(ctx context.Context) (sarama.ClusterAdmin, error) {
	user, password, err := p.cfg.AdminCredentials(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the Kafka admin credentials: %w", err)
	}
	c := p.cfg.Kafka.Config("qaas-operator", user, password)
	// A reconcile reports a failure and retries later rather than waiting
	// on sarama's retries.
	c.Metadata.Retry.Max = 1
	c.Admin.Retry.Max = 1
	c.Admin.Timeout = 15 * time.Second
	admin, err := sarama.NewClusterAdmin(p.cfg.Kafka.Brokers, c)
	if err != nil {
		return nil, fmt.Errorf("connecting to Kafka at %s: %s", strings.Join(p.cfg.Kafka.Brokers, ","), describe(err))
	}
	p.adminUser = user
	return admin, nil
}

// describe names a Kafka failure in a sentence without secrets.
func describe(err error) string {
	var kerr sarama.KError
	switch {
	case errors.As(err, &kerr):
		return kerr.Error()
	case errors.Is(err, sarama.ErrOutOfBrokers):
		return "no broker reachable (" + err.Error() + ")"
	}
	return err.Error()
}
