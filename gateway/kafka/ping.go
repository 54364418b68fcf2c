package kafka

import (
	"errors"
	"time"

	"github.com/IBM/sarama"
)

// Ping checks that a Kafka broker answers, without logging in: the
// ApiVersions request is served before authentication. It tries each
// bootstrap server until one answers.
func Ping(opts Options) error {
	cfg := opts.NewConfig(clientID)
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Net.ReadTimeout = 2 * time.Second
	cfg.Net.WriteTimeout = 2 * time.Second
	var errs []error
	for _, addr := range opts.Brokers {
		b := sarama.NewBroker(addr)
		if err := b.Open(cfg); err != nil {
			errs = append(errs, err)
			continue
		}
		_, err := b.ApiVersions(&sarama.ApiVersionsRequest{})
		_ = b.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return Classify(errors.Join(errs...), "ping")
}
