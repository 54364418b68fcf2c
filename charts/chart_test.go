// Package charts checks the Helm chart in charts/qaas: it renders the chart
// with the helm binary named by $HELM (`make test` passes the pinned one) and
// checks what a platform team installing it depends on.
package charts

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"qaas.dev/qaas/internal/operator"
)

const (
	chart     = "qaas"
	release   = "qaas"
	namespace = "qaas-system"
	// allOptions switches every optional feature of the chart on.
	allOptions = "qaas/ci/all-options-values.yaml"
	// generatedCRD and generatedRole are what `make manifests` generates
	// from the API types and the controllers' RBAC markers.
	generatedCRD  = "../config/crd/bases/queue.qaas.dev_queueapps.yaml"
	generatedRole = "../config/rbac/role.yaml"
)

// brokers is the one value a user must give.
var brokers = []string{"--set", "kafka.bootstrapServers={kafka:9092}"}

// with is brokers and more values.
func with(args ...string) []string { return append(slices.Clone(brokers), args...) }

// Every object decodes strictly as what it is, lives in the release
// namespace unless cluster-scoped, and carries the standard labels.
func TestRenderedObjectsAreValidAndLabelled(t *testing.T) {
	clusterScoped := map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true}
	for name, args := range map[string][]string{
		"defaults":    brokers,
		"all options": {"-f", allOptions},
	} {
		t.Run(name, func(t *testing.T) {
			for _, m := range render(t, args...) {
				var meta metav1.PartialObjectMetadata
				if err := yaml.Unmarshal(m.doc, &meta); err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				if obj, err := clientgoscheme.Scheme.New(meta.GroupVersionKind()); err == nil {
					decode(t, m.String(), m.doc, obj)
				}
				if want := map[bool]string{true: "", false: namespace}[clusterScoped[m.kind]]; meta.Namespace != want {
					t.Errorf("%s is in namespace %q, want %q", m, meta.Namespace, want)
				}
				for _, label := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
					if meta.Labels[label] == "" {
						t.Errorf("%s has no label %s", m, label)
					}
				}
			}
		})
	}
}

func TestClusterRoleGrantsExactlyTheGeneratedRules(t *testing.T) {
	var generated rbacv1.ClusterRole
	readYAML(t, generatedRole, &generated)
	for _, name := range []string{"qaas", "staging"} {
		t.Run("release "+name, func(t *testing.T) {
			ms := renderRelease(t, name, brokers...)
			var role rbacv1.ClusterRole
			var binding rbacv1.ClusterRoleBinding
			var sa corev1.ServiceAccount
			ms.one(t, "ClusterRole", &role)
			ms.one(t, "ClusterRoleBinding", &binding)
			ms.one(t, "ServiceAccount", &sa)
			if !reflect.DeepEqual(role.Rules, generated.Rules) {
				t.Errorf("ClusterRole rules differ from %s:\n got %+v\nwant %+v", generatedRole, role.Rules, generated.Rules)
			}
			// Cluster-scoped names hold the release's, so that releases do not collide.
			if !strings.Contains(role.Name, name) || !strings.Contains(binding.Name, name) {
				t.Errorf("ClusterRole %s and ClusterRoleBinding %s do not hold the release name %s", role.Name, binding.Name, name)
			}
			wantSubject := rbacv1.Subject{Kind: "ServiceAccount", Name: sa.Name, Namespace: namespace}
			if binding.RoleRef.Kind != "ClusterRole" || binding.RoleRef.Name != role.Name || !reflect.DeepEqual(binding.Subjects, []rbacv1.Subject{wantSubject}) {
				t.Errorf("ClusterRoleBinding binds %+v to %+v, want ClusterRole %s to %+v", binding.RoleRef, binding.Subjects, role.Name, wantSubject)
			}
		})
	}
}

// The leader election records core events (client-go's recorder), the
// manager events.k8s.io ones; the chart and config/rbac grant the same.
func TestLeaderElectionRoleMatchesConfig(t *testing.T) {
	var want rbacv1.Role
	readYAML(t, "../config/rbac/leader_election_role.yaml", &want)
	ms := render(t, brokers...)
	var role rbacv1.Role
	var binding rbacv1.RoleBinding
	ms.one(t, "Role", &role)
	ms.one(t, "RoleBinding", &binding)
	if !reflect.DeepEqual(role.Rules, want.Rules) {
		t.Errorf("leader-election Role rules differ from config/rbac:\n got %+v\nwant %+v", role.Rules, want.Rules)
	}
	if binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != role.Name {
		t.Errorf("RoleBinding %s binds %+v, want Role %s", binding.Name, binding.RoleRef, role.Name)
	}
	for _, group := range []string{"", "events.k8s.io"} {
		if !grants(role.Rules, group, "events", "create") {
			t.Errorf("the leader-election Role cannot create events in API group %q", group)
		}
	}
	if !grants(role.Rules, "coordination.k8s.io", "leases", "update") {
		t.Error("the leader-election Role cannot update leases")
	}
}

// crd is a CustomResourceDefinition as generic YAML, so that nothing of the
// generated file is lost in the comparison.
type crd struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       map[string]any `json:"spec"`
}

func TestCRDIsTheGeneratedOne(t *testing.T) {
	var generated crd
	readYAML(t, generatedCRD, &generated)
	for name, tc := range map[string]struct {
		args     []string
		wantCRD  bool
		wantKeep bool
	}{
		"by default the CRD is installed and kept on uninstall": {wantCRD: true, wantKeep: true},
		"crds.keep=false lets uninstall delete it":              {args: []string{"--set", "crds.keep=false"}, wantCRD: true},
		"crds.enabled=false installs none":                      {args: []string{"--set", "crds.enabled=false"}},
	} {
		t.Run(name, func(t *testing.T) {
			ms := render(t, with(tc.args...)...)
			if !tc.wantCRD {
				if n := ms.count("CustomResourceDefinition"); n != 0 {
					t.Fatalf("%d CRDs rendered, want none", n)
				}
				return
			}
			var got crd
			ms.one(t, "CustomResourceDefinition", &got)
			if got.APIVersion != generated.APIVersion || got.Metadata["name"] != generated.Metadata["name"] {
				t.Errorf("CRD %s %v, want %s %v", got.APIVersion, got.Metadata["name"], generated.APIVersion, generated.Metadata["name"])
			}
			if !reflect.DeepEqual(got.Spec, generated.Spec) {
				t.Errorf("the CRD's spec differs from %s: run make manifests", generatedCRD)
			}
			annotations, _ := got.Metadata["annotations"].(map[string]any)
			if keep := annotations["helm.sh/resource-policy"] == "keep"; keep != tc.wantKeep {
				t.Errorf("annotations %v: keep is %v, want %v", annotations, keep, tc.wantKeep)
			}
		})
	}
}

// The manager passes the restricted Pod Security Standard, whatever the
// values, and serves its probes and metrics where the pod spec says.
func TestDeploymentIsRestricted(t *testing.T) {
	for name, args := range map[string][]string{
		"defaults":    brokers,
		"all options": {"-f", allOptions},
	} {
		t.Run(name, func(t *testing.T) {
			var d appsv1.Deployment
			render(t, args...).one(t, "Deployment", &d)
			pod := d.Spec.Template.Spec
			psc := pod.SecurityContext
			if psc == nil {
				t.Fatal("the pod has no securityContext")
			}
			if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
				t.Error("pod securityContext.runAsNonRoot is not true")
			}
			if psc.RunAsUser == nil || *psc.RunAsUser != 65532 || psc.RunAsGroup == nil || *psc.RunAsGroup != 65532 {
				t.Error("pod securityContext does not run as user and group 65532")
			}
			if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Error("pod securityContext.seccompProfile is not RuntimeDefault")
			}
			if pod.HostNetwork || pod.HostPID || pod.HostIPC {
				t.Error("the pod shares a host namespace")
			}
			for _, v := range pod.Volumes {
				if v.HostPath != nil {
					t.Errorf("volume %s is a hostPath", v.Name)
				}
			}
			if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
				t.Error("automountServiceAccountToken is not true: the manager needs the API")
			}
			for _, c := range append(pod.InitContainers, pod.Containers...) {
				sc := c.SecurityContext
				switch {
				case sc == nil:
					t.Errorf("container %s has no securityContext", c.Name)
				case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
					t.Errorf("container %s allows privilege escalation", c.Name)
				case sc.Privileged != nil && *sc.Privileged:
					t.Errorf("container %s is privileged", c.Name)
				case sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
					t.Errorf("container %s does not drop ALL capabilities (and add none)", c.Name)
				case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
					t.Errorf("container %s has a writable root filesystem", c.Name)
				}
			}
			m := manager(t, &d)
			for probe, want := range map[*corev1.Probe]string{m.LivenessProbe: "/healthz", m.ReadinessProbe: "/readyz"} {
				if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || containerPort(m, probe.HTTPGet.Port) != 8081 {
					t.Errorf("probe %+v is not GET %s on port 8081", probe, want)
				}
			}
			if containerPort(m, intstr.FromString("metrics")) != 8080 {
				t.Errorf("container ports %+v: no metrics on 8080", m.Ports)
			}
			if !slices.Contains(m.Args, "--health-probe-bind-address=:8081") || !slices.Contains(m.Args, "--metrics-bind-address=:8080") {
				t.Errorf("args %v do not bind the probes on :8081 and the metrics on :8080", m.Args)
			}
		})
	}
}

func TestLeaderElectionOnlyWithSeveralReplicas(t *testing.T) {
	for name, tc := range map[string]struct {
		args         []string
		wantElect    bool
		wantStrategy appsv1.DeploymentStrategyType
	}{
		"one replica runs alone, replaced with Recreate": {wantStrategy: appsv1.RecreateDeploymentStrategyType},
		"two replicas elect a leader":                    {args: []string{"--set", "replicaCount=2"}, wantElect: true, wantStrategy: appsv1.RollingUpdateDeploymentStrategyType},
		"leaderElection.enabled elects with one replica": {args: []string{"--set", "leaderElection.enabled=true"}, wantElect: true, wantStrategy: appsv1.RollingUpdateDeploymentStrategyType},
	} {
		t.Run(name, func(t *testing.T) {
			var d appsv1.Deployment
			render(t, with(tc.args...)...).one(t, "Deployment", &d)
			args := manager(t, &d).Args
			if got := slices.Contains(args, "--leader-elect"); got != tc.wantElect {
				t.Errorf("--leader-elect passed: %v, want %v (args %v)", got, tc.wantElect, args)
			}
			if d.Spec.Strategy.Type != tc.wantStrategy {
				t.Errorf("strategy %s, want %s", d.Spec.Strategy.Type, tc.wantStrategy)
			}
		})
	}
}

// The manager is configured by its flags' environment twins, set only for
// the values given, so that the manager's own defaults hold for the rest.
func TestManagerEnvironmentFollowsValues(t *testing.T) {
	const ns, pod = "fieldRef:metadata.namespace", "fieldRef:metadata.name"
	for name, tc := range map[string]struct {
		args  []string
		want  map[string]string
		image string
	}{
		"defaults: the gateways run the manager's image, which it reads from its own pod": {
			args: brokers,
			want: map[string]string{
				"QAAS_OPERATOR_NAMESPACE":   ns,
				"QAAS_POD_NAME":             pod,
				"QAAS_KAFKA_BROKERS":        "kafka:9092",
				"QAAS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
			},
		},
		"another image for the manager is the gateways' too": {
			args:  with("--set", "image.repository=registry.example.com/qaas", "--set", "image.tag=v9"),
			image: "registry.example.com/qaas:v9",
			want: map[string]string{
				"QAAS_OPERATOR_NAMESPACE":   ns,
				"QAAS_POD_NAME":             pod,
				"QAAS_KAFKA_BROKERS":        "kafka:9092",
				"QAAS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
			},
		},
		"a ClusterIssuer by default, an integer log level": {
			args: with("--set", "certManager.defaultIssuer.name=letsencrypt", "--set", "logLevel=2"),
			want: map[string]string{
				"QAAS_OPERATOR_NAMESPACE":   ns,
				"QAAS_POD_NAME":             pod,
				"QAAS_KAFKA_BROKERS":        "kafka:9092",
				"QAAS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
				"QAAS_DEFAULT_ISSUER":       "ClusterIssuer/letsencrypt",
				"QAAS_ZAP_LOG_LEVEL":        "2",
			},
		},
		"all options": {
			args: []string{"-f", allOptions},
			want: map[string]string{
				"QAAS_OPERATOR_NAMESPACE":       ns,
				"QAAS_POD_NAME":                 pod,
				"QAAS_GATEWAY_IMAGE":            "registry.example.com/platform/qaas-gateway:1.2.3",
				"QAAS_KAFKA_BROKERS":            "my-cluster-kafka-bootstrap.kafka:9093,my-cluster-kafka-1.kafka:9093",
				"QAAS_KAFKA_SASL_MECHANISM":     "SCRAM-SHA-256",
				"QAAS_KAFKA_TLS":                "true",
				"QAAS_KAFKA_CA_FILE":            "/etc/qaas/kafka-ca/ca.crt",
				"QAAS_KAFKA_ADMIN_SECRET":       "qaas-kafka-admin",
				"QAAS_KAFKA_VERSION":            "3.9.0",
				"QAAS_KAFKA_REPLICATION_FACTOR": "3",
				"QAAS_INGRESS_DOMAIN":           "queue.example.com",
				"QAAS_INGRESS_CLASS":            "nginx",
				"QAAS_ALLOW_CUSTOM_HOSTS":       "true",
				"QAAS_REQUIRE_INGRESS_ADDRESS":  "false",
				"QAAS_DEFAULT_ISSUER":           "Issuer/letsencrypt",
				"QAAS_ALLOW_IMAGE_OVERRIDE":     "true",
				"QAAS_ZAP_LOG_LEVEL":            "debug",
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var d appsv1.Deployment
			render(t, tc.args...).one(t, "Deployment", &d)
			m := manager(t, &d)
			if got := env(m); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("environment:\n got %v\nwant %v", got, tc.want)
			}
			if tc.image != "" && m.Image != tc.image {
				t.Errorf("the manager runs %s, want %s", m.Image, tc.image)
			}
		})
	}
}

func TestKafkaCAIsMountedForTheManager(t *testing.T) {
	var d appsv1.Deployment
	render(t, with("--set", "kafka.tls.caSecret.name=my-cluster-cluster-ca-cert", "--set", "kafka.tls.caSecret.key=ca.pem")...).one(t, "Deployment", &d)
	m := manager(t, &d)
	var volume *corev1.Volume
	for i, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "my-cluster-cluster-ca-cert" {
			volume = &d.Spec.Template.Spec.Volumes[i]
		}
	}
	if volume == nil {
		t.Fatalf("no volume of Secret my-cluster-cluster-ca-cert in %+v", d.Spec.Template.Spec.Volumes)
	}
	var mount *corev1.VolumeMount
	for i, vm := range m.VolumeMounts {
		if vm.Name == volume.Name {
			mount = &m.VolumeMounts[i]
		}
	}
	if mount == nil || !mount.ReadOnly {
		t.Fatalf("volume %s is not mounted read-only into the manager: %+v", volume.Name, m.VolumeMounts)
	}
	// The file is the Secret's key ca.pem, under whatever path the chart projects it to.
	path := "ca.pem"
	if items := volume.Secret.Items; len(items) > 0 {
		if len(items) != 1 || items[0].Key != "ca.pem" {
			t.Fatalf("the volume projects %+v, want the key ca.pem", items)
		}
		path = items[0].Path
	}
	if got, want := env(m)["QAAS_KAFKA_CA_FILE"], filepath.Join(mount.MountPath, path); got != want {
		t.Errorf("QAAS_KAFKA_CA_FILE=%q, want %q (key ca.pem of the mounted Secret)", got, want)
	}
}

// A value the chart does not know, or a missing one, fails the install
// with a message naming it, rather than installing something else.
func TestValuesThatFail(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"a misspelt value":                {with("--set", "kafka.bootstrapServer=kafka:9092"), "additional properties 'bootstrapServer' not allowed"},
		"a misspelt top-level value":      {with("--set", "replicas=2"), "additional properties 'replicas' not allowed"},
		"no Kafka bootstrap servers":      {nil, "kafka.bootstrapServers is required"},
		"an unknown SASL mechanism":       {with("--set", "kafka.saslMechanism=SCRAM-SHA-1"), "/kafka/saslMechanism"},
		"an unknown issuer kind":          {with("--set", "certManager.defaultIssuer.kind=Issuers"), "/certManager/defaultIssuer/kind"},
		"brokers as a string, not a list": {[]string{"--set", "kafka.bootstrapServers=kafka:9092"}, "/kafka/bootstrapServers"},
		"a string for a number":           {with("--set-string", "replicaCount=two"), "/replicaCount"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := template(t, release, tc.args...)
			if err == nil {
				t.Fatalf("helm template %v succeeded", tc.args)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("helm template %v failed with\n%v\nwant a message holding %q", tc.args, err, tc.want)
			}
		})
	}
}

func TestServiceMonitorScrapesTheMetricsService(t *testing.T) {
	if n := render(t, brokers...).count("ServiceMonitor"); n != 0 {
		t.Errorf("%d ServiceMonitors by default, want none", n)
	}
	ms := render(t, with("--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.labels.release=prometheus")...)
	var svc corev1.Service
	var d appsv1.Deployment
	ms.one(t, "Service", &svc)
	ms.one(t, "Deployment", &d)
	// The Prometheus Operator's types are no dependency: the fields that matter.
	var sm struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
		Spec            struct {
			NamespaceSelector struct {
				MatchNames []string `json:"matchNames"`
			} `json:"namespaceSelector"`
			Selector  metav1.LabelSelector `json:"selector"`
			Endpoints []struct {
				Port     string `json:"port"`
				Path     string `json:"path"`
				Interval string `json:"interval"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	ms.one(t, "ServiceMonitor", &sm)
	if sm.Metadata.Labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack serviceMonitor.labels", sm.Metadata.Labels)
	}
	if !reflect.DeepEqual(sm.Spec.NamespaceSelector.MatchNames, []string{svc.Namespace}) {
		t.Errorf("ServiceMonitor looks in %v, the Service is in %s", sm.Spec.NamespaceSelector.MatchNames, svc.Namespace)
	}
	if !selects(sm.Spec.Selector.MatchLabels, svc.Labels) || len(sm.Spec.Selector.MatchExpressions) > 0 {
		t.Errorf("ServiceMonitor selects %v, the Service is labelled %v", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" || sm.Spec.Endpoints[0].Interval != "30s" {
		t.Fatalf("ServiceMonitor endpoints %+v, want port metrics, path /metrics, interval 30s", sm.Spec.Endpoints)
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" })
	if i < 0 || svc.Spec.Ports[i].Port != 8080 {
		t.Fatalf("Service %s has no port metrics on 8080: %+v", svc.Name, svc.Spec.Ports)
	}
	if !selects(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("Service selects %v, the manager pods are labelled %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
	if target := svc.Spec.Ports[i].TargetPort; containerPort(manager(t, &d), target) != 8080 {
		t.Errorf("the Service's port targets %s, not the manager's metrics port 8080", target.String())
	}
}

// Each QAAS_ variable and each flag the chart gives the manager is one the
// manager defines: `manager --help` lists every flag with its twin, as
// "  --kafka-brokers  [QAAS_KAFKA_BROKERS]".
func TestEnvironmentAndArgsAreManagerFlags(t *testing.T) {
	var d appsv1.Deployment
	render(t, "-f", allOptions).one(t, "Deployment", &d)
	bin := filepath.Join(t.TempDir(), "manager")
	build := exec.Command("go", "build", "-o", bin, "qaas.dev/qaas")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, out)
	}
	help, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("manager --help: %v\n%s", err, help)
	}
	m := manager(t, &d)
	for _, name := range slices.Sorted(maps.Keys(env(m))) {
		if !bytes.Contains(help, []byte("  ["+name+"]\n")) {
			t.Errorf("the chart sets %s, which is no flag's twin (manager --help)", name)
		}
	}
	for _, arg := range m.Args {
		flag, _, _ := strings.Cut(arg, "=")
		if !bytes.Contains(help, []byte("\n  "+flag+"  [")) {
			t.Errorf("the chart passes %s, which is no flag of the manager (manager --help)", arg)
		}
	}
}

// Every value has a comment above it in values.yaml, and a type in
// values.schema.json, whose every object refuses properties it does not
// list, so that a misspelt value fails.
func TestValuesAreDocumentedAndTyped(t *testing.T) {
	b, err := os.ReadFile("qaas/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`^\s*[A-Za-z][A-Za-z0-9-]*:`)
	lines := strings.Split(string(b), "\n")
	for i, line := range lines {
		if key.MatchString(line) && (i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#")) {
			t.Errorf("values.yaml:%d: %s has no comment above it", i+1, strings.TrimSpace(line))
		}
	}
	var values, schema map[string]any
	readYAML(t, "qaas/values.yaml", &values)
	readYAML(t, "qaas/values.schema.json", &schema)
	checkSchema(t, "", schema, values)
}

// checkSchema checks that the schema of the object value refuses
// properties it does not list, and gives each of the value's a type.
func checkSchema(t *testing.T, path string, schema map[string]any, value any) {
	t.Helper()
	obj, ok := value.(map[string]any)
	if !ok {
		return
	}
	props, _ := schema["properties"].(map[string]any)
	if props == nil {
		if _, isMap := schema["additionalProperties"].(map[string]any); !isMap {
			t.Errorf("values.schema.json: %s/ is an object with neither properties nor typed values", path)
		}
		return // a map, as labels, whose values are typed
	}
	if schema["additionalProperties"] != false {
		t.Errorf("values.schema.json: %s/ allows additional properties, so a misspelt value there would pass", path)
	}
	for k, v := range obj {
		sub, ok := props[k].(map[string]any)
		if !ok {
			t.Errorf("values.schema.json: %s/%s has no schema", path, k)
			continue
		}
		if sub["type"] == nil && sub["anyOf"] == nil {
			t.Errorf("values.schema.json: %s/%s has no type", path, k)
		}
		checkSchema(t, path+"/"+k, sub, v)
	}
}

// helm is the helm binary: $HELM, else helm on the PATH.
func helm(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	h, err := exec.LookPath("helm")
	if err != nil {
		t.Fatal("no helm binary: run `make test`, which builds the pinned Helm and passes it as HELM (or set HELM to a helm binary)")
	}
	return h
}

// template runs `helm template` on the chart as release name in namespace
// qaas-system with args (values), and returns what it printed or, when it
// fails, its error output.
func template(t *testing.T, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helm(t), append([]string{"template", name, chart, "--namespace", namespace}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("running %s: %v", cmd, err)
		}
		return nil, errors.New(strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// manifest is one object the chart renders.
type manifest struct {
	kind, name string
	doc        []byte
}

func (m manifest) String() string { return m.kind + "/" + m.name }

type manifests []manifest

// render renders the chart as release qaas with args.
func render(t *testing.T, args ...string) manifests {
	t.Helper()
	return renderRelease(t, release, args...)
}

// renderRelease renders the chart as release name with args.
func renderRelease(t *testing.T, name string, args ...string) manifests {
	t.Helper()
	out, err := template(t, name, args...)
	if err != nil {
		t.Fatalf("helm template %s: %v", strings.Join(args, " "), err)
	}
	var ms manifests
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return ms
		}
		if err != nil {
			t.Fatalf("reading the rendered chart: %v", err)
		}
		var head metav1.PartialObjectMetadata
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("the chart renders invalid YAML: %v\n%s", err, doc)
		}
		if head.Kind == "" {
			continue // a document of comments only
		}
		ms = append(ms, manifest{kind: head.Kind, name: head.Name, doc: doc})
	}
}

// one decodes the only object of kind into obj.
func (ms manifests) one(t *testing.T, kind string, obj any) {
	t.Helper()
	var found []manifest
	for _, m := range ms {
		if m.kind == kind {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("the chart renders %d %s, want 1 (it renders %v)", len(found), kind, ms)
	}
	decode(t, found[0].String(), found[0].doc, obj)
}

// count is how many objects of kind the chart renders.
func (ms manifests) count(kind string) int {
	n := 0
	for _, m := range ms {
		if m.kind == kind {
			n++
		}
	}
	return n
}

// strict decodes Kubernetes' own kinds as the API server's strict field
// validation does: a field it does not know, or spelt in another case, is an
// error, where the API server by default drops it with a warning.
var strict = serializer.NewCodecFactory(clientgoscheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// decode decodes doc, named what in errors, into obj, strictly.
func decode(t *testing.T, what string, doc []byte, obj any) {
	t.Helper()
	var err error
	if o, ok := obj.(runtime.Object); ok {
		_, _, err = strict.Decode(doc, nil, o)
	} else {
		err = yaml.UnmarshalStrict(doc, obj)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func readYAML(t *testing.T, path string, obj any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decode(t, path, b, obj)
}

// manager is the manager container of the chart's Deployment.
func manager(t *testing.T, d *appsv1.Deployment) *corev1.Container {
	t.Helper()
	// The manager finds its own image, for the gateways, by this name.
	i := slices.IndexFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == operator.ManagerContainer })
	if i < 0 {
		t.Fatalf("Deployment %s has no container named %s", d.Name, operator.ManagerContainer)
	}
	return &d.Spec.Template.Spec.Containers[i]
}

// containerPort is the number of a container's port given by number or name.
func containerPort(c *corev1.Container, port intstr.IntOrString) int32 {
	if port.Type == intstr.Int {
		return port.IntVal
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return p.ContainerPort
		}
	}
	return 0
}

// env is the container's environment: plain values, and "fieldRef:<path>"
// for those taken from the pod.
func env(c *corev1.Container) map[string]string {
	out := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			out[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
		case e.ValueFrom != nil:
			out[e.Name] = "valueFrom"
		default:
			out[e.Name] = e.Value
		}
	}
	return out
}

func grants(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb)
	})
}

// selects is whether a non-empty selector matches labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}
