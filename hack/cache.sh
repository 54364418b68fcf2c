# Sourced by the scripts under hack/ that build binaries once into a cache
# directory outside the checkout (envtest, k8snode, traefik): each prints that
# directory as the last line of stdout, so callers write DIR=$(bash build.sh).

# cache_open DIR BINARY...: when every BINARY is already built in DIR, prints
# DIR and exits. Otherwise creates DIR, waits for any other build into it
# (flock), checks again, removes what a killed build left, and sets
# CACHE_DIR to DIR's absolute path for the caller to build into.
cache_open() {
	local dir=$1
	shift
	CACHE_BINARIES=("$@")
	if cache_ready "$dir"; then
		(cd "$dir" && pwd)
		exit 0
	fi
	mkdir -p "$dir"
	CACHE_DIR=$(cd "$dir" && pwd)
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$CACHE_DIR/.lock"
		flock 9
		if cache_ready "$CACHE_DIR"; then
			echo "$CACHE_DIR"
			exit 0
		fi
		rm -rf "$CACHE_DIR"/.*.tmp.* # left by a build that was killed outright
	fi
}

cache_ready() {
	local b
	for b in "${CACHE_BINARIES[@]}"; do
		[[ -f $1/$b && -x $1/$b ]] || return 1
	done
}
