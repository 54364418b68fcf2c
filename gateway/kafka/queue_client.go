package kafka

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"qaas.dev/qaas/internal/kafkaconn"
)

// Queue mode runs on Kafka share groups (KIP-932). sarama, which the rest
// of the gateway uses, has no share-group client; franz-go's kgo has one,
// so this path, and only this one, speaks Kafka through kgo.

// QueueSettings are the share-group configs the gateway gives each queue
// group before its first fetch (the QueueApp's spec.queue); zero leaves
// the broker's default.
type QueueSettings struct {
	LockDuration  time.Duration
	DeliveryLimit int
}

// queueFetchWait is how long one share fetch waits at the broker for
// records; a GET's own wait is made of as many as fit.
const queueFetchWait = 500 * time.Millisecond

// queueConnIdle is how long a share group member's idle connections stay
// open.
const queueConnIdle = 11 * time.Minute

// saslMechanism is the user's login as kgo takes it.
func saslMechanism(mechanism, user, password string) sasl.Mechanism {
	switch mechanism {
	case kafkaconn.ScramSHA512:
		return scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
	case kafkaconn.ScramSHA256:
		return scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
	}
	return plain.Auth{User: user, Pass: password}.AsMechanism()
}

// queueClientOptions are a kgo client's options that log in as user.
func (o Options) queueClientOptions(user, password string) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.ClientID(clientID),
		kgo.SASL(saslMechanism(o.Mechanism, user, password)),
		kgo.DialTimeout(5 * time.Second),
		kgo.RequestTimeoutOverhead(10 * time.Second),
		kgo.RequestRetries(2),
		kgo.RetryTimeout(10 * time.Second),
	}
	if o.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(o.TLS.Clone()))
	}
	return opts
}

// shareMemberOptions are the options of one share group member that takes
// at most limit records per fetch: never more than a GET hands out, so
// none waits in the client, locked, for a request that may not come.
func (o Options) shareMemberOptions(user, password, topic, groupID string, limit int, onAck func(*kgo.Client, kgo.ShareAckResults)) []kgo.Opt {
	return append(o.queueClientOptions(user, password),
		kgo.ConsumeTopics(topic),
		kgo.ShareGroup(groupID),
		kgo.ShareMaxRecords(int32(limit)),
		kgo.ShareMaxRecordsStrict(),
		kgo.ShareAckCallback(onAck),
		kgo.FetchMaxWait(queueFetchWait),
		// A member holding a batch sends nothing on its fetch connection
		// until the batch is settled, and the broker gives back what a
		// closed connection held: idle connections live longer than the
		// longest lock the gateway takes (config.MaxQueueLock).
		kgo.ConnIdleTimeout(queueConnIdle),
		// A fetch holds at most one message's worth beyond its first
		// record (see queueMemberBytes).
		kgo.FetchMaxBytes(int32(o.fetchUnit())),
		kgo.FetchMaxPartitionBytes(int32(o.fetchUnit())),
	)
}

// queueMemberBytes is what one share group member may hold: a fetch
// response and the records decoded from it.
func (o Options) queueMemberBytes() int64 { return 2 * o.fetchUnit() }

// ErrGroupModeConflict says a group is used in the other mode: a classic
// consumer group asked for in queue mode, or a share group as a classic one.
var ErrGroupModeConflict = errors.New("group used in the other mode")

// prepareShareGroup checks that groupID is not a classic consumer group,
// then gives it the settings: Kafka fixes a group's type at its first use,
// and a share group reads from its oldest record only if told so before
// its first fetch.
func prepareShareGroup(ctx context.Context, cl *kgo.Client, groupID string, s QueueSettings) error {
	describe := kmsg.NewPtrDescribeGroupsRequest()
	describe.Groups = []string{groupID}
	resp, err := describe.RequestWith(ctx, cl)
	if err != nil {
		return queueError(err, groupID)
	}
	for _, g := range resp.Groups {
		if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
			if errors.Is(err, kerr.GroupIDNotFound) {
				continue // no classic group of that name
			}
			return queueError(err, groupID)
		}
		if g.State != "" && g.State != "Dead" {
			return newError(KindConflict, ErrGroupModeConflict, "group %s is a classic consumer group; queue mode needs a group of its own", groupID)
		}
	}

	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType = kmsg.ConfigResourceTypeGroupConfig
	res.ResourceName = groupID
	set := func(name, value string) {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = name, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(value)
		res.Configs = append(res.Configs, c)
	}
	// A new queue starts at its oldest record, as a new classic group
	// does, so that POST then GET returns what was posted.
	set("share.auto.offset.reset", "earliest")
	if s.LockDuration > 0 {
		set("share.record.lock.duration.ms", strconv.FormatInt(s.LockDuration.Milliseconds(), 10))
	}
	if s.DeliveryLimit > 0 {
		set("share.delivery.count.limit", strconv.Itoa(s.DeliveryLimit))
	}
	alter.Resources = append(alter.Resources, res)
	aresp, err := alter.RequestWith(ctx, cl)
	if err != nil {
		return queueError(err, groupID)
	}
	for _, r := range aresp.Resources {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			return queueError(err, groupID)
		}
	}
	return nil
}

// queueError classifies an error of the share-group path as Classify does
// sarama's.
func queueError(err error, groupID string) *Error {
	var classified *Error
	switch {
	case errors.As(err, &classified):
		return classified
	case errors.Is(err, kerr.GroupAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed):
		return newError(KindForbidden, err, "not authorized for queue group %s", groupID)
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return newError(KindForbidden, err, "not authorized for the topic of queue group %s", groupID)
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.UnknownTopicID):
		return newError(KindNotFound, err, "the topic of queue group %s does not exist", groupID)
	case errors.Is(err, kerr.InvalidConfig), errors.Is(err, kerr.InvalidRequest):
		return newError(KindInternal, err, "Kafka refused the queue settings of group %s (spec.queue): %v", groupID, err)
	case errors.Is(err, kerr.UnsupportedVersion):
		return newError(KindInternal, err, "this Kafka cluster does not serve share groups (queue mode needs Kafka 4.2 or later)")
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return newError(KindUnauthenticated, err, "Kafka refused the username and password")
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return newError(KindUnavailable, err, "Kafka is unavailable: %s", ke.Message)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return newError(KindUnavailable, err, "Kafka is unavailable: timed out")
	}
	return newError(KindUnavailable, err, "Kafka is unavailable: request failed")
}
