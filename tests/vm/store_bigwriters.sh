#!/bin/sh
# Big values under the default lease (1000 ms): six writers PUT 200000-byte
# values (a different byte repeated each) into one key at once, 20 PUTs each,
# while a reader GETs it. No PUT fails (none of them holds its lock long
# enough to be cut off, none gives up waiting for a lock) and every GET
# returns one whole value of the right length, never a mix of two.
# Each writer and the reader is one `kvcli batch` connection: one kvcli per
# PUT costs about 300 ms of process start and connect under TCG, so the PUTs
# would hardly overlap; over batches they follow each other back to back.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"
start_server -m 64M -v 262144

pats="A B C D E F"
for p in $pats; do
	head -c 200000 /dev/zero | tr '\0' "$p" >"val.$p"
done
expect_exit 0 kvcli put big - <val.A # the reader always finds a value
t0=$(date +%s)

writer() { # writer PATTERN: 20 PUTs of val.PATTERN over one connection
	i=0
	while [ "$i" -lt 20 ]; do
		printf 'put big '
		cat "val.$1"
		echo
		i=$((i + 1))
	done | kvcli batch >"w.$1" 2>&1
	echo "$?" >"done.$1"
}
all_done() {
	for p in $pats; do [ -f "done.$p" ] || return 1; done
}
pids=""
for p in $pats; do
	writer "$p" &
	pids="$pids $!"
done
# The reader: a GET every 100 ms while the writers run (at most 900, 90 s).
i=0
while ! all_done && [ "$i" -lt 900 ]; do
	echo 'get big'
	sleep 0.1
	i=$((i + 1))
done | kvcli batch >reads 2>reader.err || fail "the reader exited $?: $(cat reader.err)"
all_done || fail "the writers did not finish within 90 s"
for p in $pids; do wait "$p"; done
took=$(($(date +%s) - t0))

for p in $pats; do
	[ "$(cat "done.$p")" = 0 ] || fail "writer $p exited $(cat "done.$p"): $(sort "w.$p" | uniq -c | cut -c1-80)"
	[ "$(grep -cx OK "w.$p")" = 20 ] || fail "writer $p: $(sort "w.$p" | uniq -c | cut -c1-80)"
done
log "6 writers x 20 PUTs of 200000 bytes: all OK"
# Every reply must be exactly one of the six "VALUE <200000 bytes>" lines.
for p in $pats; do
	{ printf 'VALUE '; cat "val.$p"; echo; } >"line.$p"
done
cat line.? >lines
reads=$(wc -l <reads)
bad=$(grep -cvxF -f lines reads)
seen=$(cut -c7 reads | sort | uniq -c | tr -s ' \n' '  ')
log "$reads reads, $bad not one whole value; values seen (count, byte):$seen"
[ "$reads" -gt 0 ] || fail "the reader read nothing"
[ "$bad" = 0 ] || fail "$bad reads were not one whole value"
log "took about $took s"
stats=$(kvcli stats) || fail "stats"
echo "$stats" | grep -q '"slots_locked":0,' || fail "a slot is still locked"
echo "$stats" | grep -q '"leases_broken":0,' || fail "a big writer was cut off: $stats"
stop_server || fail "kvserver exit status $?"
