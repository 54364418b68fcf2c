package kafkaadmin

import (
	"errors"
	"fmt"
	"strings"

	"github.com/IBM/sarama"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// deleteGroups removes the tenant's consumer groups (the gateways name them
// "<prefix><user>.<group>") with their committed offsets. The gateway pods
// are gone by then, so the groups have no members; a group that still has
// some fails the deletion, which is retried.
func deleteGroups(a sarama.ClusterAdmin, app *queuev1alpha1.QueueApp) error {
	groups, err := a.ListConsumerGroups()
	if err != nil {
		return fmt.Errorf("listing consumer groups: %s", describe(err))
	}
	for name := range groups {
		if !strings.HasPrefix(name, app.KafkaPrefix()) {
			continue
		}
		if err := a.DeleteConsumerGroup(name); err != nil && !errors.Is(err, sarama.ErrGroupIDNotFound) {
			return fmt.Errorf("deleting consumer group %s: %s", name, describe(err))
		}
	}
	return nil
}
