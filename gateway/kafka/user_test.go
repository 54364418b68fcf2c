package kafka

import (
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/internal/embeddedkafka"
	"qaas.dev/qaas/internal/kafkaconn"
)

// A user's requests share sarama's one connection per broker, and sarama
// closes it whenever any of them meets a transport error (the producer
// does, and so does a metadata refresh). A request checking its topic at
// that moment must still get its answer, not "not connected": that was a
// 503 on the first requests of a freshly started gateway pod.
func TestCheckTopicSurvivesTheSharedConnectionClosing(t *testing.T) {
	broker, err := embeddedkafka.StartBroker(embeddedkafka.BrokerOptions{AdminPassword: rand.Text()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	password := rand.Text()
	err = broker.Provision(embeddedkafka.Tenant{
		Prefix: "team-a.app.",
		Topics: map[string]int32{"team-a.app.orders": 1},
		Users:  []embeddedkafka.TenantUser{{Name: "team-a.app.writer", Password: password, Role: queuev1alpha1.RoleReadWrite}},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Connection:      kafkaconn.Connection{Brokers: []string{broker.Addr}, Mechanism: kafkaconn.ScramSHA512, Version: sarama.V3_6_0_0},
		MaxMessageBytes: 1 << 20,
	}
	u, err := login(opts, Tuning{}, slog.New(slog.NewTextHandler(io.Discard, nil)), make(chan struct{}), "team-a.app.writer", password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.close)

	// Closes are spaced as they are in life (each follows some request's
	// failure); four clients check the topic without pause meanwhile.
	const closes = 20
	stop := make(chan struct{})
	errs := make(chan error, 1000)
	checks := 0
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := u.checkTopicWithKafka("team-a.app.orders"); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
				mu.Lock()
				checks++
				mu.Unlock()
			}
		})
	}
	for range closes {
		time.Sleep(20 * time.Millisecond)
		if b := u.client.LeastLoadedBroker(); b != nil {
			_ = b.Close()
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed == 0 {
			t.Errorf("checking the topic while the connection was closed under it: %v", err)
		}
		failed++
	}
	if failed > 0 {
		t.Errorf("%d of %d topic checks failed", failed, checks)
	}
}
