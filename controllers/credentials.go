package controllers

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/internal/credentialsdir"
)

// Keys of the credentials Secret for its readers, besides those the gateway
// reads (credentialsdir: the users, the peer token, the Kafka CA).
const (
	// KeyURL holds the endpoint's URL.
	KeyURL = "url"
	// KeyEndpointCA holds the endpoint's CA when its certificate is
	// self-signed, for clients to trust (CURL_CA_BUNDLE).
	KeyEndpointCA = "ca.crt"
	// topicKeySuffix ends "<topic>.topic" keys holding Kafka topic names.
	// Topic and user names hold no dot, so no key of a topic is a key of
	// a user ("<user>.username", "<user>.password").
	topicKeySuffix = ".topic"
)

// newPassword makes a password with 130 bits from crypto/rand.
func newPassword() string { return rand.Text() }

// buildCredentialsSecret returns the desired credentials Secret. Passwords
// already in existing (nil when there is none) are kept; users without one
// get a new one from generate.
func buildCredentialsSecret(app *queuev1alpha1.QueueApp, settings Settings, url string, endpointCA []byte,
	existing *corev1.Secret, generate func() string) *corev1.Secret {
	data := map[string][]byte{KeyURL: []byte(url)}
	// The peer token is made once and kept.
	data[credentialsdir.PeerToken] = []byte(generate())
	if existing != nil && len(existing.Data[credentialsdir.PeerToken]) > 0 {
		data[credentialsdir.PeerToken] = existing.Data[credentialsdir.PeerToken]
	}
	for _, u := range usersOf(app) {
		password := ""
		if existing != nil {
			password = string(existing.Data[credentialsdir.PasswordKey(u.Name)])
		}
		if password == "" {
			password = generate()
		}
		data[credentialsdir.UsernameKey(u.Name)] = []byte(app.KafkaUserName(u.Name))
		data[credentialsdir.PasswordKey(u.Name)] = []byte(password)
	}
	for _, t := range app.Spec.Topics {
		data[t.Name+topicKeySuffix] = []byte(app.KafkaTopicName(t.Name))
	}
	if len(endpointCA) > 0 {
		data[KeyEndpointCA] = endpointCA
	}
	if len(settings.Kafka.CAPEM) > 0 {
		data[credentialsdir.KafkaCA] = settings.Kafka.CAPEM
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: CredentialsSecretName(app), Namespace: app.Namespace, Labels: childLabels(app)},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// dataHash fingerprints a Secret's data, so that a changed Secret rolls
// the pods that mount it.
func dataHash(data map[string][]byte) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write(data[k])
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
