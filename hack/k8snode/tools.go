//go:build tools

// Package k8snode pins the sources of the Kubernetes components that, with
// hack/envtest's kube-apiserver and etcd, make the single-node cluster of
// `make e2e`: kubelet, kube-controller-manager, kube-scheduler and
// kube-proxy. hack/k8snode/build.sh builds them with `go build`.
package k8snode

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
