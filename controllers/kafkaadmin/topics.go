package kafkaadmin

import (
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/IBM/sarama"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// reconcileTopics creates missing topics, adds partitions and sets config.
// It never removes partitions (Kafka cannot): such a spec is a problem to
// report. It returns the Kafka names of the spec's topics that exist.
func (p *Provisioner) reconcileTopics(a sarama.ClusterAdmin, app *queuev1alpha1.QueueApp) (existing, problems []string, err error) {
	if len(app.Spec.Topics) == 0 {
		return nil, nil, nil
	}
	names := make([]string, len(app.Spec.Topics))
	for i, t := range app.Spec.Topics {
		names[i] = app.KafkaTopicName(t.Name)
	}
	described, err := a.DescribeTopics(names)
	if err != nil {
		return nil, nil, fmt.Errorf("describing topics: %s", describe(err))
	}
	partitions := map[string]int{}
	for _, md := range described {
		switch {
		case errors.Is(md.Err, sarama.ErrNoError):
			partitions[md.Name] = len(md.Partitions)
		case !errors.Is(md.Err, sarama.ErrUnknownTopicOrPartition):
			return nil, nil, fmt.Errorf("describing topic %s: %s", md.Name, describe(md.Err))
		}
	}
	configs, err := topicConfigs(a, partitions)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range app.Spec.Topics {
		name := app.KafkaTopicName(t.Name)
		have, found := partitions[name]
		switch {
		case !found:
			err := p.createTopic(a, name, t)
			if refusedSpec(err) {
				problems = append(problems, fmt.Sprintf("Kafka refused topic %s: %s", t.Name, describe(err)))
				continue
			}
			if err != nil {
				return nil, nil, err
			}
		case have < int(t.Partitions):
			if err := a.CreatePartitions(name, t.Partitions, nil, false); refusedSpec(err) {
				problems = append(problems, fmt.Sprintf("Kafka refused %d partitions for topic %s: %s", t.Partitions, t.Name, describe(err)))
			} else if err != nil {
				return nil, nil, fmt.Errorf("adding partitions to topic %s: %s", name, describe(err))
			}
		case have > int(t.Partitions):
			problems = append(problems, fmt.Sprintf(
				"topic %s has %d partitions and Kafka cannot remove partitions: set partitions to %d or more", t.Name, have, have))
		}
		if found {
			err := setTopicConfig(a, name, configs[name], t.Config)
			if refusedSpec(err) {
				problems = append(problems, fmt.Sprintf("Kafka refused the config of topic %s: %s", t.Name, describe(err)))
			} else if err != nil {
				return nil, nil, err
			}
		}
		existing = append(existing, name)
	}
	return existing, problems, nil
}

func (p *Provisioner) createTopic(a sarama.ClusterAdmin, name string, t queuev1alpha1.TopicSpec) error {
	rf := p.cfg.DefaultReplicationFactor
	if t.ReplicationFactor != nil {
		rf = int16(*t.ReplicationFactor)
	}
	err := a.CreateTopic(name, &sarama.TopicDetail{NumPartitions: t.Partitions, ReplicationFactor: rf, ConfigEntries: configEntries(t.Config)}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", name, err)
	}
	return nil
}

// refusedSpec says whether Kafka refused a value of the spec, which no
// retry changes, rather than failing to answer.
func refusedSpec(err error) bool {
	for _, kerr := range []sarama.KError{sarama.ErrInvalidConfig, sarama.ErrInvalidReplicationFactor, sarama.ErrInvalidPartitions,
		sarama.ErrInvalidReplicaAssignment, sarama.ErrPolicyViolation, sarama.ErrInvalidTopic} {
		if errors.Is(err, kerr) {
			return true
		}
	}
	return false
}

// topicConfigs reads the topics' own configuration (not the brokers'
// defaults), in one request.
func topicConfigs(a sarama.ClusterAdmin, topics map[string]int) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	if len(topics) == 0 {
		return out, nil
	}
	var resources []*sarama.ConfigResource
	for name := range topics {
		resources = append(resources, &sarama.ConfigResource{Type: sarama.TopicResource, Name: name})
	}
	results, err := a.DescribeConfigs(resources, sarama.DescribeConfigsOptions{})
	if err != nil {
		return nil, fmt.Errorf("describing the configuration of topics: %s", describe(err))
	}
	for _, r := range results {
		if !errors.Is(r.ErrorCode, sarama.ErrNoError) {
			return nil, fmt.Errorf("describing the configuration of topic %s: %s", r.Name, describe(r.ErrorCode))
		}
		have := map[string]string{}
		for _, e := range r.Configs {
			if e.Source == sarama.SourceTopic {
				have[e.Name] = e.Value
			}
		}
		out[r.Name] = have
	}
	return out, nil
}

// setTopicConfig makes the topic's own configuration exactly want, writing
// only when it differs.
func setTopicConfig(a sarama.ClusterAdmin, name string, have, want map[string]string) error {
	if maps.Equal(have, want) || (len(have) == 0 && len(want) == 0) {
		return nil
	}
	// AlterConfigs replaces the topic's whole configuration: keys left
	// out of the spec go back to the brokers' defaults.
	if err := a.AlterConfig(sarama.TopicResource, name, configEntries(want), false); err != nil {
		return fmt.Errorf("configuring topic %s (%s): %w", name, strings.Join(sortedKeys(want), ", "), err)
	}
	return nil
}

func configEntries(config map[string]string) map[string]*string {
	out := make(map[string]*string, len(config))
	for k, v := range config {
		out[k] = &v
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// deleteTopics deletes every topic with app's prefix, those that left the
// spec earlier included.
func deleteTopics(a sarama.ClusterAdmin, app *queuev1alpha1.QueueApp) error {
	topics, err := a.ListTopics()
	if err != nil {
		return fmt.Errorf("listing topics: %s", describe(err))
	}
	return deleteWithPrefix("topic", app.KafkaPrefix(), maps.Keys(topics), a.DeleteTopic, sarama.ErrUnknownTopicOrPartition)
}
