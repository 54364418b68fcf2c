// Package credentialsdir is the layout of a gateway's credentials
// directory: the tenant's credentials Secret, which the operator writes
// and mounts into the gateway's pods, one file per key. Both sides name
// the files through it.
package credentialsdir

import "strings"

const (
	usernameSuffix = ".username"
	passwordSuffix = ".password"

	// PeerToken holds the secret the gateway replicas of an app share to
	// forward consumes to each other.
	PeerToken = "peer-token"
	// KafkaCA holds the CA that signs the Kafka brokers' certificates.
	KafkaCA = "kafka-ca.crt"
)

// UsernameKey holds the Kafka username of the app's user named user.
func UsernameKey(user string) string { return user + usernameSuffix }

// PasswordKey holds the password of the app's user named user.
func PasswordKey(user string) string { return user + passwordSuffix }

// UserOf is the user whose username key is key; ok is false for any other
// key.
func UserOf(key string) (user string, ok bool) {
	return strings.CutSuffix(key, usernameSuffix)
}
