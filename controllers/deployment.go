package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	queuev1alpha1 "qaas.dev/qaas/api/v1alpha1"
	"qaas.dev/qaas/internal/gomemory"
)

const (
	// gatewayPort is the plain-HTTP port the gateway listens on; TLS ends
	// at the Ingress.
	gatewayPort = 8080
	// peerPort is where the gateway replicas of an app forward consumes
	// to the replica that owns their consumer group.
	peerPort = 8090
	// podIPEnv is the container's environment variable holding its pod's IP.
	podIPEnv = "POD_IP"
	// credentialsMountPath is where the credentials Secret is mounted.
	credentialsMountPath = "/etc/qaas/credentials"
	// CredentialsHashAnnotation on the pod template changes with the
	// credentials, so that pods roll and read the new ones.
	CredentialsHashAnnotation = "queue.qaas.dev/credentials-hash"
	// gatewayUID is the unprivileged user the gateway runs as.
	gatewayUID = 65532
	// preStopSeconds keeps a stopping pod serving while the endpoints and
	// the Ingress controller stop sending it requests: the gateway closes
	// its listener at SIGTERM, so without this delay a rollout or a pod
	// deletion turns requests in flight towards it into errors.
	preStopSeconds = 5
	// shutdownSeconds is how long a stopped gateway lets in-flight requests
	// finish (produces get their acknowledgements; long polls return at
	// once).
	shutdownSeconds = 20
	// closeSeconds is the margin for committing offsets and closing the
	// Kafka clients after the last request.
	closeSeconds = 5
)

// terminationGracePeriod covers the pre-stop delay, the shutdown and the
// close; past it the kubelet kills the gateway.
var terminationGracePeriod int64 = preStopSeconds + shutdownSeconds + closeSeconds

var defaultReplicas int32 = 2

// defaultResources apply when a QueueApp sets none.
var defaultResources = corev1.ResourceRequirements{
	Requests: corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("100m"),
		corev1.ResourceMemory: resource.MustParse("64Mi"),
	},
	Limits: corev1.ResourceList{
		corev1.ResourceMemory: *resource.NewQuantity(gomemory.DefaultContainerLimit, resource.BinarySI),
	},
}

// gatewayEnv is the gateway container's environment: its pod's IP, and
// the Go runtime's settings when the container has a memory limit.
func gatewayEnv(resources corev1.ResourceRequirements) []corev1.EnvVar {
	env := []corev1.EnvVar{{
		Name:      podIPEnv,
		ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}},
	}}
	if limit, ok := resources.Limits[corev1.ResourceMemory]; ok {
		for _, v := range gomemory.Env(limit.Value()) {
			env = append(env, corev1.EnvVar{Name: v.Name, Value: v.Value})
		}
	}
	return env
}

// buildDeployment returns the gateway Deployment; credentialsHash is the
// dataHash of the credentials Secret.
func buildDeployment(app *queuev1alpha1.QueueApp, settings Settings, credentialsHash string) *appsv1.Deployment {
	image := app.Spec.Gateway.Image
	if image == "" {
		image = settings.GatewayImage
	}
	replicas := ptr.Deref(app.Spec.Gateway.Replicas, defaultReplicas)
	resources := app.Spec.Gateway.Resources
	if len(resources.Requests) == 0 && len(resources.Limits) == 0 {
		resources = defaultResources
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			PeriodSeconds: period,
		}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: GatewayName(app), Namespace: app.Namespace, Labels: childLabels(app)},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: childLabels(app)},
			// A rollout adds a pod before it stops one, so the serving
			// count never drops.
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      childLabels(app),
					Annotations: map[string]string{CredentialsHashAnnotation: credentialsHash},
				},
				Spec: corev1.PodSpec{
					// The gateway never calls the Kubernetes API.
					AutomountServiceAccountToken:  ptr.To(false),
					TerminationGracePeriodSeconds: &terminationGracePeriod,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot: ptr.To(true),
						RunAsUser:    ptr.To[int64](gatewayUID),
						RunAsGroup:   ptr.To[int64](gatewayUID),
						// Lets the gateway read the 0440 credentials files.
						FSGroup:        ptr.To[int64](gatewayUID),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:    "gateway",
						Image:   image,
						Command: []string{"/gateway"},
						Args:    gatewayConfig(app, settings).Args(),
						Env:     gatewayEnv(resources),
						Ports: []corev1.ContainerPort{
							{Name: "http", ContainerPort: gatewayPort, Protocol: corev1.ProtocolTCP},
							{Name: "peer", ContainerPort: peerPort, Protocol: corev1.ProtocolTCP},
						},
						VolumeMounts: []corev1.VolumeMount{{
							Name: "credentials", MountPath: credentialsMountPath, ReadOnly: true,
						}},
						Lifecycle: &corev1.Lifecycle{
							PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: preStopSeconds}},
						},
						LivenessProbe:  probe("/healthz", 10),
						ReadinessProbe: probe("/readyz", 5),
						Resources:      resources,
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							RunAsNonRoot:             ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
					}},
					Volumes: []corev1.Volume{{
						Name: "credentials",
						VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
							SecretName: CredentialsSecretName(app), DefaultMode: ptr.To[int32](0o440),
						}},
					}},
				},
			},
		},
	}
}
