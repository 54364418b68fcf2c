//go:build tools

// Package envtest pins the source of kube-apiserver, one of the two binaries
// that controller-runtime's envtest needs, and of kubectl, which tests use
// against the envtest server (kubectl explain); hack/envtest/build.sh builds
// them with `go build` from this module. etcd is pinned in ./etcd.
package envtest

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
