//go:build tools

// Package envtest pins the source of kube-apiserver, one of the two binaries
// that controller-runtime's envtest needs; hack/envtest/build.sh builds it
// with `go build` from this module. etcd is pinned in ./etcd.
package envtest

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
