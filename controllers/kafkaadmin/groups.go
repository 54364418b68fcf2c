package kafkaadmin

import (
	"errors"
	"fmt"
	"iter"
	"maps"
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
	return deleteWithPrefix("consumer group", app.KafkaPrefix(), maps.Keys(groups), a.DeleteConsumerGroup, sarama.ErrGroupIDNotFound)
}

// deleteWithPrefix deletes, with del, each of names that starts with
// prefix; one already gone (the error gone) is not a failure.
func deleteWithPrefix(kind, prefix string, names iter.Seq[string], del func(string) error, gone error) error {
	for name := range names {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		if err := del(name); err != nil && !errors.Is(err, gone) {
			return fmt.Errorf("deleting %s %s: %s", kind, name, describe(err))
		}
	}
	return nil
}
