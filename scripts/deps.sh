#!/usr/bin/env bash
# Installs what crier needs to build, test and benchmark, from Debian
# packages (and the npm packages of the end-to-end tests from the committed
# package-lock.json). Idempotent: installs only what is missing, runs
# `apt-get update` at most once, and does nothing when all is present.
# Works as root; uses sudo otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: compiler, CMake, pkg-config and the libraries DESIGN.md names.
build_pkgs=(gcc make cmake pkg-config git libuv1-dev libssl-dev zlib1g-dev libjansson-dev
	libcmocka-dev libhiredis-dev)
# Test: clang + its runtime (libFuzzer, sanitizers), clang-format, Node for
# the end-to-end suites, curl and Python websockets as independent clients,
# Chromium for the browser suite (driven by playwright-core, which downloads
# no browser of its own), the openssl CLI for the TLS tests' certificates
# (and bench/tls.sh's s_time), redis-server for the Redis engine's
# end-to-end tests.
test_pkgs=(clang libclang-rt-14-dev clang-format curl nodejs python3-websockets chromium openssl
	redis-server)
# Benchmarks: wrk as the HTTP load generator, nginx and nginx+nchan as peers.
bench_pkgs=(wrk nginx-light libnginx-mod-nchan)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
	sudo_cmd=(sudo)
fi

missing=()
for p in "${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
# npm comes with nodesource's nodejs; Debian splits it into its own package.
if ! command -v npm >/dev/null 2>&1; then
	missing+=(npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	"${sudo_cmd[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages of the end-to-end clients and of the browser suite, pinned by
# their lock files; `npm ci` runs again only when a lock file changed.
for dir in tests/e2e tests/browser; do
	lock=$dir/package-lock.json
	stamp=$dir/node_modules/.crier-lock
	if [ -f "$lock" ] && ! cmp -s "$lock" "$stamp" 2>/dev/null; then
		echo "deps: npm ci in $dir"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
		cp "$lock" "$stamp"
	fi
done
echo "deps: ok"
