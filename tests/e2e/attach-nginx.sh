#!/bin/bash
# Attaches leakwatch to the workers of an nginx started without it, while wrk puts load on it.
# Usage: attach-nginx.sh BUILD_DIR DIR FRONT_PORT BACK_PORT [WRK_SECONDS]
# nginx (master + 2 workers, tests/e2e/nginx-prefix.sh) runs from DIR; wrk runs WRK_SECONDS (default 6) over
# loopback; one second in, `leakwatch attach` each worker, then `leakwatch dump` each; after wrk, `leakwatch
# detach` each, then nginx is stopped. Prints one line per step ("attach PID rc=N ms=T", "dump PID rc=N
# tracking=yes|no", "detach PID rc=N", "alive PID yes|no") and then wrk's output. Exit 0 when it ran through.
# wrk's --timeout is 10 s: a response that takes longer than its default 2 s on this loaded 2-core machine (a
# jcmd JVM started by dump competes for the CPU) is slow, not failed; any error or non-2xx still fails the test.
set -u
build=$1 dir=$2 front=$3 back=$4 secs=${5:-6}
here=$(cd "$(dirname "$0")" && pwd)
"$here/nginx-prefix.sh" "$dir" "$front" "$back" || exit 1
/usr/sbin/nginx -p "$dir" -c conf/nginx.conf -e stderr -g 'daemon off;' 2>"$dir/stderr.log" &
master=$!
trap 'kill -TERM $master 2>/dev/null; wait $master 2>/dev/null' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$front") 2>/dev/null && break
    sleep 0.1
done
workers=""
for _ in $(seq 100); do
    workers=$(pgrep -P "$master" | tr '\n' ' ')
    [ "$(echo $workers | wc -w)" -ge 2 ] && break
    sleep 0.1
done
wrk -t1 -c4 --timeout 10s -d"${secs}s" "http://127.0.0.1:$front/" >"$dir/wrk.log" 2>&1 &
wrk=$!
sleep 1
for w in $workers; do
    out=$("$build/leakwatch" attach --quiet --min-age 0 "$w" 2>&1)
    rc=$?
    ms=$(echo "$out" | sed -n 's/.* in \([0-9.]*\) ms.*/\1/p')
    echo "attach $w rc=$rc ms=${ms:-none}"
    [ $rc -eq 0 ] || echo "$out"
done
sleep 1
for w in $workers; do
    "$build/leakwatch" dump "$w" >"$dir/dump.$w.txt" 2>"$dir/dump.$w.err"
    rc=$?
    grep -q "^Tracking started .*when leakwatch attached" "$dir/dump.$w.txt" && t=yes || t=no
    echo "dump $w rc=$rc tracking=$t"
done
wait $wrk
for w in $workers; do
    "$build/leakwatch" detach "$w" >/dev/null 2>&1
    echo "detach $w rc=$?"
    kill -0 "$w" 2>/dev/null && echo "alive $w yes" || echo "alive $w no"
done
cat "$dir/wrk.log"
