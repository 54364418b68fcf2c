package v1alpha1

// Kafka names of a QueueApp. Neither a namespace nor a DNS label holds a
// dot, so no two applications' prefixes overlap.

// KafkaPrefix is the prefix of every Kafka topic, user and consumer group
// of the application: "<namespace>.<name>.".
func (a *QueueApp) KafkaPrefix() string { return a.Namespace + "." + a.Name + "." }

// KafkaTopicName is the Kafka name of the application's topic.
func (a *QueueApp) KafkaTopicName(topic string) string { return a.KafkaPrefix() + topic }

// KafkaUserName is the Kafka (and HTTP) username of the application's user.
func (a *QueueApp) KafkaUserName(user string) string { return a.KafkaPrefix() + user }
