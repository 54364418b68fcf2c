package embedded

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// Role is what a tenant's user may do on the tenant's topics.
type Role string

const (
	// RoleRead may describe and read the tenant's topics and use its groups.
	RoleRead Role = "read"
	// RoleReadWrite may also write to the tenant's topics.
	RoleReadWrite Role = "readwrite"
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
	Role     Role
}

// scramIterations is Kafka's minimum and kafka-configs' default. kfake
// also announces 4096 to clients whatever a user was stored with, so no
// other count can log in to it.
const scramIterations = 4096

// Provision creates the tenant's topics (keeping existing ones), upserts its
// users and grants them ACLs prefixed on the tenant's prefix.
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
		acls = append(acls, userACLs(t.Prefix, u)...)
	}
	if err := admin.CreateACLs(acls); err != nil {
		return fmt.Errorf("granting ACLs on %s: %w", t.Prefix, err)
	}
	return nil
}

// userACLs are the prefixed ACLs of one user: read = Describe+Read on the
// topics and Read on the groups; readwrite adds Write on the topics.
func userACLs(prefix string, u TenantUser) []*sarama.ResourceAcls {
	allow := func(op sarama.AclOperation) *sarama.Acl {
		return &sarama.Acl{Principal: "User:" + u.Name, Host: "*", Operation: op, PermissionType: sarama.AclPermissionAllow}
	}
	topicOps := []*sarama.Acl{allow(sarama.AclOperationDescribe), allow(sarama.AclOperationRead)}
	if u.Role == RoleReadWrite {
		topicOps = append(topicOps, allow(sarama.AclOperationWrite))
	}
	return []*sarama.ResourceAcls{
		{Resource: sarama.Resource{ResourceType: sarama.AclResourceTopic, ResourceName: prefix, ResourcePatternType: sarama.AclPatternPrefixed}, Acls: topicOps},
		{Resource: sarama.Resource{ResourceType: sarama.AclResourceGroup, ResourceName: prefix, ResourcePatternType: sarama.AclPatternPrefixed}, Acls: []*sarama.Acl{allow(sarama.AclOperationRead)}},
	}
}
