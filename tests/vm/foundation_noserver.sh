#!/bin/sh
# No server on the port: kvcli fails fast with exit 3 and names the address.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$KV_LIB"

read -r t0 _ </proc/uptime
expect_exit 3 timeout 10 kvcli -p 20999 demo -s x
read -r t1 _ </proc/uptime
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
log "kvcli gave up after ${secs}s"
awk -v s="$secs" 'BEGIN { exit !(s < 5) }' || fail "kvcli took ${secs}s (limit 5 s)"
grep -Fq "$KV_ADDR" "$LAST_ERR" || fail "stderr does not name $KV_ADDR"
grep -q '^SUCCESS' "$LAST_OUT" && fail "SUCCESS printed without a server"
log "ok"
