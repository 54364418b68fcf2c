#!/usr/bin/env bash
# `make e2e`: qaas installed and used the way users do, on a real single-node
# Kubernetes cluster on this host. It builds what it needs (once, cached
# outside the checkout), removes whatever an interrupted earlier run left,
# brings the cluster up, runs test/e2e against it, and tears it all down —
# on failure too — checking that the host is left as it was found.
#
# Run by the Makefile as root, with IMG (the image reference), IMAGE_TAR (the
# image `make image` wrote), MKIMAGE (the program that wrote it) and HELM (the
# helm binary) set.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${IMG:?}" "${IMAGE_TAR:?}" "${MKIMAGE:?}" "${HELM:?}"

phase() { printf 'e2e [%4ds] %s\n' "$SECONDS" "$*"; }

if [[ $(id -u) != 0 ]]; then
	echo "e2e: runs a Kubernetes node (containerd, kubelet, iptables): run it as root" >&2
	exit 1
fi
# One run at a time: a second would tear the first one's cluster down. The
# cluster's processes must not inherit the lock (`8>&-` below): one left by a
# killed run would hold it for ever.
exec 8>"${TMPDIR:-/tmp}/qaas-e2e.lock"
if ! flock -n 8; then
	echo "e2e: another make e2e runs on this host; wait for it to end" >&2
	exit 1
fi

phase "host packages"
packages=(containerd runc containernetworking-plugins iptables conntrack openssl curl)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	phase "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

phase "building the cluster's binaries (cached after the first run)"
ENVTEST=$(bash hack/envtest/build.sh)
K8SNODE=$(bash hack/k8snode/build.sh)
TRAEFIK=$(bash hack/traefik/build.sh)/traefik
export ENVTEST K8SNODE TRAEFIK
# The pod sandbox image, which a registry would otherwise provide.
bin=$(cd "$(dirname "$IMAGE_TAR")" && pwd)
(cd hack/image && GOWORK=off CGO_ENABLED=0 go build -trimpath -o "$bin/e2e-pause" ./pause)
PAUSE_TAR=$bin/e2e-pause.tar
"$MKIMAGE" -o "$PAUSE_TAR" -tag qaas.dev/e2e-pause:0 -arch "$(go env GOARCH)" -entrypoint /pause "$bin/e2e-pause=/pause"

phase "removing what an earlier run left, if anything"
bash hack/e2e/cluster.sh down 8>&-

W=${QAAS_E2E_DIR:-/tmp/qaas-e2e}
# snapshot prints the host state that the cluster changes while it runs.
snapshot() {
	local ipt tb
	for ipt in iptables ip6tables; do
		for tb in filter nat mangle raw; do
			echo "$ipt -t $tb"
			$ipt -t "$tb" -S 2>/dev/null || true
		done
	done
	ip -o link show | awk -F': ' '{print "link", $2}'
	awk '{print "mount", $2}' /proc/mounts | sort
	for s in net/ipv4/ip_forward net/bridge/bridge-nf-call-iptables net/ipv4/conf/all/route_localnet; do
		echo "sysctl $s $(cat "/proc/sys/$s" 2>/dev/null)"
	done
	# The cluster's processes name its state directory; its containers' are
	# the image's entrypoints.
	ps -eo args= | grep -E "^(/manager|/gateway|/pause)( |$)|$W" | grep -v grep | sed 's/^/process /' | sort || true
	ls -d /sys/fs/cgroup/*/kubepods /var/lib/cni/results/qaas-e2e-* /run/containerd "$W" 2>/dev/null | sed 's/^/path /' || true
}
before=$(mktemp)
snapshot >"$before"

teardown() {
	local status=$?
	set +e
	if ((status != 0)) && [[ -f $W/etc/admin.kubeconfig ]]; then
		phase "failed: the cluster as it was"
		local k=("$ENVTEST/kubectl" --kubeconfig "$W/etc/admin.kubeconfig")
		# One kind per get: a kind the cluster lacks fails the whole list.
		local kind
		for kind in nodes pods deployments queueapps; do "${k[@]}" get "$kind" -A -o wide; done
		bash hack/e2e/cluster.sh diagnose 8>&-
		"${k[@]}" get events -A --sort-by=.lastTimestamp | tail -n 30
		"${k[@]}" get queueapps -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}:{"\n"}{range .status.conditions[*]}  {.type}={.status} {.reason}: {.message}{"\n"}{end}{end}'
		"${k[@]}" -n qaas-system logs -l app.kubernetes.io/name=qaas --tail=40 --prefix
		for ns in team-a team-b; do "${k[@]}" -n "$ns" logs -l app.kubernetes.io/name=qaas-gateway --tail=20 --prefix; done
		# The components' logs outlive the teardown.
		local logs
		logs=$(mktemp -d "${TMPDIR:-/tmp}/qaas-e2e-logs.XXXXXX")
		# Where the operator is: SIGQUIT makes it print its goroutines and
		# exit; the kubelet keeps that log as the previous container's. The
		# goroutines in the project's own code are shown here.
		if pkill -QUIT -x manager; then
			sleep 3
			"${k[@]}" -n qaas-system logs -l app.kubernetes.io/name=qaas --previous --tail=-1 >"$logs/manager-goroutines.txt" 2>&1
			phase "the operator's goroutines in its own code (all in $logs/manager-goroutines.txt)"
			awk 'BEGIN { RS = "" } /qaas\.dev\/qaas\// { print; print "" }' "$logs/manager-goroutines.txt" | head -n 150
		fi
		cp -r "$W/log/." "$logs/"
		phase "the cluster components' logs are in $logs"
	fi
	phase "tearing the cluster down"
	bash hack/e2e/cluster.sh down 8>&-
	local after
	after=$(mktemp)
	snapshot >"$after"
	if ! diff -u "$before" "$after" >"$after.diff"; then
		echo "e2e: the host is not as it was before the run:" >&2
		cat "$after.diff" >&2
		status=1
	fi
	rm -f "$before" "$after" "$after.diff"
	phase "finished: $( ((status == 0)) && echo passed || echo FAILED)"
	exit "$status"
}
trap teardown EXIT
# A signal ends the run through the EXIT trap, so the host is cleaned then too.
trap 'exit 130' INT TERM HUP

phase "bringing the cluster up"
# A cluster that does not come up says why (cluster.sh diagnose) and is tried
# once more from scratch: that is the host, not the product under test.
if ! KUBECONFIG=$(bash hack/e2e/cluster.sh up "$IMAGE_TAR" "$PAUSE_TAR" 8>&-); then
	phase "the cluster did not come up; removing it and trying once more"
	bash hack/e2e/cluster.sh down 8>&-
	KUBECONFIG=$(bash hack/e2e/cluster.sh up "$IMAGE_TAR" "$PAUSE_TAR" 8>&-)
fi

phase "running test/e2e"
KUBECONFIG=$KUBECONFIG KUBECTL=$ENVTEST/kubectl HELM=$HELM QAAS_IMAGE=$IMG \
	go test -tags e2e -count=1 -v -timeout 20m ./test/e2e/
