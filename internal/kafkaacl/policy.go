// Package kafkaacl is the ACL policy of tenants' Kafka users: what a user
// of each role may do on its tenant's prefix. The operator grants it, and
// the in-process broker of the demos and tests grants the very same, so
// that they exercise the isolation production has.
package kafkaacl

import (
	"github.com/IBM/sarama"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// ACL is one right of a user, on every resource of its type whose name
// starts with the tenant's prefix, allowed from any host.
type ACL struct {
	Principal string
	Resource  sarama.AclResourceType
	Operation sarama.AclOperation
}

// Principal is how Kafka names user in ACLs.
func Principal(user string) string { return "User:" + user }

// ForUser are the rights of user with role: read = Describe and Read on
// the topics, and Read, AlterConfigs and DescribeConfigs on the groups;
// readwrite adds Write on the topics. The group configs are for queue
// mode: Kafka keeps a share group's settings (spec.queue) as configs of
// that group, which the gateway sets, logged in as the user, on each queue
// group it opens; both roles consume. Nothing at cluster level, so no
// tenant sees beyond its prefix.
func ForUser(user string, role queuev1alpha1.UserRole) []ACL {
	p := Principal(user)
	acls := []ACL{
		{p, sarama.AclResourceTopic, sarama.AclOperationDescribe},
		{p, sarama.AclResourceTopic, sarama.AclOperationRead},
		{p, sarama.AclResourceGroup, sarama.AclOperationRead},
		{p, sarama.AclResourceGroup, sarama.AclOperationAlterConfigs},
		{p, sarama.AclResourceGroup, sarama.AclOperationDescribeConfigs},
	}
	if role == queuev1alpha1.RoleReadWrite {
		acls = append(acls, ACL{p, sarama.AclResourceTopic, sarama.AclOperationWrite})
	}
	return acls
}

// On is a as Kafka's admin API creates it, prefixed on prefix.
func (a ACL) On(prefix string) *sarama.ResourceAcls {
	return &sarama.ResourceAcls{
		Resource: sarama.Resource{ResourceType: a.Resource, ResourceName: prefix, ResourcePatternType: sarama.AclPatternPrefixed},
		Acls:     []*sarama.Acl{{Principal: a.Principal, Host: "*", Operation: a.Operation, PermissionType: sarama.AclPermissionAllow}},
	}
}
