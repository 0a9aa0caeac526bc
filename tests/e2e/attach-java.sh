#!/bin/bash
# Attaches leakwatch to the Netty gateway (tests/java/NettyGateway.java, leak mode, Netty's default pooled
# allocator, no JVM flag of leakwatch's) while wrk puts load on it, through HotSpot's attach mechanism.
# Usage: attach-java.sh BUILD_DIR DIR PORT [WRK_SECONDS]
# wrk runs WRK_SECONDS (default 8) over loopback; two seconds in, `leakwatch attach`, three seconds later
# `leakwatch dump`, after wrk `leakwatch detach`, then the JVM is stopped. Prints "attach PID rc=N ms=T",
# "dump PID rc=N tracking=yes|no java_frames=N new_chunk=N body=N", "detach PID rc=N", "alive PID yes|no", then
# wrk's output. In the native leak records (the part before "Java heap:"), java_frames counts the Java frames
# named Class.method(File.java:N), new_chunk those of PoolArena$DirectArena.newChunk (the pooled allocator's
# malloc of a chunk) and body those of NettyGateway.buildOrderBody at the line that allocates the body.
# -Dgateway.items=360 makes ~16 KiB bodies, so the leak needs a new 16 MiB chunk every ~1,000 requests.
# wrk's --timeout is 10 s: a response that takes longer than its default 2 s on this loaded 2-core machine (a
# jcmd JVM started by dump competes for the CPU) is slow, not failed; any error or non-2xx still fails the test.
# The leak mode leaks one ~16 KiB body a request: on a quiet machine 8 s of wrk make 64,000 requests, 1 GiB.
# MaxDirectMemorySize=4g keeps Netty from running out of it (OutOfDirectMemoryError, connections reset) within
# the run, which would be the leak, not the attach.
set -u
build=$1 dir=$2 port=$3 secs=${4:-8}
here=$(cd "$(dirname "$0")" && pwd)
cp=$("$here/build-java.sh" "$build" | tail -n 1) || exit 1
java -Xmx256m -Dgateway.items=360 -XX:MaxDirectMemorySize=4g -XX:-CreateCoredumpOnCrash "-XX:ErrorFile=$dir/hs_err_%p.log" -Dio.netty.tryReflectionSetAccessible=true \
    --add-opens java.base/java.nio=ALL-UNNAMED --add-opens java.base/jdk.internal.misc=ALL-UNNAMED \
    -cp "$cp" NettyGateway "$port" leak >"$dir/java.log" 2>&1 &
jvm=$!
trap 'kill -TERM $jvm 2>/dev/null; wait $jvm 2>/dev/null' EXIT
for _ in $(seq 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 $jvm 2>/dev/null || { echo "the JVM exited:"; cat "$dir/java.log"; exit 1; }
    sleep 0.1
done
wrk -t1 -c4 --timeout 10s -d"${secs}s" "http://127.0.0.1:$port/orders" >"$dir/wrk.log" 2>&1 &
wrk=$!
sleep 2
out=$("$build/leakwatch" attach --quiet --min-age 0 "$jvm" 2>&1)
rc=$?
echo "attach $jvm rc=$rc ms=$(echo "$out" | sed -n 's/.* in \([0-9.]*\) ms.*/\1/p')"
[ $rc -eq 0 ] || echo "$out"
sleep 3
"$build/leakwatch" dump "$jvm" >"$dir/dump.txt" 2>"$dir/dump.err"
rc=$?
grep -q "^Tracking started .*when leakwatch attached" "$dir/dump.txt" && t=yes || t=no
sed '/^Java heap: /q' "$dir/dump.txt" >"$dir/native.txt"
body_line=$(grep -n 'ByteBuf body = alloc.directBuffer(' "$here/../java/NettyGateway.java" | cut -d: -f1)
named=$(grep -cE '^	[A-Za-z_$][A-Za-z0-9_$.]*\.[A-Za-z_$<>][A-Za-z0-9_$<>]*\([A-Za-z0-9_$]+\.java:[0-9]+\)$' "$dir/native.txt")
chunk=$(grep -cE '^	io\.netty\.buffer\.PoolArena\$DirectArena\.newChunk\(PoolArena\.java:[0-9]+\)$' "$dir/native.txt")
body=$(grep -cxF "	NettyGateway.buildOrderBody(NettyGateway.java:${body_line:-0})" "$dir/native.txt")
echo "dump $jvm rc=$rc tracking=$t java_frames=$named new_chunk=$chunk body=$body"
wait $wrk
"$build/leakwatch" detach "$jvm" >/dev/null 2>&1
echo "detach $jvm rc=$?"
kill -0 "$jvm" 2>/dev/null && echo "alive $jvm yes" || echo "alive $jvm no"
cat "$dir/wrk.log"
