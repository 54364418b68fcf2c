//go:build tools

// Package etcd pins the source of etcd, one of the two binaries that
// controller-runtime's envtest needs; hack/envtest/build.sh builds it with
// `go build` from this module. Its main package is the module root
// go.etcd.io/etcd/server/v3.
package etcd

import (
	_ "go.etcd.io/etcd/server/v3"
)
