#!/usr/bin/env bash
# Builds the Traefik ingress controller, which end-to-end tests run as a host
# process with its kubernetesIngress provider, from the pinned module in this
# directory into a cache directory outside the checkout, once; later runs
# reuse it.
#
#   traefik=$(bash hack/traefik/build.sh [DIR])/traefik
#
# DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/qaas/traefik/<version>.
# The directory (absolute) is printed as the last line of stdout; all build
# output goes to stderr. A cold build takes ~5 minutes on 2 idle cores (about
# 7 CPU-minutes), with a warm Go build cache seconds.
#
# `go install` cannot build Traefik (its go.mod has replace directives), so
# ./go.mod requires it and repeats those directives, pinned to published
# versions. The build runs in DIR/src, a copy of this directory plus ./lego:
# go-acme/lego as Traefik requires it, with the DNS provider registry replaced
# by ./lego_dns_providers.go.txt, which keeps the SDKs of dozens of DNS
# services out of the build. The end-to-end cluster serves certificates from
# Secrets; the binary cannot solve ACME DNS challenges.
#
# To change the version: edit TRAEFIK_VERSION and ./go.mod (the require, and
# the replaces if Traefik's own changed), prepare DIR/src as below for the lego
# version the new Traefik requires, run `go mod tidy` there and copy its
# go.mod and go.sum back here.
set -euo pipefail

TRAEFIK_VERSION=v3.7.13 # keep in step with ./go.mod
TRAEFIK_CODENAME=langres # what Traefik's release build stamps into v3.7.x

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/qaas/traefik/${TRAEFIK_VERSION}}

# shellcheck source=../cache.sh
source "$here/../cache.sh"
cache_open "$out" traefik
out=$CACHE_DIR

tmp="$out/.traefik.tmp.$$"
trap 'rm -f "$tmp"' EXIT

# Build for this machine whatever the caller's Go environment says, and only
# from the committed go.sum.
export CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly
unset GOOS GOARCH

# A fresh copy every time: an interrupted build may have left a partial one
# (files copied from the module cache are read-only until made writable).
src=$out/src
if [[ -e $src ]]; then
	chmod -R u+w "$src"
	rm -rf "$src"
fi
mkdir -p "$src"
cp "$here/go.mod" "$here/go.sum" "$here/tools.go" "$src/"
cp -R "$here/ext" "$src/ext"

got=$(cd "$src" && go list -m -f '{{.Version}}' github.com/traefik/traefik/v3)
if [[ $got != "$TRAEFIK_VERSION" ]]; then
	echo "traefik: $here/go.mod has traefik $got, build.sh expects $TRAEFIK_VERSION" >&2
	exit 1
fi

# ./lego: the lego version the module graph selects, from the module cache
# (go mod download checks it against the checksum database).
lego=github.com/go-acme/lego/v5
lego_version=$(cd "$src" && go list -m -f '{{.Version}}' "$lego")
lego_dir=$(cd "$src" && go mod download -json "$lego@$lego_version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [[ ! -d $lego_dir ]]; then
	echo "traefik: could not download $lego@$lego_version" >&2
	exit 1
fi
cp -R "$lego_dir" "$src/lego"
chmod -R u+w "$src/lego"
cp "$here/lego_dns_providers.go.txt" "$src/lego/providers/dns/zz_gen_dns_providers.go"

start=$SECONDS
echo "traefik: building traefik $TRAEFIK_VERSION into $out (takes minutes) ..." >&2
v=github.com/traefik/traefik/v3/pkg/version
(cd "$src" && go build -trimpath \
	-ldflags "-s -w -X $v.Version=${TRAEFIK_VERSION#v} -X $v.Codename=$TRAEFIK_CODENAME" \
	-o "$tmp" github.com/traefik/traefik/v3/cmd/traefik) >&2
chmod 0755 "$tmp"
mv -f "$tmp" "$out/traefik" # rename(2): never a half-written binary
echo "traefik: built traefik in $((SECONDS - start))s" >&2

echo "$out"
