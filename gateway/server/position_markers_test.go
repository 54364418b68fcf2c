package server_test

import (
	"net/http"
	"testing"

	"github.com/IBM/sarama"

	"qaas.dev/qaas/gateway/httpapi"
)

// A partition whose end is a transaction's commit marker, which no read
// returns: reading from the message before it gives the message and a next
// offset below Kafka-High-Watermark; reading from there gives nothing, and
// a next offset past the marker, so that a client paging on reaches the
// end instead of asking for the marker forever.
func TestAReadFromAPositionGetsPastTransactionMarkers(t *testing.T) {
	tb := startBroker(t, embeddedDefaults())
	produceInTransaction(t, tb, topicA, "in a transaction")
	rs := startReplicas(t, tb, 1)
	gw, pass := rs.replicas[0], tb.passwords[userA]

	msgs, next := readAt(t, rs, gw, userA, pass, topicA, 0, "earliest", "&limit=10")
	if len(msgs) != 1 || *msgs[0].Value != "in a transaction" || next != 1 {
		t.Fatalf("from earliest: %v, next %d; want the message, next 1", values(msgs), next)
	}
	r, err := rs.callOn(gw, http.MethodGet, "/topic/"+topicA+"?partition=0&offset=1", userA, pass, "")
	if err != nil || r.status != http.StatusOK || string(r.body) != "[]\n" {
		t.Fatalf("from the marker: %v %d %s, want []", err, r.status, r.body)
	}
	if got, end := r.header.Get(httpapi.NextOffsetHeader), r.header.Get(httpapi.HighWatermarkHeader); got != "2" || end != "2" {
		t.Fatalf("from the marker: next %s, end %s; want both 2, past the marker", got, end)
	}
}

// produceInTransaction writes value to partition 0 of topic in a committed
// transaction, as the superuser: the partition then holds the message and
// the commit marker after it.
func produceInTransaction(t *testing.T, tb *testBroker, topic, value string) {
	t.Helper()
	client, err := tb.Client()
	if err != nil {
		t.Fatal(err)
	}
	cfg := *client.Config()
	client.Close()
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Transaction.ID = "qaas-test-transaction"
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Net.MaxOpenRequests = 1
	producer, err := sarama.NewSyncProducer([]string{tb.Addr}, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if err := producer.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(value)}); err != nil {
		t.Fatal(err)
	}
	if err := producer.CommitTxn(); err != nil {
		t.Fatal(err)
	}
}
