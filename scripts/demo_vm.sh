#!/bin/sh
# The end-to-end demo: start kvserver, use it through kvcli, stop it.
#
# POSIX sh (busybox ash in the VM). scripts/demo.sh runs it either inside the
# Soft-RoCE VM as a scenario of scripts/vm/run.sh, or on a host with an RDMA
# device. Needs kvserver and kvcli on PATH and KV_ADDR, the address of an RDMA
# netdev to listen and connect on. Each command is echoed before it runs
# ("$ kvcli get greeting"); the script exits nonzero at the first step that
# does not give the expected result.
set -u

: "${KV_ADDR:?set KV_ADDR to the IP address of an RDMA netdev}"
export KV_ADDR

work=$(mktemp -d "${TMPDIR:-/tmp}/kvdemo.XXXXXX") || exit 3
server_pid=""

cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -KILL "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "demo: FAILED: $*" >&2
	if [ -s "$work/server.log" ]; then
		echo "demo: last lines of the kvserver log:" >&2
		tail -n 20 "$work/server.log" >&2
	fi
	exit 1
}

# show ARG...: print the command line as one could type it.
show() {
	line='$'
	for a in "$@"; do
		case $a in
		"" | *[!A-Za-z0-9_./:=,@%+-]*)
			a="'$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'" ;;
		esac
		line="$line $a"
	done
	printf '\n%s\n' "$line"
}

# expect CODE CMD...: echo CMD, run it (output shown), fail unless it exits CODE.
expect() {
	want=$1
	shift
	show "$@"
	"$@"
	got=$?
	[ "$got" = "$want" ] || fail "exit status $got (expected $want) from: $*"
	[ "$want" = 0 ] || echo "(exit status $got, as expected)"
}

# --- the server ---------------------------------------------------------------
printf '$ kvserver -a %s -m 64M 2>server.log &\n' "$KV_ADDR"
kvserver -a "$KV_ADDR" -m 64M 2>"$work/server.log" &
server_pid=$!
i=0
until grep -q 'listening on' "$work/server.log"; do
	kill -0 "$server_pid" 2>/dev/null || { wait "$server_pid"; fail "kvserver exited with status $? at start"; }
	i=$((i + 1))
	[ "$i" -le 100 ] || fail "kvserver did not say 'listening on' within 10 s"
	sleep 0.1
done
sed 's/^/  [server] /' "$work/server.log"

# --- the original rdma-example workflow ---------------------------------------
expect 0 kvcli demo -s "hello from kvcli"

# --- single operations ---------------------------------------------------------
expect 0 kvcli put greeting "hello, RDMA"
show kvcli get greeting
value=$(kvcli get greeting) || fail "exit status $? from: kvcli get greeting"
printf '%s\n' "$value"
[ "$value" = "hello, RDMA" ] || fail "kvcli get greeting printed a different value"
expect 0 kvcli del greeting
expect 1 kvcli get greeting

# --- a batch over one connection ------------------------------------------------
cat >"$work/batch.in" <<'EOF'
put colour blue
put fruit apple pie
get colour
get fruit
get nothing
frobnicate colour
del colour
get colour
EOF
cat >"$work/batch.want" <<'EOF'
OK
OK
VALUE blue
VALUE apple pie
NOT_FOUND
ERROR
OK
NOT_FOUND
EOF
printf '\n$ kvcli batch <<EOF\n'
cat "$work/batch.in"
echo EOF
kvcli batch <"$work/batch.in" >"$work/batch.out" || fail "kvcli batch exited $?"
cat "$work/batch.out"
# Compare, keeping only the word "ERROR" of an error line (its reason may vary).
sed 's/^ERROR .*/ERROR/' "$work/batch.out" | cmp -s - "$work/batch.want" ||
	fail "kvcli batch answered differently from what was expected"

# --- stats and two short benchmarks ------------------------------------------
expect 0 kvcli stats
expect 0 kvcli bench --workload put --keys 200 --ops 500
expect 0 kvcli bench --workload get --keys 200 --ops 1000

# --- stop ----------------------------------------------------------------------
show kill -TERM "$server_pid"
kill -TERM "$server_pid"
wait "$server_pid"
rc=$?
server_pid=""
echo "kvserver exited with status $rc; its log:"
sed 's/^/  [server] /' "$work/server.log"
[ "$rc" = 0 ] || fail "kvserver exited with status $rc after SIGTERM"
printf '\ndemo: all steps passed\n'
