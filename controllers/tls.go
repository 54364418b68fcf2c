package controllers

import (
	"crypto/x509"
	"encoding/pem"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/internal/selfsigned"
)

// Where an endpoint's certificate comes from: the reasons of TLSReady.
const (
	TLSFromSecret      = "ExistingSecret"
	TLSFromCertManager = "CertManager"
	TLSSelfSigned      = "SelfSigned"
)

// tlsSource is the resolved origin of an endpoint's certificate.
type tlsSource struct {
	// reason is one of TLSFromSecret, TLSFromCertManager, TLSSelfSigned.
	reason string
	// secretName is the kubernetes.io/tls Secret the Ingress serves.
	secretName string
	// issuer is set for TLSFromCertManager.
	issuer Issuer
}

// resolveTLS picks the certificate source: the QueueApp's own choice, else
// the operator's default issuer, else a self-signed certificate.
func resolveTLS(app *queuev1alpha1.QueueApp, settings Settings) tlsSource {
	if t := app.Spec.Ingress.TLS; t != nil {
		if t.SecretName != "" {
			return tlsSource{reason: TLSFromSecret, secretName: t.SecretName}
		}
		if t.IssuerRef != nil {
			kind := t.IssuerRef.Kind
			if kind == "" {
				kind = "ClusterIssuer"
			}
			return tlsSource{reason: TLSFromCertManager, secretName: IssuedTLSSecretName(app), issuer: Issuer{Kind: kind, Name: t.IssuerRef.Name}}
		}
	}
	if settings.DefaultIssuer.Name != "" {
		return tlsSource{reason: TLSFromCertManager, secretName: IssuedTLSSecretName(app), issuer: settings.DefaultIssuer}
	}
	return tlsSource{reason: TLSSelfSigned, secretName: SelfSignedTLSSecretName(app)}
}

// renewBefore is how long before expiry a self-signed certificate is
// replaced.
const renewBefore = 30 * 24 * time.Hour

// buildSelfSignedSecret returns the Secret of a self-signed certificate
// for host: existing (nil when there is none) if its certificate is still
// good for host, else a new one.
func buildSelfSignedSecret(app *queuev1alpha1.QueueApp, host string, existing *corev1.Secret, now time.Time) (*corev1.Secret, error) {
	if existing != nil && certificateFits(existing.Data[corev1.TLSCertKey], host, now) && len(existing.Data[corev1.TLSPrivateKeyKey]) > 0 {
		return secretForCertificate(app, existing.Data[corev1.TLSCertKey], existing.Data[corev1.TLSPrivateKeyKey]), nil
	}
	cert, err := selfsigned.New(host)
	if err != nil {
		return nil, err
	}
	return secretForCertificate(app, cert.CertPEM, cert.KeyPEM), nil
}

func secretForCertificate(app *queuev1alpha1.QueueApp, certPEM, keyPEM []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SelfSignedTLSSecretName(app), Namespace: app.Namespace, Labels: childLabels(app)},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       certPEM,
			corev1.TLSPrivateKeyKey: keyPEM,
			// The certificate is its own CA.
			corev1.ServiceAccountRootCAKey: certPEM,
		},
	}
}

// certificateFits says whether certPEM is valid for host until well after
// now.
func certificateFits(certPEM []byte, host string, now time.Time) bool {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false
	}
	return cert.VerifyHostname(host) == nil && now.Add(renewBefore).Before(cert.NotAfter)
}
