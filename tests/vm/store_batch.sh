#!/bin/sh
# Issue 3: 300 keys written over one batch connection, read back over another.
# shellcheck source=tests/vm/lib.sh
. "$KV_LIB"
start_server -m 16M

awk 'BEGIN { for (i = 0; i < 300; i++) printf "put key%03d value of key %d: %s\n", i, i, substr("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 1, i % 50) }' > /tmp/puts
kvcli batch < /tmp/puts > /tmp/put.out || fail "batch of puts exited $?"
[ "$(grep -c '^OK$' /tmp/put.out)" = 300 ] || fail "expected 300 OK lines, got: $(sort /tmp/put.out | uniq -c)"

awk 'BEGIN { for (i = 0; i < 300; i++) printf "get key%03d\n", i; print "get missing"; print "bogus"; print "del key000"; print "get key000" }' > /tmp/gets
kvcli batch < /tmp/gets > /tmp/get.out || fail "batch of gets exited $?"
awk '{ sub(/^put key[0-9]+ /, "VALUE "); print }' /tmp/puts > /tmp/want
printf 'NOT_FOUND\n' >> /tmp/want
head -301 /tmp/get.out | cmp - /tmp/want || fail "values read back differ"
sed -n 302p /tmp/get.out | grep -q '^ERROR ' || fail "bad line did not give ERROR"
[ "$(sed -n 303,304p /tmp/get.out | tr '\n' ' ')" = "OK NOT_FOUND " ] || fail "del inside batch"
[ "$(wc -l < /tmp/get.out)" = 304 ] || fail "one output line per input line"
log "300 keys written and read back over two batch connections"
stop_server || fail "kvserver exit status $?"
