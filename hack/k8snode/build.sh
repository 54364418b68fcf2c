#!/usr/bin/env bash
# Builds the node components of the `make e2e` cluster — kubelet,
# kube-controller-manager, kube-scheduler and kube-proxy — from the pinned
# modules in this directory into a cache directory outside the checkout, once;
# later runs reuse them. kube-apiserver, etcd and kubectl come from
# hack/envtest.
#
#   K8SNODE_BIN=$(bash hack/k8snode/build.sh [DIR])
#
# DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/qaas/k8snode/<version>. The
# directory (absolute) is printed as the last line of stdout; all build output
# goes to stderr. About 2.5 minutes on 2 cores after hack/envtest's build
# (which warms the build cache), 9 minutes cold.
set -euo pipefail

KUBE_VERSION=v1.37.2 # keep in step with ./go.mod and hack/envtest
BINARIES=(kubelet kube-controller-manager kube-scheduler kube-proxy)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/qaas/k8snode/${KUBE_VERSION}}

# shellcheck source=../cache.sh
source "$here/../cache.sh"
cache_open "$out" "${BINARIES[@]}"
out=$CACHE_DIR

export CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly
unset GOOS GOARCH

got=$(cd "$here" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
if [[ $got != "$KUBE_VERSION" ]]; then
	echo "k8snode: go.mod has k8s.io/kubernetes $got, build.sh expects $KUBE_VERSION" >&2
	exit 1
fi

# One `go build` of all four shares the compilation of their common packages;
# it writes into a temporary directory, then each binary is renamed into place
# (rename(2): never a half-written binary).
tmp=$(mktemp -d "$out/.build.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
echo "k8snode: building ${BINARIES[*]} $KUBE_VERSION into $out (takes minutes) ..." >&2
minor=${KUBE_VERSION#v1.}
minor=${minor%%.*}
cb=k8s.io/component-base/version
pkgs=()
for b in "${BINARIES[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
(cd "$here" && go build -trimpath \
	-ldflags "-s -w -X $cb.gitVersion=$KUBE_VERSION -X $cb.gitMajor=1 -X $cb.gitMinor=$minor -X $cb.gitTreeState=clean" \
	-o "$tmp/" "${pkgs[@]}") >&2
for b in "${BINARIES[@]}"; do mv -f "$tmp/$b" "$out/$b"; done
echo "k8snode: built in $((SECONDS - start))s" >&2
echo "$out"
