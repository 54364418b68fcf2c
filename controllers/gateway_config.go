package controllers

import (
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/utils/ptr"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/gateway/config"
	"qaas.dev/qaas/internal/credentialsdir"
)

// gatewayConfig is how an app's gateway runs in its pods. The Deployment
// carries it as its Args, rendered by the gateway's own config package, so
// every flag is one the gateway defines.
func gatewayConfig(app *queuev1alpha1.QueueApp, settings Settings) *config.Config {
	cfg := config.Default()
	// Plain HTTP: TLS ends at the Ingress.
	cfg.ListenAddress = ":" + strconv.Itoa(gatewayPort)
	cfg.ShutdownTimeout = shutdownSeconds * time.Second
	cfg.CredentialsDir = credentialsMountPath
	cfg.PeerListenAddress = ":" + strconv.Itoa(peerPort)
	// The kubelet expands $(POD_IP) from the container's environment.
	cfg.PeerAdvertiseHost = "$(" + podIPEnv + ")"
	cfg.PeerTokenFile = path.Join(credentialsMountPath, credentialsdir.PeerToken)
	cfg.Kafka = settings.Kafka.Settings
	// The operator's CA file is not in the pod: the credentials Secret
	// carries the CA.
	cfg.Kafka.CAFile = ""
	if len(settings.Kafka.CAPEM) > 0 {
		cfg.Kafka.CAFile = path.Join(credentialsMountPath, credentialsdir.KafkaCA)
	}
	// Kafka names group configs by group id, and queue groups come into
	// being at first use: the gateway sets these on each one it opens.
	if q := app.Spec.Queue; q != nil {
		if q.LockDuration != nil {
			cfg.QueueLockDuration = q.LockDuration.Duration
		}
		cfg.QueueDeliveryLimit = int(ptr.Deref(q.DeliveryLimit, 0))
	}
	return &cfg
}

// LocalGatewayArgs turns a gateway pod's arguments into those of a gateway
// run as a local process (the demo, tests): the credentials Secret's keys
// are files in credentialsDir, the API listens on listen and the peer API
// on a free loopback port, which it advertises. It fails when the gateway
// refuses the pod's arguments.
func LocalGatewayArgs(podArgs []string, credentialsDir, listen string) ([]string, error) {
	cfg, err := config.Parse(podArgs, func(string) string { return "" }, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("the gateway refuses its pod's arguments %q: %w", podArgs, err)
	}
	inCredentialsDir := func(p string) string {
		if rel, ok := strings.CutPrefix(p, credentialsMountPath+"/"); ok {
			return filepath.Join(credentialsDir, rel)
		}
		return p
	}
	cfg.ListenAddress = listen
	cfg.CredentialsDir = credentialsDir
	cfg.PeerTokenFile = inCredentialsDir(cfg.PeerTokenFile)
	cfg.Kafka.CAFile = inCredentialsDir(cfg.Kafka.CAFile)
	if cfg.PeerListenAddress != "" {
		cfg.PeerListenAddress = "127.0.0.1:0"
		cfg.PeerAdvertiseHost = ""
	}
	return cfg.Args(), nil
}
