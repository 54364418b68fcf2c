// Package controllers holds the operator's reconciler: it turns a QueueApp
// into its Kafka tenant and its gateway (credentials Secret, Deployment,
// Service and Ingress with TLS).
package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/controllers/kafkaadmin"
	"qaas.dev/qaas/internal/credentialsdir"
)

// Finalizer holds a QueueApp until its Kafka users, ACLs (and topics, with
// deletionPolicy Delete) are gone.
const Finalizer = "queue.qaas.dev/finalizer"

// missingSecretRetry is how often a QueueApp waiting for a TLS Secret that
// does not exist yet looks again (the operator does not watch it).
const missingSecretRetry = time.Minute

// QueueAppReconciler reconciles QueueApps.
type QueueAppReconciler struct {
	client.Client
	// APIReader reads objects the cache does not hold (see CacheOptions).
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Settings  Settings
	// Kafka provisions tenants in Kafka; when nil, Kafka is left alone and
	// no KafkaReady condition is reported.
	Kafka KafkaProvisioner
	// MaxRetryDelay caps the backoff of failed passes (Kafka down, say),
	// so that recovery is noticed soon; 0 means defaultMaxRetryDelay.
	MaxRetryDelay time.Duration
}

// defaultMaxRetryDelay caps the retry backoff unless MaxRetryDelay is set.
const defaultMaxRetryDelay = time.Minute

// +kubebuilder:rbac:groups=queue.qaas.dev,resources=queueapps,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=queue.qaas.dev,resources=queueapps/status,verbs=get;patch
// +kubebuilder:rbac:groups=queue.qaas.dev,resources=queueapps/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets;services,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=list;watch

// Reconcile makes the world match one QueueApp, in one pass read top to
// bottom: finalizer, children, status.
func (r *QueueAppReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	// 1. The QueueApp. When it is gone, owner references remove its
	// children.
	app := &queuev1alpha1.QueueApp{}
	if err := r.Get(ctx, req.NamespacedName, app); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := app.DeepCopy()

	// 2. Deletion: stop the gateway, clean Kafka up, then release the
	// QueueApp.
	if !app.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, app, before)
	}
	if controllerutil.AddFinalizer(app, Finalizer) {
		if err := r.Update(ctx, app); err != nil {
			return ctrl.Result{}, err
		}
		before = app.DeepCopy()
	}

	// 3. The children, then 4. the status they show.
	result, err := r.reconcileChildren(ctx, app)
	if statusErr := r.patchStatus(ctx, before, app); statusErr != nil && err == nil {
		err = statusErr
	}
	if apierrors.IsConflict(err) {
		// Someone else wrote meanwhile; the next pass sees their write.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	return result, err
}

// reconcileChildren applies every child and records conditions on app.
func (r *QueueAppReconciler) reconcileChildren(ctx context.Context, app *queuev1alpha1.QueueApp) (ctrl.Result, error) {
	// 3a. What the spec means here. A spec the operator cannot act on
	// waits for an edit: no requeue.
	host, err := hostOf(app, r.Settings)
	if err == nil {
		err = checkPolicy(app, r.Settings, host)
	}
	if err != nil {
		r.invalidSpec(ctx, app, err)
		return ctrl.Result{}, nil
	}
	url := "https://" + host
	src := resolveTLS(app, r.Settings)
	result := ctrl.Result{}

	// 3b. The certificate.
	endpointCA, err := r.reconcileTLS(ctx, app, host, src)
	if err != nil {
		return r.failed(ctx, app, "TLSFailed", err)
	}
	if !isTrue(app, queuev1alpha1.ConditionTLSReady) {
		result.RequeueAfter = missingSecretRetry
	}

	// 3c. The credentials.
	creds, err := r.reconcileCredentials(ctx, app, url, endpointCA)
	if err != nil {
		return r.failed(ctx, app, "CredentialsFailed", err)
	}

	// 3d. Kafka: topics, users, ACLs. The gateway is applied even when
	// Kafka fails, and the failure is retried with backoff afterwards.
	kafkaErr := r.reconcileKafka(ctx, app, creds)

	// 3e. The gateway.
	for _, obj := range []client.Object{
		buildDeployment(app, r.Settings, dataHash(creds.Data)),
		buildService(app),
		buildIngress(app, r.Settings, host, src),
	} {
		if err := r.apply(ctx, app, obj); err != nil {
			return r.failed(ctx, app, "ApplyFailed", err)
		}
	}
	if err := r.reconcileDisruptionBudget(ctx, app); err != nil {
		return r.failed(ctx, app, "ApplyFailed", err)
	}

	// 4. Status from what the children show: Ready means a client can
	// connect, so it waits for the pods behind the Service and, where the
	// Ingress controller reports one, for the Ingress's address.
	settling, err := r.observeGateway(ctx, app)
	if err != nil {
		return r.failed(ctx, app, "GatewayUnknown", err)
	}
	if settling > 0 && (result.RequeueAfter == 0 || result.RequeueAfter > settling) {
		result.RequeueAfter = settling
	}
	if err := r.observeIngress(ctx, app, host); err != nil {
		return r.failed(ctx, app, "IngressUnknown", err)
	}
	app.Status.URL = url
	app.Status.CredentialsSecret = CredentialsSecretName(app)
	if kafkaErr != nil {
		return r.failed(ctx, app, "KafkaFailed", kafkaErr)
	}
	app.Status.ObservedGeneration = app.Generation
	setReady(app, r.Kafka != nil, r.Settings.RequireIngressAddress)
	return result, nil
}

// reconcileKafka provisions the tenant in Kafka and sets KafkaReady. It
// returns only failures worth retrying: a spec Kafka refuses waits for an
// edit.
func (r *QueueAppReconciler) reconcileKafka(ctx context.Context, app *queuev1alpha1.QueueApp, creds *corev1.Secret) error {
	if r.Kafka == nil {
		app.Status.Topics = specTopics(app)
		return nil
	}
	topics, err := r.Kafka.Reconcile(ctx, app, kafkaUsers(app, creds))
	var refused *kafkaadmin.SpecError
	switch {
	case errors.As(err, &refused):
		app.Status.Topics = topics
		setCondition(app, queuev1alpha1.ConditionKafkaReady, false, "SpecRefused", err.Error())
		r.Recorder.Eventf(app, nil, corev1.EventTypeWarning, "SpecRefused", "Reconcile", "%v", err)
		return nil
	case err != nil:
		setCondition(app, queuev1alpha1.ConditionKafkaReady, false, "KafkaUnavailable", err.Error())
		return err
	}
	app.Status.Topics = topics
	setCondition(app, queuev1alpha1.ConditionKafkaReady, true, "Provisioned",
		fmt.Sprintf("%d topics, %d users and their ACLs on %s match the spec", len(topics), len(usersOf(app)), app.KafkaPrefix()))
	return nil
}

// reconcileTLS provides the endpoint's certificate from src, returning the
// CA clients need when it is self-signed.
func (r *QueueAppReconciler) reconcileTLS(ctx context.Context, app *queuev1alpha1.QueueApp, host string, src tlsSource) ([]byte, error) {
	selfSigned := &corev1.Secret{}
	// Read from the API server, not the cache: a stale miss would replace
	// a certificate clients already trust.
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: SelfSignedTLSSecretName(app)}, selfSigned)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	exists := err == nil

	if src.reason == TLSSelfSigned {
		var existing *corev1.Secret
		if exists {
			existing = selfSigned
		}
		secret, err := buildSelfSignedSecret(app, host, existing, time.Now())
		if err != nil {
			return nil, err
		}
		if err := r.apply(ctx, app, secret); err != nil {
			return nil, err
		}
		setCondition(app, queuev1alpha1.ConditionTLSReady, true, TLSSelfSigned,
			"the endpoint serves a self-signed certificate made by the operator: clients trust it with ca.crt from Secret "+CredentialsSecretName(app))
		return secret.Data[corev1.TLSCertKey], nil
	}

	// Another source took over: the self-signed certificate goes.
	if exists && metav1.IsControlledBy(selfSigned, app) {
		if err := r.Delete(ctx, selfSigned); client.IgnoreNotFound(err) != nil {
			return nil, err
		}
	}
	if src.reason == TLSFromCertManager {
		setCondition(app, queuev1alpha1.ConditionTLSReady, true, TLSFromCertManager,
			fmt.Sprintf("cert-manager's %s %s issues the certificate into Secret %s", src.issuer.Kind, src.issuer.Name, src.secretName))
		return nil, nil
	}
	// The tenant's own Secret is not in the cache (it holds only the
	// operator's children): read it from the API server.
	provided := &corev1.Secret{}
	err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: src.secretName}, provided)
	switch {
	case apierrors.IsNotFound(err):
		setCondition(app, queuev1alpha1.ConditionTLSReady, false, "SecretNotFound",
			fmt.Sprintf("TLS Secret %s does not exist in namespace %s", src.secretName, app.Namespace))
		r.Recorder.Eventf(app, nil, corev1.EventTypeWarning, "SecretNotFound", "Reconcile", "TLS Secret %s does not exist", src.secretName)
	case err != nil:
		return nil, err
	case provided.Type != corev1.SecretTypeTLS:
		setCondition(app, queuev1alpha1.ConditionTLSReady, false, "SecretNotTLS",
			fmt.Sprintf("Secret %s has type %s, not %s", src.secretName, provided.Type, corev1.SecretTypeTLS))
	default:
		setCondition(app, queuev1alpha1.ConditionTLSReady, true, TLSFromSecret, "the endpoint serves the certificate of Secret "+src.secretName)
	}
	return nil, nil
}

// reconcileCredentials applies the credentials Secret, keeping existing
// passwords, and returns it.
func (r *QueueAppReconciler) reconcileCredentials(ctx context.Context, app *queuev1alpha1.QueueApp, url string, endpointCA []byte) (*corev1.Secret, error) {
	existing := &corev1.Secret{}
	// Read from the API server, not the cache: a stale miss would make new
	// passwords and lock out every client.
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: app.Namespace, Name: CredentialsSecretName(app)}, existing)
	switch {
	case apierrors.IsNotFound(err):
		existing = nil
	case err != nil:
		return nil, err
	}
	secret := buildCredentialsSecret(app, r.Settings, url, endpointCA, existing, newPassword)
	if err := r.apply(ctx, app, secret); err != nil {
		return nil, err
	}
	return secret, nil
}

// failed records a failure everywhere it is looked for: the log, a Warning
// event and the Ready condition. The error makes controller-runtime retry
// with backoff.
func (r *QueueAppReconciler) failed(ctx context.Context, app *queuev1alpha1.QueueApp, reason string, err error) (ctrl.Result, error) {
	logf.FromContext(ctx).Error(err, "reconcile failed", "reason", reason)
	r.Recorder.Eventf(app, nil, corev1.EventTypeWarning, reason, "Reconcile", "%v", err)
	setCondition(app, queuev1alpha1.ConditionReady, false, reason, err.Error())
	return ctrl.Result{}, err
}

// invalidSpec records a spec that needs an edit; nothing is retried until
// the QueueApp changes.
func (r *QueueAppReconciler) invalidSpec(ctx context.Context, app *queuev1alpha1.QueueApp, err error) {
	logf.FromContext(ctx).Info("invalid spec", "problem", err.Error())
	r.Recorder.Eventf(app, nil, corev1.EventTypeWarning, "InvalidSpec", "Reconcile", "%v", err)
	setCondition(app, queuev1alpha1.ConditionReady, false, "InvalidSpec", err.Error())
	app.Status.ObservedGeneration = app.Generation
}

// CacheOptions keep the manager's cache of Secrets to those the operator
// owns, and of EndpointSlices to its Services' (which carry their labels):
// caching every one of the cluster would cost memory, and hold secrets the
// operator has no use for.
func CacheOptions() cache.Options {
	ours := labels.SelectorFromSet(labels.Set{managedByLabel: managedBy})
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}:             {Label: ours},
		&discoveryv1.EndpointSlice{}: {Label: ours},
	}}
}

// queueAppOfSlice maps one of the operator's EndpointSlices to its
// QueueApp: the slice carries the gateway Service's labels.
func queueAppOfSlice(_ context.Context, slice client.Object) []reconcile.Request {
	name := slice.GetLabels()[instanceLabel]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: slice.GetNamespace(), Name: name}}}
}

// SetupWithManager registers the reconciler; children are watched, so a
// child edited or deleted by hand is put back.
func (r *QueueAppReconciler) SetupWithManager(mgr ctrl.Manager) error {
	maxDelay := r.MaxRetryDelay
	if maxDelay == 0 {
		maxDelay = defaultMaxRetryDelay
	}
	return ctrl.NewControllerManagedBy(mgr).
		WithOptions(controller.Options{
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, maxDelay),
		}).
		// The operator's own status writes are not a reason to look again.
		For(&queuev1alpha1.QueueApp{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Owns(&corev1.Secret{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&networkingv1.Ingress{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		// Pods ready behind the gateway's Service make it reachable.
		Watches(&discoveryv1.EndpointSlice{}, handler.EnqueueRequestsFromMapFunc(queueAppOfSlice)).
		Named("queueapp").
		Complete(r)
}

// kafkaUsers are app's users with the passwords of the credentials Secret.
func kafkaUsers(app *queuev1alpha1.QueueApp, creds *corev1.Secret) []kafkaadmin.User {
	var out []kafkaadmin.User
	for _, u := range usersOf(app) {
		out = append(out, kafkaadmin.User{Name: app.KafkaUserName(u.Name), Password: string(creds.Data[credentialsdir.PasswordKey(u.Name)]), Role: u.Role})
	}
	return out
}

func specTopics(app *queuev1alpha1.QueueApp) []string {
	var out []string
	for _, t := range app.Spec.Topics {
		out = append(out, app.KafkaTopicName(t.Name))
	}
	return out
}
