package embeddedkafka

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/IBM/sarama"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/internal/kafkaacl"
)

// Tenant is one application's share of the cluster: every topic and group
// it may touch starts with Prefix.
type Tenant struct {
	// Prefix is "<namespace>.<app>.".
	Prefix string
	// Topics maps full topic names to their partition counts.
	Topics map[string]int32
	Users  []TenantUser
}

// TenantUser is a SCRAM-SHA-512 user of a tenant.
type TenantUser struct {
	Name     string
	Password string
	Role     queuev1alpha1.UserRole
}

// scramIterations is Kafka's minimum and kafka-configs' default. kfake
// also announces 4096 to clients whatever a user was stored with, so no
// other count can log in to it.
const scramIterations = 4096

// Provision creates the tenant's topics (keeping existing ones), upserts its
// users and grants them the operator's ACL policy on the tenant's prefix.
func (b *Broker) Provision(t Tenant) error {
	admin, err := b.Admin()
	if err != nil {
		return err
	}
	defer admin.Close()
	for name, partitions := range t.Topics {
		err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", name, err)
		}
	}
	var acls []*sarama.ResourceAcls
	for _, u := range t.Users {
		salt := make([]byte, 32)
		_, _ = rand.Read(salt)
		results, err := admin.UpsertUserScramCredentials([]sarama.AlterUserScramCredentialsUpsert{{
			Name: u.Name, Mechanism: sarama.SCRAM_MECHANISM_SHA_512, Iterations: scramIterations, Salt: salt, Password: []byte(u.Password),
		}})
		if err != nil {
			return fmt.Errorf("creating user %s: %w", u.Name, err)
		}
		for _, r := range results {
			if r.ErrorCode != sarama.ErrNoError {
				return fmt.Errorf("creating user %s: %w", u.Name, r.ErrorCode)
			}
		}
		for _, acl := range kafkaacl.ForUser(u.Name, u.Role) {
			acls = append(acls, acl.On(t.Prefix))
		}
	}
	if err := admin.CreateACLs(acls); err != nil {
		return fmt.Errorf("granting ACLs on %s: %w", t.Prefix, err)
	}
	return nil
}
