package kafka

import (
	"time"

	"github.com/IBM/sarama"

	"qaas.dev/qaas/internal/kafkaconn"
)

// Options are the settings every user's Kafka client shares.
type Options struct {
	// Connection is how the clients reach the cluster.
	kafkaconn.Connection
	// MaxMessageBytes bounds one record; the producer refuses larger ones
	// before they reach Kafka.
	MaxMessageBytes int
	// PeerAddress is where the other gateway replicas reach this one to
	// forward consumes (see ownerStrategy); empty when it has no peers.
	PeerAddress string
	// Queue are the settings of the share groups of queue mode.
	Queue QueueSettings
}

// clientID names the gateway's clients in the brokers' logs and quotas.
const clientID = "qaas-gateway"

// recordOverhead covers a record's framing beyond its key, value and
// headers.
const recordOverhead = 1024

// clientConfig is the part of a sarama configuration that logs in as user.
func (o Options) clientConfig(user, password string) *sarama.Config {
	c := o.Config(clientID, user, password)
	// A failed metadata refresh must reach the HTTP client quickly as a
	// 503 instead of holding its request through long retries.
	c.Metadata.Retry.Max = 2
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	c.Metadata.Timeout = 10 * time.Second
	// Only the user's own topics are visible to it (ACLs), so a full
	// refresh stays small, and it checks the login when the client starts.
	c.Metadata.Full = true
	c.Metadata.AllowAutoTopicCreation = false
	return c
}

// producerConfig is the configuration of a user's shared producer client.
func (o Options) producerConfig(user, password string) *sarama.Config {
	c := o.clientConfig(user, password)
	// Acknowledge a message to the HTTP client only once every in-sync
	// replica has it, and let retries never duplicate or reorder it.
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	c.Producer.Retry.Max = 5
	c.Producer.Retry.Backoff = 200 * time.Millisecond
	c.Producer.Timeout = 10 * time.Second
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	// The HTTP layer bounds key + value + headers by MaxMessageBytes; the
	// record's framing comes on top.
	c.Producer.MaxMessageBytes = o.MaxMessageBytes + recordOverhead
	c.Producer.Partitioner = newRequestPartitioner
	// Messages of concurrent requests share batches: while one produce
	// request is in flight, the next batch fills up.
	c.Producer.Flush.MaxMessages = 0
	return c
}

const (
	// groupSessionTimeout is how long Kafka keeps a member that stopped
	// without leaving (a crashed replica) in its group.
	groupSessionTimeout = 10 * time.Second
	// groupRebalanceTimeout is how long a rebalance waits for the members
	// to rejoin.
	groupRebalanceTimeout = 15 * time.Second
)

// consumerConfig is the configuration of one consumer group member's client.
func (o Options) consumerConfig(user, password string) *sarama.Config {
	c := o.clientConfig(user, password)
	c.Metadata.Full = false
	// A new group starts at the oldest message, so POST then GET returns
	// what was posted.
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	// Offsets are marked when a message goes into a response. Marked
	// offsets are committed after each response, every second, on
	// rebalance and on close.
	c.Consumer.Offsets.AutoCommit.Enable = true
	c.Consumer.Offsets.AutoCommit.Interval = time.Second
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 250 * time.Millisecond
	// What a member holds is bounded (see memberBytes): sarama does not
	// read ahead, and a fetch response holds one batch's worth in all; the
	// member's own buffer is where messages wait for requests.
	c.ChannelBufferSize = 0
	c.Consumer.Fetch.Default = int32(o.fetchUnit())
	c.Consumer.Fetch.Max = int32(o.fetchUnit())
	c.Consumer.Fetch.MaxBytes = int32(o.fetchUnit())
	// A replica that dies without leaving (SIGKILL, node loss) keeps its
	// group's partitions until its session times out; the heartbeat is how
	// soon a member learns of a rebalance (a replica joining to forward).
	c.Consumer.Group.Session.Timeout = groupSessionTimeout
	c.Consumer.Group.Heartbeat.Interval = time.Second
	c.Consumer.Group.Rebalance.Timeout = groupRebalanceTimeout
	// Kafka holds a JoinGroup until every member rejoined or the rebalance
	// timeout passed: a read timeout shorter than that would call a
	// rebalance a Kafka outage.
	c.Net.ReadTimeout = groupRebalanceTimeout + 5*time.Second
	return c
}
