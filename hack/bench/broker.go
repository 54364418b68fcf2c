package main

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/internal/embeddedkafka"
)

// The bench tenant, named as the operator names a QueueApp "app" in the
// namespace "bench": one topic of three partitions, the default.
const (
	benchPrefix     = "bench.app."
	benchUser       = benchPrefix + "admin"
	benchTopic      = benchPrefix + "messages"
	benchPartitions = 3
)

// brokerInfo is what the broker process tells its parent, as one JSON line.
type brokerInfo struct {
	Addr     string `json:"addr"`
	User     string `json:"user"`
	Password string `json:"password"`
	Topic    string `json:"topic"`
}

// serveBroker is the -broker mode: an embedded broker with SASL/SCRAM and
// ACLs on, the bench tenant provisioned in it, running until stdin closes
// (the parent exited, however it exited).
func serveBroker(stdin io.Reader, stdout io.Writer) error {
	b, err := embeddedkafka.StartBroker(embeddedkafka.BrokerOptions{AdminPassword: rand.Text()})
	if err != nil {
		return err
	}
	defer b.Close()
	info := brokerInfo{Addr: b.Addr, User: benchUser, Password: rand.Text(), Topic: benchTopic}
	err = b.Provision(embeddedkafka.Tenant{
		Prefix: benchPrefix,
		Topics: map[string]int32{benchTopic: benchPartitions},
		Users:  []embeddedkafka.TenantUser{{Name: info.User, Password: info.Password, Role: queuev1alpha1.RoleReadWrite}},
	})
	if err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(info); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, stdin)
	return nil
}

// startBroker runs this program again with -broker, so the broker's CPU is
// not the gateway's nor the native clients', and reads where it listens.
func startBroker() (*process, brokerInfo, error) {
	var info brokerInfo
	self, err := os.Executable()
	if err != nil {
		return nil, info, err
	}
	cmd := command(self, "-broker")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, info, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, info, err
	}
	if err := cmd.Start(); err != nil {
		return nil, info, err
	}
	p := child("broker", cmd, func() { stdin.Close() })
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &info)
	}
	if err != nil {
		p.close()
		return nil, info, fmt.Errorf("the broker process did not say where it listens: %w", err)
	}
	return p, info, nil
}
