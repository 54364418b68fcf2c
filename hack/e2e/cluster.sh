#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this host, for `make e2e`: pods run
# in containerd/runc, Services through kube-proxy's iptables rules, Ingresses
# through Traefik running as a host process. No registry: images are imported
# into containerd from tarballs.
#
#   hack/e2e/cluster.sh up IMAGE.tar...   # start it (about 10 s); prints KUBECONFIG's path last
#   hack/e2e/cluster.sh down              # stop it and remove every trace from the host
#   hack/e2e/cluster.sh diagnose          # what the node and its runtime say, for a failed run
#
# Needs root, the Debian packages containerd, runc, containernetworking-plugins,
# iptables, conntrack and openssl, and these variables: ENVTEST (kube-apiserver,
# etcd, kubectl), K8SNODE (kubelet, kube-controller-manager, kube-scheduler,
# kube-proxy), TRAEFIK (the traefik binary). All state lives under
# QAAS_E2E_DIR (default /tmp/qaas-e2e), so that `down` can find and undo what a
# run left, even one that was killed.
#
# Ports: etcd 38379/38380, kube-apiserver 38443, kube-controller-manager 38257,
# kube-scheduler 38259, kubelet 38250/38248, kube-proxy 38249/38256, Traefik
# 127.0.0.1:443 (HTTPS, so that a QueueApp's URL works without a port) and
# 127.0.0.1:38081 (its ping). Pods get addresses in 10.88.0.0/16 on the bridge
# qaas-e2e0, Services in 10.96.0.0/16. There is no cluster DNS.
set -euo pipefail

W=${QAAS_E2E_DIR:-/tmp/qaas-e2e}
B=$W/bin
P=$W/pki
L=$W/log
R=$W/run
E=$W/etc
NODE=qaas-e2e
BRIDGE=qaas-e2e0
KCFG=$E/admin.kubeconfig

kubectl() { "$ENVTEST/kubectl" --kubeconfig "$KCFG" "$@"; }
ctr() { command ctr -a "$R/containerd.sock" -n k8s.io "$@"; }

# start NAME CMD...: runs CMD in the background, its log in $L/NAME.log.
start() {
	local name=$1
	shift
	nohup "$@" >"$L/$name.log" 2>&1 &
	echo $! >"$R/$name.pid"
}

# waitfor WHAT SECONDS CMD...: retries CMD until it succeeds.
waitfor() {
	local what=$1 limit=$2 t=$SECONDS
	shift 2
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS - t > limit)); then
			echo "cluster: $what did not come within ${limit}s; logs in $L" >&2
			return 1
		fi
		sleep 0.3
	done
}

node_ip() {
	local dev
	dev=$(ip route show default | awk '{print $5; exit}')
	if [[ -z $dev ]]; then
		echo "cluster: the host has no default route, so no address for the node" >&2
		return 1
	fi
	ip -4 -o addr show "$dev" | awk '{print $4}' | cut -d/ -f1 | head -n1
}

pki() {
	[[ -f $P/ca.crt ]] && return 0
	mkdir -p "$P"
	local ip=$1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/ca.key" -subj /CN=qaas-e2e-ca -days 30 -out "$P/ca.crt" 2>/dev/null
	# leaf NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA.
	leaf() {
		openssl req -newkey rsa:2048 -nodes -keyout "$P/$1.key" -subj "$2" -out "$P/$1.csr" 2>/dev/null
		printf '%s\n' "$3" >"$P/$1.ext"
		openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 30 \
			-extfile "$P/$1.ext" -out "$P/$1.crt" 2>/dev/null
	}
	leaf apiserver /CN=kube-apiserver "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,IP:$ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth"
	# One client certificate for the test cluster's components and its user.
	leaf admin /O=system:masters/CN=admin "extendedKeyUsage=clientAuth"
	openssl genrsa -out "$P/sa.key" 2048 2>/dev/null
	openssl rsa -in "$P/sa.key" -pubout -out "$P/sa.pub" 2>/dev/null
}

configs() {
	mkdir -p "$E" "$W/cni"
	local k=("$ENVTEST/kubectl" config --kubeconfig="$KCFG")
	"${k[@]}" set-cluster e2e --server=https://127.0.0.1:38443 --certificate-authority="$P/ca.crt" --embed-certs >/dev/null
	"${k[@]}" set-credentials admin --client-certificate="$P/admin.crt" --client-key="$P/admin.key" --embed-certs >/dev/null
	"${k[@]}" set-context e2e --cluster=e2e --user=admin >/dev/null
	"${k[@]}" use-context e2e >/dev/null
	cat >"$E/containerd.toml" <<-EOF
		version = 2
		root = "$W/data/containerd"
		state = "$R/containerd"
		[grpc]
		  address = "$R/containerd.sock"
		[ttrpc]
		  address = "$R/containerd-ttrpc.sock"
		[debug]
		  address = "$R/containerd-debug.sock"
		[metrics]
		  address = ""
		[plugins."io.containerd.grpc.v1.cri"]
		  # imported from a tarball, never pulled
		  sandbox_image = "qaas.dev/e2e-pause:0"
		  disable_apparmor = true
		  # Root in a container may lack CAP_SYS_RESOURCE, so lowering a
		  # process's oom_score_adj is refused and runc would fail every pod
		  # sandbox.
		  restrict_oom_score_adj = true
		  netns_mounts_under_state_dir = true
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        SystemdCgroup = false
		        Root = "$R/runc"
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$W/cni"
	EOF
	cat >"$W/cni/10-qaas-e2e.conflist" <<-EOF
		{
		  "cniVersion": "1.0.0",
		  "name": "qaas-e2e",
		  "plugins": [
		    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
		     "ipam": {"type": "host-local", "dataDir": "$W/data/cni-ipam",
		              "ranges": [[{"subnet": "10.88.0.0/16"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
		    {"type": "portmap", "capabilities": {"portMappings": true}},
		    {"type": "loopback"}
		  ]
		}
	EOF
	cat >"$E/kubelet.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		failCgroupV1: false
		cgroupDriver: cgroupfs
		failSwapOn: false
		containerRuntimeEndpoint: unix://$R/containerd.sock
		address: 0.0.0.0
		port: 38250
		healthzBindAddress: 127.0.0.1
		healthzPort: 38248
		readOnlyPort: 0
		authentication:
		  anonymous: {enabled: true}
		  webhook: {enabled: false}
		  x509: {clientCAFile: $P/ca.crt}
		authorization: {mode: AlwaysAllow}
		resolvConf: /etc/resolv.conf
		evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
		# The images come from tarballs: collecting them would lose them.
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
	EOF
	cat >"$E/traefik.yaml" <<-EOF
		entryPoints:
		  ping: {address: "127.0.0.1:38081"}
		  websecure: {address: "127.0.0.1:443", http: {tls: {}}}
		providers:
		  kubernetesIngress:
		    ingressClass: traefik
		    throttleDuration: 0s
		    # Publishes the address on the Ingresses' status, as a cloud load balancer would.
		    ingressEndpoint: {ip: 127.0.0.1}
		ping: {entryPoint: ping}
		log: {level: INFO}
		global: {checkNewVersion: false, sendAnonymousUsage: false}
	EOF
}

# cluster_ports are the ports the cluster's processes listen on (above).
cluster_ports=38081,38248-38259,38379-38380,38443

# reserve_ports adds cluster_ports to the host's reserved ports, which
# were $1.
reserve_ports() {
	echo "${1:+$1,}$cluster_ports" >/proc/sys/net/ipv4/ip_local_reserved_ports
}

up() {
	(($#)) || { echo "usage: cluster.sh up IMAGE.tar..." >&2; exit 2; }
	local ip t0=$SECONDS
	ip=$(node_ip)
	mkdir -p "$B" "$L" "$R" "$W/data"
	pki "$ip"
	configs
	# Bridged pod traffic through iptables (Services) needs br_netfilter.
	[[ -e /proc/sys/net/bridge ]] || modprobe br_netfilter
	# Saved once, so that down restores what the host had before the first up.
	[[ -f $W/sysctl.orig ]] || cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/bridge/bridge-nf-call-iptables \
		/proc/sys/net/ipv4/conf/all/route_localnet /proc/sys/net/ipv4/ip_local_reserved_ports >"$W/sysctl.orig"
	# The cluster's ports lie in the ephemeral range: reserved, no process
	# that listens on port 0 (a test's broker or gateway) takes one first.
	reserve_ports "$(sed -n 4p "$W/sysctl.orig")"
	echo 1 >/proc/sys/net/ipv4/ip_forward
	echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
	# libcni keeps its result cache under /var/lib/cni whatever the config.
	[[ -d /var/lib/cni || -f $W/var-lib-cni.created ]] || touch "$W/var-lib-cni.created"

	start containerd containerd --config "$E/containerd.toml"
	waitfor containerd 30 ctr version
	local img
	for img in "$@"; do ctr images import "$img" >/dev/null; done

	start etcd "$ENVTEST/etcd" --data-dir "$W/data/etcd" --name default \
		--listen-client-urls http://127.0.0.1:38379 --advertise-client-urls http://127.0.0.1:38379 \
		--listen-peer-urls http://127.0.0.1:38380 --initial-advertise-peer-urls http://127.0.0.1:38380 \
		--initial-cluster default=http://127.0.0.1:38380 --unsafe-no-fsync --log-level warn
	start kube-apiserver "$ENVTEST/kube-apiserver" --etcd-servers http://127.0.0.1:38379 \
		--bind-address 0.0.0.0 --secure-port 38443 --advertise-address "$ip" \
		--service-cluster-ip-range 10.96.0.0/16 --allow-privileged=true \
		--client-ca-file "$P/ca.crt" --tls-cert-file "$P/apiserver.crt" --tls-private-key-file "$P/apiserver.key" \
		--kubelet-client-certificate "$P/admin.crt" --kubelet-client-key "$P/admin.key" \
		--kubelet-preferred-address-types InternalIP \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$P/sa.pub" --service-account-signing-key-file "$P/sa.key" \
		--authorization-mode Node,RBAC --enable-priority-and-fairness=false
	waitfor kube-apiserver 60 kubectl get --raw /readyz
	start kube-controller-manager "$K8SNODE/kube-controller-manager" --kubeconfig "$KCFG" \
		--authentication-kubeconfig "$KCFG" --authorization-kubeconfig "$KCFG" \
		--bind-address 127.0.0.1 --secure-port 38257 --leader-elect=false \
		--service-account-private-key-file "$P/sa.key" --root-ca-file "$P/ca.crt"
	start kube-scheduler "$K8SNODE/kube-scheduler" --kubeconfig "$KCFG" \
		--authentication-kubeconfig "$KCFG" --authorization-kubeconfig "$KCFG" \
		--bind-address 127.0.0.1 --secure-port 38259 --leader-elect=false
	start kubelet "$K8SNODE/kubelet" --kubeconfig "$KCFG" --config "$E/kubelet.yaml" \
		--root-dir "$W/data/kubelet" --hostname-override "$NODE" --node-ip "$ip"
	start kube-proxy "$K8SNODE/kube-proxy" --kubeconfig "$KCFG" --proxy-mode iptables \
		--hostname-override "$NODE" --cluster-cidr 10.88.0.0/16 \
		--metrics-bind-address 127.0.0.1:38249 --healthz-bind-address 127.0.0.1:38256 \
		--conntrack-max-per-core 0
	start traefik env KUBECONFIG="$KCFG" "$TRAEFIK" --configFile="$E/traefik.yaml"
	kubectl apply -f - >/dev/null <<-EOF
		apiVersion: networking.k8s.io/v1
		kind: IngressClass
		metadata: {name: traefik}
		spec: {controller: traefik.io/ingress-controller}
	EOF
	# Ready comes in 5-8 s here; the margin is for a host busy with other work.
	waitfor "node Ready" 120 kubectl wait --for=condition=Ready "node/$NODE" --timeout=2s || { diagnose; return 1; }
	waitfor "default ServiceAccount" 30 kubectl get serviceaccount default || { diagnose; return 1; }
	waitfor "Traefik" 30 curl -sf http://127.0.0.1:38081/ping || { diagnose; return 1; }
	echo "cluster: up in $((SECONDS - t0))s; node $NODE at $ip" >&2
	echo "$KCFG"
}

# diagnose prints, on stderr, what explains a cluster that does not come up
# or a run that fails: the node's conditions and the latest errors of the
# kubelet and containerd, whose whole logs are in $L.
diagnose() {
	[[ -d $W ]] || return 0
	{
		echo "cluster: node conditions"
		kubectl get node "$NODE" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' 2>&1
		local c
		for c in kubelet containerd; do
			echo "cluster: the last errors and warnings of $c"
			grep -E '^[EW][0-9]{4} |level=(error|warning)' "$L/$c.log" 2>/dev/null | tail -n 25
			echo "cluster: the last lines of $c"
			tail -n 10 "$L/$c.log" 2>/dev/null
		done
	} >&2 || true
}

# stop NAME: SIGTERM, then SIGKILL after 10 s, if the pid file's process
# is still the cluster's (its command line names the state directory).
stop() {
	local f=$R/$1.pid p
	[[ -f $f ]] || return 0
	p=$(cat "$f")
	if grep -qF "$W" "/proc/$p/cmdline" 2>/dev/null && kill "$p" 2>/dev/null; then
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.2
		done
		kill -9 "$p" 2>/dev/null || true
	fi
	rm -f "$f"
}

down() {
	[[ -d $W ]] || return 0
	set +e
	local t0=$SECONDS
	# Pods first, while the kubelet runs: the CNI plugin frees their
	# addresses and rules as each sandbox goes.
	if [[ -x ${ENVTEST:-}/kubectl && -f $R/kubelet.pid ]] && kill -0 "$(cat "$R/kubelet.pid")" 2>/dev/null; then
		kubectl delete deployments,daemonsets,statefulsets,jobs --all -A --wait=false >/dev/null 2>&1
		kubectl delete pods --all -A --grace-period=1 --timeout=60s >/dev/null 2>&1
	fi
	stop traefik
	stop kubelet
	stop kube-proxy
	[[ -x ${K8SNODE:-}/kube-proxy ]] && "$K8SNODE/kube-proxy" --cleanup >/dev/null 2>&1
	stop kube-controller-manager
	stop kube-scheduler
	stop kube-apiserver
	stop etcd
	# Container shims outlive containerd: kill what still runs.
	if [[ -S $R/containerd.sock ]]; then
		local t
		for t in $(ctr tasks ls -q 2>/dev/null); do ctr tasks kill -s KILL "$t" >/dev/null 2>&1; done
		sleep 1
		for t in $(ctr tasks ls -q 2>/dev/null); do ctr tasks rm -f "$t" >/dev/null 2>&1; done
	fi
	stop containerd
	pkill -9 -f "containerd-shim.*$R" 2>/dev/null
	# Secret tmpfs, overlay root filesystems, network namespaces, shm: deepest first.
	local m
	for _ in 1 2 3; do
		awk '{print $2}' /proc/mounts | grep -E "^$W/" | sort -r | while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		done
	done
	ip link del "$BRIDGE" 2>/dev/null
	# Every KUBE-* and CNI-* chain, and the jumps into them: kube-proxy
	# --cleanup leaves the kubelet's own (KUBE-FIREWALL, KUBE-KUBELET-CANARY).
	local ipt tb c r
	for ipt in iptables ip6tables; do
		for tb in filter nat mangle; do
			$ipt -t "$tb" -S 2>/dev/null | grep -E '^-A .* -j (KUBE|CNI)-' | grep -vE '^-A (KUBE|CNI)-' | sed 's/^-A/-D/' |
				while read -r r; do eval "$ipt -t $tb $r"; done
			for c in $($ipt -t "$tb" -S 2>/dev/null | awk '/^-N (KUBE|CNI)-/{print $2}'); do $ipt -t "$tb" -F "$c"; done
			for c in $($ipt -t "$tb" -S 2>/dev/null | awk '/^-N (KUBE|CNI)-/{print $2}'); do $ipt -t "$tb" -X "$c"; done
		done
	done
	# Fixed paths of containerd 1.6 and libcni outside $W.
	rm -f /var/lib/cni/results/qaas-e2e-*
	[[ -f $W/var-lib-cni.created ]] && rm -rf /var/lib/cni
	rmdir /run/containerd/s /run/containerd/fifo /run/containerd 2>/dev/null
	# The kubelet's cgroupfs trees, one per controller on cgroup v1.
	local h
	for h in /sys/fs/cgroup/*/; do
		[[ -d ${h}kubepods ]] && find "${h}kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	if [[ -f $W/sysctl.orig ]]; then
		local a b2 c2 d2
		{ read -r a; read -r b2; read -r c2; read -r d2 || d2=; } <"$W/sysctl.orig"
		echo "$d2" >/proc/sys/net/ipv4/ip_local_reserved_ports
		echo "$a" >/proc/sys/net/ipv4/ip_forward
		echo "$b2" >/proc/sys/net/bridge/bridge-nf-call-iptables
		echo "$c2" >/proc/sys/net/ipv4/conf/all/route_localnet
	fi
	if grep -q " $W/" /proc/mounts; then
		echo "cluster: mounts left under $W:" >&2
		grep " $W/" /proc/mounts >&2
		return 1
	fi
	rm -rf "$W"
	echo "cluster: down in $((SECONDS - t0))s" >&2
}

case ${1:-} in
up)
	shift
	: "${ENVTEST:?}" "${K8SNODE:?}" "${TRAEFIK:?}"
	up "$@"
	;;
down) down ;;
diagnose) diagnose ;;
*)
	sed -n '2,10p' "$0"
	exit 2
	;;
esac
