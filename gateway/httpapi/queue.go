package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"qaas.dev/qaas/gateway/kafka"
)

// Queue mode: GET /topic/{topic}?mode=queue&group=G hands out records of a
// Kafka share group (KIP-932), each with a receipt; the broker locks them
// for the client until POST /topic/{topic}/ack?group=G gives each its
// outcome: accept (done), release (deliver again now) or reject (never
// again). A record not acknowledged before its lock runs out is delivered
// again, its delivery count one higher; past the group's delivery limit
// Kafka archives it.
//
// The broker keeps every record's state, so any replica serves any GET.
// An acknowledgement, though, must come from the group member that the
// record was handed to (Kafka checks it), which lives on the replica that
// served the GET: a receipt names that replica's peer address, sealed as
// commit tokens are, and any replica forwards an ack there. If that
// replica is gone, Kafka has given its records back already (its
// connections closed), and the ack answers that the receipt expired.

const (
	// LockedUntilHeader says until when a queue-mode answer's records are
	// locked for the client.
	LockedUntilHeader = "Kafka-Locked-Until"
	// defaultQueueWait is how long a queue-mode GET without ?timeout=
	// waits for records: long enough for a new member to join the group.
	defaultQueueWait = 2 * time.Second
	// ackTimeoutPerHolder bounds acknowledging on one replica.
	ackTimeoutPerHolder = 15 * time.Second
)

// Results of one acknowledgement.
const (
	ackDone    = "acknowledged"
	ackExpired = "expired"
	ackFailed  = "failed"
)

var (
	outcomes     = map[string]kafka.Outcome{"accept": kafka.Accept, "release": kafka.Release, "reject": kafka.Reject}
	outcomeNames = map[kafka.Outcome]string{kafka.Accept: "accept", kafka.Release: "release", kafka.Reject: "reject"}
)

// receipt is what a receipt seals besides its holder: the record, whose
// it is, and the group member and batch it was handed out in.
type receipt struct {
	user, topic, group string
	member, batch      uint64
	partition          int32
	offset             int64
}

// receiptPrefix keeps receipts and commit tokens apart: both are sealed
// with the same key.
const receiptPrefix = "queue"

// String is the receipt's sealed text, its fields apart by NUL, which no
// field holds: logins refuse control characters, and names, numbers.
func (rc receipt) String() string {
	return strings.Join([]string{receiptPrefix, rc.user, rc.topic, rc.group, strconv.FormatUint(rc.member, 10),
		strconv.FormatUint(rc.batch, 10), strconv.Itoa(int(rc.partition)), strconv.FormatInt(rc.offset, 10)}, "\x00")
}

func parseReceipt(s string) (receipt, bool) {
	f := strings.Split(s, "\x00")
	if len(f) != 8 || f[0] != receiptPrefix {
		return receipt{}, false
	}
	member, err1 := strconv.ParseUint(f[4], 10, 64)
	batch, err2 := strconv.ParseUint(f[5], 10, 64)
	partition, err3 := strconv.ParseInt(f[6], 10, 32)
	offset, err4 := strconv.ParseInt(f[7], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return receipt{}, false
	}
	return receipt{user: f[1], topic: f[2], group: f[3], member: member, batch: batch, partition: int32(partition), offset: offset}, true
}

// queueConsume answers a GET with ?mode=queue.
func (s *server) queueConsume(w http.ResponseWriter, r *http.Request, user *kafka.User, topic string, p consumeParams) error {
	wait := p.timeout
	if wait == 0 {
		wait = defaultQueueWait
	}
	b, err := user.QueueFetch(r.Context(), topic, user.Name+"."+p.group, p.limit, wait)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, 256*len(b.Records)+2)
	buf = append(buf, '[')
	var e consumedEncoder
	for i, rec := range b.Records {
		if i > 0 {
			buf = append(buf, ',')
		}
		m := rec.Message
		if rec.DeliveryCount > 1 {
			s.metrics.queueRedelivered.Inc()
		}
		buf = e.append(buf, m, p.base64Values)
		// The object is open again for the fields of queue mode.
		buf = append(buf[:len(buf)-1], `,"DeliveryCount":`...)
		buf = strconv.AppendInt(buf, int64(rec.DeliveryCount), 10)
		buf = append(buf, `,"Receipt":"`...)
		buf = append(buf, s.tokens.seal(s.self(), receipt{user: user.Name, topic: topic, group: p.group, member: b.Member, batch: b.Batch, partition: m.Partition, offset: m.Offset}.String())...)
		buf = append(buf, `"}`...)
	}
	buf = append(buf, "]\n"...)
	h := w.Header()
	h["Content-Type"] = jsonContentType
	if len(b.Records) > 0 {
		h.Set(LockedUntilHeader, b.Records[0].LockedUntil.UTC().Format(time.RFC3339Nano))
	}
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf)
	if err == nil {
		err = http.NewResponseController(w).Flush()
	}
	if err != nil && len(b.Records) > 0 {
		// Nobody holds receipts for these: they go to other consumers
		// now rather than when their lock runs out.
		acks := make([]kafka.QueueAck, len(b.Records))
		for i, rec := range b.Records {
			acks[i] = kafka.QueueAck{Partition: rec.Message.Partition, Offset: rec.Message.Offset, Outcome: kafka.Release}
		}
		ctx, cancel := context.WithTimeout(context.Background(), ackTimeoutPerHolder)
		defer cancel()
		user.QueueAck(ctx, topic, user.Name+"."+p.group, b.Member, b.Batch, acks)
		return nil
	}
	s.metrics.consumed.Add(float64(len(b.Records)))
	return nil
}

// ackRequest is one element of POST /topic/{topic}/ack's body.
type ackRequest struct {
	Receipt string
	// Outcome is accept (the default), release or reject.
	Outcome string
}

// ackResult is one element of its answer, in the request's order.
type ackResult struct {
	Result  string
	Message string `json:",omitempty"`
}

// ackBody bounds the body of an acknowledgement: MaxLimit receipts.
const ackBody = MaxLimit * 512

// ack handles POST /topic/{topic}/ack?group=G.
func (s *server) ack(w http.ResponseWriter, r *http.Request) error {
	topic, group, err := topicAndGroup(r)
	if err != nil {
		return err
	}
	user, err := s.authenticate(r)
	if err != nil {
		return err
	}
	defer s.Pool.Release(user)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, ackBody))
	if err != nil {
		return tooLarge(fmt.Sprintf("an acknowledgement body holds at most %d receipts (%d bytes)", MaxLimit, ackBody))
	}
	const shape = `the body must be a JSON array of {"Receipt": "<a Receipt of a GET with mode=queue>", "Outcome": "accept" | "release" | "reject"}`
	var reqs []ackRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&reqs); err != nil || dec.More() || len(reqs) == 0 {
		return badRequest(shape)
	}
	if len(reqs) > MaxLimit {
		return tooLarge(fmt.Sprintf("an acknowledgement holds at most %d receipts", MaxLimit))
	}
	// Every receipt is checked before any is acknowledged: a bad one
	// leaves them all unacknowledged.
	type holderAcks struct {
		index []int
		recs  []receipt
		acks  []kafka.QueueAck
	}
	byHolder := map[string]*holderAcks{}
	for i, a := range reqs {
		outcome := kafka.Accept
		if a.Outcome != "" {
			var ok bool
			if outcome, ok = outcomes[a.Outcome]; !ok {
				return badRequest(fmt.Sprintf("outcome %q (receipt %d) is not one of accept, release, reject", a.Outcome, i+1))
			}
		}
		holder, sealed, ok := s.tokens.open(a.Receipt)
		rc, isReceipt := parseReceipt(sealed)
		if !ok || !isReceipt {
			return badRequest(fmt.Sprintf("receipt %d is not a receipt this application handed out", i+1))
		}
		if rc.user != user.Name || rc.topic != topic || rc.group != group {
			return badRequest(fmt.Sprintf("receipt %d was not handed out to this user for group %s of topic %s", i+1, group, topic))
		}
		h := byHolder[holder]
		if h == nil {
			h = &holderAcks{}
			byHolder[holder] = h
		}
		h.index = append(h.index, i)
		h.recs = append(h.recs, rc)
		h.acks = append(h.acks, kafka.QueueAck{Partition: rc.partition, Offset: rc.offset, Outcome: outcome})
	}
	results := make([]ackResult, len(reqs))
	for holder, h := range byHolder {
		var res []ackResult
		if holder == s.self() {
			res = s.ackHere(r.Context(), user, topic, group, h.recs, h.acks)
		} else {
			res = s.Peers.queueAck(r.Context(), holder, r.Header.Get("Authorization"), topic, group, h.recs, h.acks)
		}
		for j, i := range h.index {
			results[i] = res[j]
		}
	}
	return writeJSON(w, http.StatusOK, results)
}

// ackHere acknowledges records that members of this replica hold.
func (s *server) ackHere(ctx context.Context, user *kafka.User, topic, group string, recs []receipt, acks []kafka.QueueAck) []ackResult {
	ctx, cancel := context.WithTimeout(ctx, ackTimeoutPerHolder)
	defer cancel()
	results := make([]ackResult, len(acks))
	// A request's receipts may come from several GETs: one call per batch.
	type batchKey struct{ member, batch uint64 }
	byBatch := map[batchKey][]int{}
	for i, rc := range recs {
		k := batchKey{rc.member, rc.batch}
		byBatch[k] = append(byBatch[k], i)
	}
	for k, idx := range byBatch {
		batchAcks := make([]kafka.QueueAck, len(idx))
		for j, i := range idx {
			batchAcks[j] = acks[i]
		}
		errs := user.QueueAck(ctx, topic, user.Name+"."+group, k.member, k.batch, batchAcks)
		for j, i := range idx {
			results[i] = ackOutcome(errs[j])
			label := results[i].Result
			if label == ackDone {
				label = outcomeNames[acks[i].Outcome]
			}
			s.metrics.queueAcks.WithLabelValues(label).Inc()
		}
	}
	return results
}

func ackOutcome(err error) ackResult {
	var kafkaErr *kafka.Error
	switch {
	case err == nil:
		return ackResult{Result: ackDone}
	case errors.Is(err, kafka.ErrReceiptExpired):
		return ackResult{Result: ackExpired, Message: "the record's lock ran out or its holder is gone: it is delivered again"}
	case errors.As(err, &kafkaErr):
		return ackResult{Result: ackFailed, Message: kafkaErr.Message}
	}
	return ackResult{Result: ackFailed, Message: "the acknowledgement failed"}
}

// peerAck is one acknowledgement forwarded to the replica holding the
// record.
type peerAck struct {
	Member    uint64        `json:"member"`
	Batch     uint64        `json:"batch"`
	Partition int32         `json:"partition"`
	Offset    int64         `json:"offset"`
	Outcome   kafka.Outcome `json:"outcome"`
}

// queueAck has the replica at addr acknowledge records it holds for the
// client's group of topic. A replica that cannot be reached holds nothing
// any more: Kafka gave its records back when its connections closed.
func (p *Peers) queueAck(ctx context.Context, addr, auth, topic, group string, recs []receipt, acks []kafka.QueueAck) []ackResult {
	results := make([]ackResult, len(acks))
	for i := range results {
		results[i] = ackOutcome(kafka.ErrReceiptExpired)
	}
	if p == nil || addr == "" {
		return results
	}
	body := make([]peerAck, len(acks))
	for i, a := range acks {
		body[i] = peerAck{Member: recs[i].member, Batch: recs[i].batch, Partition: a.Partition, Offset: a.Offset, Outcome: a.Outcome}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return results
	}
	ctx, cancel := context.WithTimeout(ctx, ackTimeoutPerHolder)
	defer cancel()
	resp, err := p.call(ctx, http.MethodPost, addr, auth, "/peer/v1/queue/"+topic+"/ack", url.Values{"group": {group}}, bytes.NewReader(raw))
	if err != nil {
		if !errors.Is(err, syscall.ECONNREFUSED) {
			// The holder may be alive and still hold the records.
			for i := range results {
				results[i] = ackResult{Result: ackFailed, Message: "the gateway replica holding the record did not answer: retry until Kafka-Locked-Until"}
			}
		}
		return results
	}
	defer resp.Body.Close()
	var answered []ackResult
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&answered) != nil || len(answered) != len(acks) {
		for i := range results {
			results[i] = ackResult{Result: ackFailed, Message: fmt.Sprintf("the gateway replica holding the record answered %d", resp.StatusCode)}
		}
		return results
	}
	return answered
}

// peerQueueAck serves acknowledgements forwarded by another replica.
func (s *server) peerQueueAck(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	group, err := parseGroup(r.URL.Query().Get("group"))
	if err == nil {
		err = validTopic(topic)
	}
	var body []peerAck
	if err == nil && json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body) != nil {
		err = badRequest("the body must be a JSON array of acknowledgements")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	user, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer s.Pool.Release(user)
	recs := make([]receipt, len(body))
	acks := make([]kafka.QueueAck, len(body))
	for i, a := range body {
		if outcomeNames[a.Outcome] == "" {
			s.writeError(w, r, badRequest("an acknowledgement's outcome must be accept, release or reject"))
			return
		}
		recs[i] = receipt{user: user.Name, topic: topic, group: group, member: a.Member, batch: a.Batch, partition: a.Partition, offset: a.Offset}
		acks[i] = kafka.QueueAck{Partition: a.Partition, Offset: a.Offset, Outcome: a.Outcome}
	}
	_ = writeJSON(w, http.StatusOK, s.ackHere(r.Context(), user, topic, group, recs, acks))
}
