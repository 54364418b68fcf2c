package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// QueueApp is one application's queue: Kafka topics and users confined to
// the application's own prefix, and an HTTPS endpoint (a gateway behind an
// Ingress) where its users POST and GET messages with a username and
// password. Kafka names are "<namespace>.<name>.<topic>" for topics and
// "<namespace>.<name>.<user>" for users.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=qa;queueapps,categories=qaas
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 55",message="metadata.name must be a DNS label of at most 55 characters starting with a letter: lowercase letters, digits and '-', no dots (it becomes part of Kafka names and of the gateway's Service name)"
type QueueApp struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the application asks for.
	// +optional
	Spec QueueAppSpec `json:"spec,omitempty"`

	// status is what the operator has done about it.
	// +optional
	Status QueueAppStatus `json:"status,omitempty"`
}

// QueueAppSpec is what an application asks for.
type QueueAppSpec struct {
	// topics are the application's Kafka topics. Each is created in Kafka as
	// "<namespace>.<name>.<topic name>", which is the name to use in the
	// gateway's URL (/topic/<Kafka name>).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	Topics []TopicSpec `json:"topics,omitempty"`

	// users are the application's Kafka users, each with a generated
	// password in the credentials Secret "<name>-credentials". When empty,
	// one user "admin" with role readwrite is created.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=50
	Users []UserSpec `json:"users,omitempty"`

	// gateway configures the Deployment that serves the HTTP API.
	// +optional
	Gateway GatewaySpec `json:"gateway,omitempty"`

	// ingress configures how the gateway is exposed over HTTPS.
	// +optional
	Ingress IngressSpec `json:"ingress,omitempty"`

	// queue sets how queue mode (GET /topic/<topic>?mode=queue&group=<g>,
	// on Kafka share groups) hands records out, for every queue group of
	// the application. When unset, the broker's defaults apply.
	// +optional
	Queue *QueueSpec `json:"queue,omitempty"`

	// deletionPolicy says what happens to the application's Kafka topics
	// (and their messages) and consumer groups (and their committed offsets)
	// when the QueueApp is deleted: Retain keeps them, so that a QueueApp
	// re-created with the same name carries on where it stopped; Delete
	// deletes them. The gateway stops first; users and ACLs are always
	// removed.
	// +optional
	// +kubebuilder:default=Retain
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// TopicSpec is one Kafka topic.
type TopicSpec struct {
	// name is the topic's name within the application: letters, digits,
	// '-' and '_'. The Kafka topic is "<namespace>.<app name>.<name>".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_-]+$`
	Name string `json:"name"`

	// partitions is the number of partitions: how many consumers of one
	// group can read in parallel. It can be increased, never decreased.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Partitions int32 `json:"partitions,omitempty"`

	// replicationFactor is the number of copies Kafka keeps of each
	// partition. When unset, the operator's cluster default applies.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	ReplicationFactor *int32 `json:"replicationFactor,omitempty"`

	// config holds Kafka topic configuration, such as retention.ms.
	// +optional
	// +kubebuilder:validation:MaxProperties=50
	Config map[string]string `json:"config,omitempty"`
}

// UserRole is what a user may do on the application's topics.
// +kubebuilder:validation:Enum=read;readwrite
type UserRole string

const (
	// RoleRead may consume from the application's topics.
	RoleRead UserRole = "read"
	// RoleReadWrite may also produce to them.
	RoleReadWrite UserRole = "readwrite"
)

// UserSpec is one Kafka user.
type UserSpec struct {
	// name is the user's name within the application: lowercase letters,
	// digits and '-'. The Kafka username, used for HTTP basic auth, is
	// "<namespace>.<app name>.<name>".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// role is read (consume) or readwrite (consume and produce).
	// +optional
	// +kubebuilder:default=readwrite
	Role UserRole `json:"role,omitempty"`
}

// GatewaySpec configures the gateway Deployment.
type GatewaySpec struct {
	// replicas is the number of gateway pods. Any pod serves any request.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas *int32 `json:"replicas,omitempty"`

	// resources are the gateway container's requests and limits. When
	// empty, modest defaults apply.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// image overrides the gateway image; by default the operator's own
	// image, which holds the gateway too.
	// +optional
	Image string `json:"image,omitempty"`
}

// IngressSpec configures the Ingress in front of the gateway.
type IngressSpec struct {
	// host is the endpoint's host name. By default
	// "<name>.<namespace>.<the operator's ingress domain>".
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Host string `json:"host,omitempty"`

	// className is the IngressClass to use. By default the operator's.
	// +optional
	ClassName string `json:"className,omitempty"`

	// tls says where the endpoint's certificate comes from: an existing
	// Secret, or a cert-manager issuer. When unset, the operator's default
	// issuer is used if it has one; otherwise the operator generates a
	// self-signed certificate, and condition TLSReady says so.
	// +optional
	TLS *IngressTLS `json:"tls,omitempty"`
}

// IngressTLS names exactly one source for the endpoint's certificate.
// +kubebuilder:validation:XValidation:rule="has(self.secretName) != has(self.issuerRef)",message="ingress.tls needs exactly one of secretName (an existing TLS Secret) or issuerRef (a cert-manager issuer)"
type IngressTLS struct {
	// secretName is an existing kubernetes.io/tls Secret in the
	// QueueApp's namespace.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName,omitempty"`

	// issuerRef is a cert-manager Issuer or ClusterIssuer that issues the
	// certificate into the Secret "<name>-tls".
	// +optional
	IssuerRef *IssuerReference `json:"issuerRef,omitempty"`
}

// IssuerReference names a cert-manager issuer.
type IssuerReference struct {
	// kind is Issuer (in the QueueApp's namespace) or ClusterIssuer.
	// +optional
	// +kubebuilder:default=ClusterIssuer
	// +kubebuilder:validation:Enum=Issuer;ClusterIssuer
	Kind string `json:"kind,omitempty"`

	// name is the issuer's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// QueueSpec holds the settings of the application's queue groups, Kafka
// share groups ("<namespace>.<name>.<user>.<group>"). The gateway sets them
// as the groups' Kafka configs when it opens a group. Each one left unset
// is the broker's default.
type QueueSpec struct {
	// lockDuration is how long a record handed out by a queue-mode GET stays
	// locked to it: unless acknowledged by then, it is delivered again (Kafka's
	// share.record.lock.duration.ms). Kafka's default is 30s. Brokers accept
	// 15s to 60s unless configured otherwise
	// (group.share.min.record.lock.duration.ms and
	// group.share.max.record.lock.duration.ms), and refuse a value outside
	// their configured range when the gateway sets it. The gateway takes
	// 5s to 10m: it asks for an acknowledgement a second before the lock
	// runs out, and keeps a held batch's connection at most that long idle.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('5s') && duration(self) <= duration('10m')",message="queue.lockDuration must be between 5s and 10m (brokers accept 15s to 60s unless configured otherwise)"
	LockDuration *metav1.Duration `json:"lockDuration,omitempty"`

	// deliveryLimit is how many times a record is delivered before Kafka
	// archives it, undelivered, as a poison message (Kafka's
	// share.delivery.count.limit). Kafka's default is 5. Brokers accept 2 to
	// 10 unless configured with a narrower range, and refuse a value outside
	// it when the gateway sets it.
	// +optional
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=10
	DeliveryLimit *int32 `json:"deliveryLimit,omitempty"`
}

// DeletionPolicy says what happens to Kafka topics and consumer groups on delete.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	// DeletionRetain keeps the topics and consumer groups.
	DeletionRetain DeletionPolicy = "Retain"
	// DeletionDelete deletes the topics and consumer groups.
	DeletionDelete DeletionPolicy = "Delete"
)

// Condition types of a QueueApp.
const (
	// ConditionReady is True when the endpoint is usable end to end.
	ConditionReady = "Ready"
	// ConditionGatewayReady is True when the gateway Deployment is available
	// and its pods are ready behind its Service.
	ConditionGatewayReady = "GatewayReady"
	// ConditionIngressReady is True when the Ingress controller has
	// published an address for the endpoint's host.
	ConditionIngressReady = "IngressReady"
	// ConditionKafkaReady is True when the topics, users and ACLs exist in
	// Kafka as specified.
	ConditionKafkaReady = "KafkaReady"
	// ConditionTLSReady says where the endpoint's certificate comes from.
	ConditionTLSReady = "TLSReady"
)

// QueueAppStatus is what the operator observed and did.
type QueueAppStatus struct {
	// observedGeneration is the generation of the spec last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// url is the endpoint: POST and GET <url>/topic/<Kafka topic>.
	// +optional
	URL string `json:"url,omitempty"`

	// credentialsSecret is the Secret holding each user's username and
	// password, the URL and the Kafka topic names.
	// +optional
	CredentialsSecret string `json:"credentialsSecret,omitempty"`

	// topics are the Kafka names of the application's topics.
	// +optional
	// +listType=set
	Topics []string `json:"topics,omitempty"`

	// conditions are Ready, GatewayReady, KafkaReady and TLSReady.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// QueueAppList is a list of QueueApps.
// +kubebuilder:object:root=true
type QueueAppList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []QueueApp `json:"items"`
}
