// Package config_test checks that the kustomize bases in config/ build, and
// that what they install fits together.
package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func build(t *testing.T, dir string) resmap.ResMap {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return res
}

// config/default installs the CRD, RBAC and the manager, which runs the
// image `make image` builds (the chart's appVersion) or whatever an overlay
// sets; the gateways' image is not a second setting: the manager reads its
// own from its pod.
func TestDefaultInstallsTheOperator(t *testing.T) {
	chart, err := os.ReadFile(filepath.Join("..", "charts", "qaas", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var appVersion string
	for _, line := range strings.Split(string(chart), "\n") {
		if v, ok := strings.CutPrefix(line, "appVersion:"); ok {
			appVersion = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	if text := asYAML(t, build(t, "default")); !strings.Contains(text, "image: qaas.dev/qaas:"+appVersion+"\n") {
		t.Errorf("config/default does not run qaas.dev/qaas:%s, the image make image builds:\n%s", appVersion, text)
	}

	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(".")); err != nil {
		t.Fatal(err)
	}
	manager := filepath.Join(dir, "manager", "kustomization.yaml")
	k, err := os.ReadFile(manager)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(strings.Replace(string(k), "newName: qaas.dev/qaas", "newName: registry.example.com/qaas", 1), "newTag: "+appVersion, "newTag: v9", 1)
	if edited == string(k) {
		t.Fatal("config/manager/kustomization.yaml has no images entry for the manager")
	}
	if err := os.WriteFile(manager, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	res := build(t, filepath.Join(dir, "default"))
	kinds := map[string]bool{}
	for _, r := range res.Resources() {
		kinds[r.GetKind()+"/"+r.GetName()] = true
	}
	for _, want := range []string{
		"CustomResourceDefinition/queueapps.queue.qaas.dev", "Namespace/qaas-system", "ServiceAccount/qaas-controller-manager",
		"ClusterRole/qaas-manager-role", "ClusterRoleBinding/qaas-manager-rolebinding", "Role/qaas-leader-election-role",
		"Deployment/qaas-controller-manager",
	} {
		if !kinds[want] {
			t.Errorf("config/default lacks %s (has %v)", want, kinds)
		}
	}
	text := asYAML(t, res)
	if !strings.Contains(text, "image: registry.example.com/qaas:v9") {
		t.Errorf("the manager does not run the overlay's image:\n%s", text)
	}
	if strings.Contains(text, "QAAS_GATEWAY_IMAGE") || !strings.Contains(text, "name: QAAS_POD_NAME\n          valueFrom:\n            fieldRef:\n              fieldPath: metadata.name") {
		t.Errorf("the gateways' image is not the manager's own, read from its pod:\n%s", text)
	}
	if !strings.Contains(text, "namespace: qaas-system") {
		t.Error("the manager is not in qaas-system")
	}
}

func asYAML(t *testing.T, res resmap.ResMap) string {
	t.Helper()
	yaml, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return string(yaml)
}

func TestSamplesBuild(t *testing.T) {
	if n := len(build(t, "samples").Resources()); n != 1 {
		t.Fatalf("%d samples, want 1", n)
	}
}
