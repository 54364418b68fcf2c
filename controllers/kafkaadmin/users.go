package kafkaadmin

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/IBM/sarama"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
)

// scramIterations is Kafka's minimum and kafka-configs' default.
const scramIterations = 4096

// errResourceNotFound is Kafka's RESOURCE_NOT_FOUND, which sarama does not
// name: removing a user that is already gone.
const errResourceNotFound = sarama.KError(91)

func (p *Provisioner) scramMechanism() sarama.ScramMechanismType {
	if p.cfg.Kafka.Mechanism == sarama.SASLTypeSCRAMSHA256 {
		return sarama.SCRAM_MECHANISM_SHA_256
	}
	return sarama.SCRAM_MECHANISM_SHA_512
}

// scramUsers says which of names have a credential for the mechanism.
// (Users are asked for by name: listing all users is not portable, as
// brokers differ on what an empty request means.)
func (p *Provisioner) scramUsers(a sarama.ClusterAdmin, names []string) (map[string]bool, error) {
	users := map[string]bool{}
	if len(names) == 0 {
		return users, nil
	}
	results, err := a.DescribeUserScramCredentials(names)
	if err != nil {
		return nil, fmt.Errorf("describing SCRAM users: %s", describe(err))
	}
	for _, r := range results {
		if !errors.Is(r.ErrorCode, sarama.ErrNoError) {
			continue
		}
		for _, info := range r.CredentialInfos {
			if info.Mechanism == p.scramMechanism() {
				users[r.User] = true
			}
		}
	}
	return users, nil
}

func fingerprint(user, password string) [32]byte {
	return sha256.Sum256([]byte(user + "\x00" + password))
}

// reconcileUsers upserts the credentials of users that Kafka lacks or whose
// password changed, and removes the app's users that left the spec: those
// known from the ACLs on the app's prefix (every user the operator makes
// has some) and from this process's memory.
func (p *Provisioner) reconcileUsers(a sarama.ClusterAdmin, app *queuev1alpha1.QueueApp, users []User, aclUsers []string) error {
	want := map[string]bool{}
	names := []string{}
	for _, u := range users {
		want[u.Name] = true
		names = append(names, u.Name)
	}
	for _, n := range p.tenantUsers(app, aclUsers) {
		if !want[n] {
			names = append(names, n)
		}
	}
	existing, err := p.scramUsers(a, names)
	if err != nil {
		return err
	}
	var upserts []sarama.AlterUserScramCredentialsUpsert
	for _, u := range users {
		if u.Name == p.adminUser {
			return &SpecError{Problems: []string{fmt.Sprintf("user %s is the operator's Kafka admin and cannot be a tenant's", u.Name)}}
		}
		if existing[u.Name] && p.applied[u.Name] == fingerprint(u.Name, u.Password) {
			continue
		}
		salt := make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return err
		}
		upserts = append(upserts, sarama.AlterUserScramCredentialsUpsert{
			Name: u.Name, Mechanism: p.scramMechanism(), Iterations: scramIterations, Salt: salt, Password: []byte(u.Password),
		})
	}
	if len(upserts) > 0 {
		results, err := a.UpsertUserScramCredentials(upserts)
		if err := firstUserError("setting the credentials of", results, err); err != nil {
			return err
		}
		for _, u := range users {
			p.applied[u.Name] = fingerprint(u.Name, u.Password)
		}
	}
	var gone []string
	for name := range existing {
		if !want[name] {
			gone = append(gone, name)
		}
	}
	return p.removeUsers(a, gone)
}

// tenantUsers are the users with app's prefix among known (and those this
// process provisioned), each once: Kafka refuses a name asked for twice.
func (p *Provisioner) tenantUsers(app *queuev1alpha1.QueueApp, known []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if strings.HasPrefix(n, app.KafkaPrefix()) && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, n := range known {
		add(n)
	}
	for n := range p.applied {
		add(n)
	}
	return out
}

// deleteUsers removes every known user of app.
func (p *Provisioner) deleteUsers(a sarama.ClusterAdmin, app *queuev1alpha1.QueueApp, known []string) error {
	return p.removeUsers(a, p.tenantUsers(app, known))
}

// removeUsers removes the credentials of names for either SCRAM mechanism
// (the platform may have switched).
func (p *Provisioner) removeUsers(a sarama.ClusterAdmin, names []string) error {
	if len(names) == 0 {
		return nil
	}
	var deletes []sarama.AlterUserScramCredentialsDelete
	for _, n := range names {
		for _, m := range []sarama.ScramMechanismType{sarama.SCRAM_MECHANISM_SHA_256, sarama.SCRAM_MECHANISM_SHA_512} {
			deletes = append(deletes, sarama.AlterUserScramCredentialsDelete{Name: n, Mechanism: m})
		}
	}
	results, err := a.DeleteUserScramCredentials(deletes)
	if err := firstUserError("removing", results, err); err != nil {
		return err
	}
	for _, n := range names {
		delete(p.applied, n)
	}
	return nil
}

func firstUserError(doing string, results []*sarama.AlterUserScramCredentialsResult, err error) error {
	if err != nil {
		return fmt.Errorf("%s SCRAM users: %s", doing, describe(err))
	}
	for _, r := range results {
		if !errors.Is(r.ErrorCode, sarama.ErrNoError) && !errors.Is(r.ErrorCode, errResourceNotFound) {
			return fmt.Errorf("%s user %s: %s", doing, r.User, r.ErrorCode.Error())
		}
	}
	return nil
}
