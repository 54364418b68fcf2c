package operator

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ManagerContainer is the name of the manager's container in its pod, in
// config/manager and in the Helm chart.
const ManagerContainer = "manager"

// OwnImage returns the image the manager's own pod runs, read from the API
// server: the gateways run the same image (it holds /gateway), so however a
// platform sets the manager's image — a kustomize overlay, a Helm value, an
// edit — the gateways follow it. The downward API cannot expose an image.
func OwnImage(ctx context.Context, cfg *rest.Config, namespace, pod string) (string, error) {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return "", err
	}
	p := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pod}, p); err != nil {
		return "", fmt.Errorf("reading the manager's own pod %s/%s for the gateways' image: %w", namespace, pod, err)
	}
	for _, ctr := range p.Spec.Containers {
		if ctr.Name == ManagerContainer {
			return ctr.Image, nil
		}
	}
	return "", fmt.Errorf("the manager's pod %s/%s has no container named %q to take the gateways' image from", namespace, pod, ManagerContainer)
}
