package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"qaas.dev/qaas/internal/embeddedkafka"
	"qaas.dev/qaas/internal/kafkaconn"
)

// BenchmarkProduceVersusSarama measures, in the same run and against the
// same broker (kfake, SASL/SCRAM and ACLs on), how many messages per second
// a native sarama producer and the gateway over HTTPS get acknowledged
// (acks=all, idempotent, as the gateway produces), and reports their
// ratio. `make bench` runs it.
func BenchmarkProduceVersusSarama(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			tb := startBroker(b, embeddedkafka.BrokerOptions{})
			gw := startGateway(b, tb, "--log-level", "error")
			pass := tb.passwords[userA]
			value := strings.Repeat("x", 100)

			producer := nativeProducer(b, tb.Addr, pass)
			defer producer.Close()
			msgs := make([]*sarama.ProducerMessage, batch)
			var body bytes.Buffer
			body.WriteString("[")
			for i := range msgs {
				msgs[i] = &sarama.ProducerMessage{Topic: topicA3, Value: sarama.StringEncoder(value)}
				if i > 0 {
					body.WriteString(",")
				}
				fmt.Fprintf(&body, `{"Value":%q}`, value)
			}
			body.WriteString("]")

			var native, gateway time.Duration
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				if err := producer.SendMessages(msgs); err != nil {
					b.Fatal(err)
				}
				native += time.Since(start)
				start = time.Now()
				req, _ := http.NewRequest(http.MethodPost, gw.URL+"/topic/"+topicA3, bytes.NewReader(body.Bytes()))
				req.SetBasicAuth(userA, pass)
				resp, err := gw.client.Do(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("produce: %v %v", resp, err)
				}
				resp.Body.Close()
				gateway += time.Since(start)
			}
			total := float64(b.N * batch)
			b.ReportMetric(total/native.Seconds(), "native-msgs/s")
			b.ReportMetric(total/gateway.Seconds(), "gateway-msgs/s")
			b.ReportMetric(native.Seconds()/gateway.Seconds(), "gateway/native")
		})
	}
}

func nativeProducer(b *testing.B, addr, password string) sarama.SyncProducer {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Return.Successes = true
	kafkaconn.Login(cfg, kafkaconn.ScramSHA512, userA, password)
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return p
}
