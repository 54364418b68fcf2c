package server_test

import (
	"crypto/rand"
	"net/http"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/internal/embeddedkafka"
)

func TestSCRAMSHA256AndPLAINLogins(t *testing.T) {
	const plainUser = "team-a.app.plain"
	plainPassword := rand.Text()
	tb := startBroker(t, embeddedkafka.BrokerOptions{PlainUsers: map[string]string{plainUser: plainPassword}})
	tb.passwords[plainUser] = plainPassword
	if err := tb.Provision(embeddedkafka.Tenant{Prefix: "team-a.app.", Users: []embeddedkafka.TenantUser{
		{Name: plainUser, Password: plainPassword, Role: queuev1alpha1.RoleReadWrite},
	}}); err != nil {
		t.Fatal(err)
	}
	admin, err := tb.Admin()
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte(rand.Text())
	_, err = admin.UpsertUserScramCredentials([]sarama.AlterUserScramCredentialsUpsert{{
		Name: userA, Mechanism: sarama.SCRAM_MECHANISM_SHA_256, Iterations: 4096, Salt: salt, Password: []byte(tb.passwords[userA]),
	}})
	admin.Close()
	if err != nil {
		t.Fatal(err)
	}

	for mechanism, user := range map[string]string{"SCRAM-SHA-256": userA, "PLAIN": plainUser} {
		t.Run(mechanism, func(t *testing.T) {
			gw := startGateway(t, tb, "--kafka-sasl-mechanism", mechanism)
			group := "?group=" + strings.ToLower(strings.ReplaceAll(mechanism, "-", ""))
			expectStatus(t, gw.post(t, user, tb.passwords[user], "/topic/"+topicA, `[{"Value":"`+mechanism+`"}]`), http.StatusOK)
			got := values(decode[[]message](t, gw.get(t, user, tb.passwords[user], "/topic/"+topicA+group+"&limit=1000")))
			if len(got) == 0 || got[len(got)-1] != mechanism {
				t.Fatalf("got %q", got)
			}
			expectStatus(t, gw.get(t, user, "wrong", "/topic/"+topicA), http.StatusUnauthorized)
		})
	}
}
