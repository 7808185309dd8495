#!/bin/sh
# Issue 2: bad input and unreachable servers give clear messages and the
# documented exit codes, quickly.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"

# timed CMD...: run CMD; its exit status goes to $rc, the seconds taken to $t.
timed() {
	s=$(cut -d' ' -f1 /proc/uptime)
	"$@" >"$LAST_OUT" 2>"$LAST_ERR"
	rc=$?
	t=$(awk -v a="$s" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { print b - a }')
}

timed kvcli -a 10.9.9.9 get k
[ "$rc" = 3 ] || fail "no route: exit $rc, wanted 3"
grep -q '10.9.9.9:20886' "$LAST_ERR" || fail "no route: message does not name the address: $(cat "$LAST_ERR")"
log "no route: exit 3 in ${t}s: $(cat "$LAST_ERR")"
awk -v t="$t" 'BEGIN { exit !(t < 5) }' || fail "no route took ${t}s"

timed kvcli -a no-such-host.invalid demo -s x
[ "$rc" = 3 ] || fail "bad host name: exit $rc, wanted 3"
grep -q 'no-such-host.invalid' "$LAST_ERR" || fail "bad host name not named"

# Usage errors need no server and exit 2.
env -u KV_ADDR kvcli get k >/dev/null 2>"$LAST_ERR"; rc=$?
[ "$rc" = 2 ] || fail "no address: exit $rc, wanted 2"
grep -q KV_ADDR "$LAST_ERR" || fail "no address: message does not mention KV_ADDR"
expect_exit 2 kvcli -p 0 get k
expect_exit 2 kvcli -p 70000 get k
expect_exit 2 kvcli -t abc get k
expect_exit 2 kvcli nosuchcommand
expect_exit 2 kvcli get
expect_exit 2 kvcli get a b
expect_exit 2 kvcli demo -x y
expect_exit 2 kvcli demo -s ""
expect_exit 2 kvcli bench --workload z
expect_exit 0 kvcli --help
grep -q 'Exit codes' "$LAST_OUT" || fail "--help does not document exit codes"

expect_exit 2 kvserver -m 12Q
expect_exit 2 kvserver -p 0
expect_exit 2 kvserver -v 0
expect_exit 2 kvserver -v 65M # values up to 64 MiB
expect_exit 2 kvserver -H 30  # gone with layout v3 (issue 8)
expect_exit 2 kvserver -I 12Q
expect_exit 2 kvserver --bogus
expect_exit 2 kvserver extra-arg
expect_exit 0 kvserver --help
# A slab too small for its index is refused with a reason, as bad usage
# (exit 2), before anything is allocated.
expect_exit 2 kvserver -a "$KV_ADDR" -m 1M -I 1M
grep -q 'cannot hold an index' "$LAST_ERR" || fail "slab too small for its index: no reason given"
