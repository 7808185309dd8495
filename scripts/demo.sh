#!/usr/bin/env bash
# Set up, build and run the key-value store end to end.
#
#   scripts/demo.sh
#
# 1. scripts/setup.sh, if a package is missing (through sudo when not root).
# 2. cmake configure and build into build/.
# 3. scripts/demo_vm.sh: kvserver, then kvcli demo/put/get/del/batch/stats/
#    bench, then SIGTERM. Where it runs:
#    - on this host, if ibv_devices lists an RDMA device here: set KV_ADDR to
#      the IPv4 address of that device's netdev (the script will not guess);
#    - otherwise (or with KV_DEMO_VM=1) inside the Soft-RoCE QEMU VM of
#      scripts/vm/run.sh, where rxe0 sits on dummy0 at 192.0.2.1.
# Exit status 0 only if every step passed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

say() { echo "demo: $*"; }
t_start=$SECONDS

# --- 1. packages --------------------------------------------------------------
if ! scripts/setup.sh --check >/dev/null; then
	if [ "$(id -u)" -eq 0 ]; then
		scripts/setup.sh
	elif command -v sudo >/dev/null; then
		say "packages are missing; running: sudo scripts/setup.sh"
		sudo scripts/setup.sh
	else
		scripts/setup.sh # prints the apt-get line to run as root, exits 1
	fi
fi

# --- 2. build -----------------------------------------------------------------
say "building: cmake -S . -B build && cmake --build build -j$(nproc)"
t=$SECONDS
cmake -S . -B build >/dev/null
if ! cmake --build build -j"$(nproc)" >build/demo-build.log 2>&1; then
	tail -n 40 build/demo-build.log >&2
	say "the build failed (whole log: build/demo-build.log)" >&2
	exit 1
fi
say "built in $((SECONDS - t)) s"

# --- 3. run -------------------------------------------------------------------
# Names of the verbs devices on this host (ibv_devices fails when there are none).
devices=$(ibv_devices 2>/dev/null | awk 'NR > 2 && NF { print $1 }' || true)

if [ -n "$devices" ] && [ -z "${KV_DEMO_VM:-}" ]; then
	say "RDMA device(s) on this host: $(echo "$devices" | paste -sd ' ' -)"
	if [ -z "${KV_ADDR:-}" ]; then
		say "set KV_ADDR to the IPv4 address of the device's netdev and run again," >&2
		say "e.g. KV_ADDR=10.0.0.1 scripts/demo.sh (see 'rdma link' and 'ip -4 addr'); or KV_DEMO_VM=1 for the VM" >&2
		exit 2
	fi
	say "running scripts/demo_vm.sh on this host with KV_ADDR=$KV_ADDR"
	PATH=$root/build/bin:$PATH scripts/demo_vm.sh
else
	if [ -n "$devices" ]; then
		say "KV_DEMO_VM is set: using the Soft-RoCE VM"
	else
		say "no RDMA device on this host: running the demo in the Soft-RoCE VM (QEMU, about 10 s)"
	fi
	# An --out of our own: run.sh's default (build/vm-out) is where the VM tests write.
	rm -rf build/demo-out
	scripts/vm/run.sh --bin build/bin --out build/demo-out scripts/demo_vm.sh
fi
say "done in $((SECONDS - t_start)) s"
