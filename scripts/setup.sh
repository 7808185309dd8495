#!/usr/bin/env bash
# Install the Debian 12 packages this project needs, if any are missing.
#
#   scripts/setup.sh           install what is missing (as root), else say how
#   scripts/setup.sh --check   only report; exit 1 if something is missing
#
# Build: compiler, CMake, rdma-core headers, jansson, Check, xxHash.
# VM tests: QEMU, a Debian kernel with rdma_rxe, busybox, rdma-core tools.
# Benchmarks: Redis (the baseline) and gnuplot.
# Fuzzing: clang and libFuzzer (docs/testing.md).
# Idempotent: when everything is installed it changes nothing and needs no root.
set -euo pipefail

build_pkgs=(cmake gcc make pkg-config libibverbs-dev librdmacm-dev libjansson-dev libssl-dev
	check libxxhash-dev)
vm_pkgs=(qemu-system-x86 linux-image-amd64 busybox-static cpio rdma-core
	ibverbs-providers ibverbs-utils rdmacm-utils perftest kmod iproute2)
bench_pkgs=(redis-server redis-tools gnuplot-nox python3)
# Fuzzing (-DKV_FUZZ=ON): clang, and libFuzzer with clang's sanitizer
# runtimes (libclang-rt-14-dev; clang does not pull it in). gcc's ASan and
# UBSan (-DKV_SANITIZE=ON) come with gcc.
fuzz_pkgs=(clang libclang-rt-14-dev)
all_pkgs=("${build_pkgs[@]}" "${vm_pkgs[@]}" "${bench_pkgs[@]}" "${fuzz_pkgs[@]}")

say() { echo "setup: $*"; }

check_only=""
case ${1:-} in
"") ;;
--check) check_only=1 ;;
-h | --help) sed -n '4,5s/^# *//p' "$0"; exit 0 ;;
*) echo "usage: scripts/setup.sh [--check]" >&2; exit 2 ;;
esac

command -v dpkg-query >/dev/null || { say "dpkg-query not found: this script is for Debian 12" >&2; exit 2; }

# Packages of the list that are not installed, one line with spaces.
missing_pkgs() {
	local p status out=()
	for p in "${all_pkgs[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[ "$status" = installed ] || out+=("$p")
	done
	echo "${out[*]}"
}

read -r -a missing <<<"$(missing_pkgs)"
if [ ${#missing[@]} -eq 0 ]; then
	say "all ${#all_pkgs[@]} packages are installed"
	exit 0
fi
say "missing: ${missing[*]}"
install_line="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ -n "$check_only" ]; then
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	say "not root; as root (or with sudo), run:" >&2
	echo "  $install_line" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
say "running (can take a few minutes): $install_line"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

read -r -a still <<<"$(missing_pkgs)"
if [ ${#still[@]} -gt 0 ]; then
	say "still missing after apt-get: ${still[*]}" >&2
	exit 1
fi
say "installed ${#missing[@]} package(s); all ${#all_pkgs[@]} are present"
