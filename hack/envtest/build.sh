#!/usr/bin/env bash
# Builds the binaries controller-runtime's envtest needs, kube-apiserver and
# etcd, and kubectl for tests that use it, from the pinned modules in this directory into a cache directory
# outside the checkout, once; later runs reuse them.
#
#   KUBEBUILDER_ASSETS=$(bash hack/envtest/build.sh [DIR])
#
# DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/qaas/envtest/<versions>.
# The directory (absolute) is printed as the last line of stdout; all build
# output goes to stderr. A cold build takes ~12 minutes on 2 cores.
set -euo pipefail

KUBE_VERSION=v1.37.2 # keep in step with ./go.mod
ETCD_VERSION=v3.6.6  # keep in step with ./etcd/go.mod

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/qaas/envtest/${KUBE_VERSION}-etcd-${ETCD_VERSION}}

# shellcheck source=../cache.sh
source "$here/../cache.sh"
cache_open "$out" kube-apiserver etcd kubectl
out=$CACHE_DIR

tmps=()
cleanup() { ((${#tmps[@]})) && rm -f "${tmps[@]}"; return 0; }
trap cleanup EXIT

# Build for this machine whatever the caller's Go environment says.
export CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly
unset GOOS GOARCH

# build NAME MODULE_DIR PACKAGE WANT_MODULE WANT_VERSION [EXTRA_LDFLAGS]
build() {
	local name=$1 dir=$2 pkg=$3 mod=$4 want=$5 extra=${6:-}
	if [[ -f $out/$name && -x $out/$name ]]; then
		echo "envtest: $out/$name already built" >&2
		return 0
	fi
	local got
	got=$(cd "$dir" && go list -m -f '{{.Version}}' "$mod")
	if [[ $got != "$want" ]]; then
		echo "envtest: $dir/go.mod has $mod $got, build.sh expects $want" >&2
		exit 1
	fi
	local tmp="$out/.$name.tmp.$$"
	tmps+=("$tmp")
	local start=$SECONDS
	echo "envtest: building $name $want into $out (takes minutes) ..." >&2
	(cd "$dir" && go build -trimpath -ldflags "-s -w $extra" -o "$tmp" "$pkg") >&2
	chmod 0755 "$tmp"
	mv -f "$tmp" "$out/$name" # rename(2): never a half-written binary
	echo "envtest: built $name in $((SECONDS - start))s" >&2
}

kube_minor=${KUBE_VERSION#v1.}
kube_minor=${kube_minor%%.*}
cb=k8s.io/component-base/version
build kube-apiserver "$here" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes "$KUBE_VERSION" \
	"-X $cb.gitVersion=$KUBE_VERSION -X $cb.gitMajor=1 -X $cb.gitMinor=$kube_minor -X $cb.gitTreeState=clean"
build kubectl "$here" k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes "$KUBE_VERSION" \
	"-X $cb.gitVersion=$KUBE_VERSION -X $cb.gitMajor=1 -X $cb.gitMinor=$kube_minor -X $cb.gitTreeState=clean"
build etcd "$here/etcd" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 "$ETCD_VERSION"

echo "$out"
