package kafkaadmin

import (
	"fmt"
	"strings"

	"github.com/IBM/sarama"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/internal/kafkaacl"
)

// desiredACLs are the users' rights by the tenants' policy, all on the
// app's prefix.
func desiredACLs(users []User) map[kafkaacl.ACL]bool {
	out := map[kafkaacl.ACL]bool{}
	for _, u := range users {
		for _, acl := range kafkaacl.ForUser(u.Name, u.Role) {
			out[acl] = true
		}
	}
	return out
}

// prefixFilter matches every ACL on the app's prefix.
func prefixFilter(app *queuev1alpha1.QueueApp) sarama.AclFilter {
	prefix := app.KafkaPrefix()
	return sarama.AclFilter{
		ResourceType:              sarama.AclResourceAny,
		ResourceName:              &prefix,
		ResourcePatternTypeFilter: sarama.AclPatternPrefixed,
		Operation:                 sarama.AclOperationAny,
		PermissionType:            sarama.AclPermissionAny,
	}
}

// listACLs returns the ACLs on app's prefix and the users they name.
func listACLs(a sarama.ClusterAdmin, app *queuev1alpha1.QueueApp) ([]sarama.ResourceAcls, []string, error) {
	current, err := a.ListAcls(prefixFilter(app))
	if err != nil {
		return nil, nil, fmt.Errorf("listing ACLs on %s: %s", app.KafkaPrefix(), describe(err))
	}
	var users []string
	for _, ra := range current {
		for _, acl := range ra.Acls {
			if name, ok := strings.CutPrefix(acl.Principal, kafkaacl.Principal("")); ok {
				users = append(users, name)
			}
		}
	}
	return current, users, nil
}

// reconcileACLs creates the missing ACLs and deletes those on the prefix
// that no user should have.
func reconcileACLs(a sarama.ClusterAdmin, app *queuev1alpha1.QueueApp, users []User, current []sarama.ResourceAcls) error {
	want := desiredACLs(users)
	have := map[kafkaacl.ACL]bool{}
	for _, ra := range current {
		for _, acl := range ra.Acls {
			key := kafkaacl.ACL{Principal: acl.Principal, Resource: ra.ResourceType, Operation: acl.Operation}
			if want[key] && acl.PermissionType == sarama.AclPermissionAllow && acl.Host == "*" {
				have[key] = true
				continue
			}
			if err := deleteACL(a, app, ra.ResourceType, acl); err != nil {
				return err
			}
		}
	}
	var create []*sarama.ResourceAcls
	for key := range want {
		if have[key] {
			continue
		}
		create = append(create, key.On(app.KafkaPrefix()))
	}
	if len(create) > 0 {
		if err := a.CreateACLs(create); err != nil {
			return fmt.Errorf("creating ACLs on %s: %s", app.KafkaPrefix(), describe(err))
		}
	}
	return nil
}

func deleteACL(a sarama.ClusterAdmin, app *queuev1alpha1.QueueApp, resource sarama.AclResourceType, acl *sarama.Acl) error {
	filter := prefixFilter(app)
	filter.ResourceType = resource
	filter.Principal = &acl.Principal
	filter.Host = &acl.Host
	filter.Operation = acl.Operation
	filter.PermissionType = acl.PermissionType
	if _, err := a.DeleteACL(filter, false); err != nil {
		return fmt.Errorf("deleting a stale ACL of %s on %s: %s", acl.Principal, app.KafkaPrefix(), describe(err))
	}
	return nil
}

// deleteACLs removes every ACL on the app's prefix.
func deleteACLs(a sarama.ClusterAdmin, app *queuev1alpha1.QueueApp) error {
	if _, err := a.DeleteACL(prefixFilter(app), false); err != nil {
		return fmt.Errorf("deleting the ACLs on %s: %s", app.KafkaPrefix(), describe(err))
	}
	return nil
}
