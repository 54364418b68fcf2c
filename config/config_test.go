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

// config/default installs the CRD, RBAC and the manager; the gateway's
// default image is the manager's own, whatever image is set (as
// `kustomize edit set image controller=...` in config/manager sets it).
func TestDefaultInstallsTheOperatorWithItsOwnImageForGateways(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(".")); err != nil {
		t.Fatal(err)
	}
	manager := filepath.Join(dir, "manager", "kustomization.yaml")
	k, err := os.ReadFile(manager)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(strings.Replace(string(k), "newName: controller", "newName: registry.example.com/qaas", 1), "newTag: latest", "newTag: v9", 1)
	if edited == string(k) {
		t.Fatal("config/manager/kustomization.yaml has no images entry for controller")
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
	yaml, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	text := string(yaml)
	if !strings.Contains(text, "image: registry.example.com/qaas:v9") || !strings.Contains(text, "name: QAAS_GATEWAY_IMAGE\n          value: registry.example.com/qaas:v9") {
		t.Fatalf("the gateway image does not follow the manager's:\n%s", text)
	}
	if !strings.Contains(text, "namespace: qaas-system") {
		t.Error("the manager is not in qaas-system")
	}
}

func TestSamplesBuild(t *testing.T) {
	if n := len(build(t, "samples").Resources()); n != 1 {
		t.Fatalf("%d samples, want 1", n)
	}
}
