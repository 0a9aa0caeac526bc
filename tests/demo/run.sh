#!/usr/bin/env bash
# make demo: runs the example gateway in leak mode under `leakwatch gate`, then shows one round's SIGUSR2 report,
# the gate's verdict and where the chart is. The demo succeeds when the gate finds the leak (gate exit 1):
# this script exits 0 then, and non-zero when the gate errs or, wrongly, passes.
set -u

B=${LEAKWATCH_BUILD:?"set LEAKWATCH_BUILD to the absolute build directory (make demo does)"}
# Not a setting of the shim: it would warn about it in the gateway.
unset LEAKWATCH_BUILD
for f in "$B/leakwatch" "$B/libleakwatch.so" "$B/demo/gateway" "$B/demo/load"; do
    if [ ! -e "$f" ]; then
        echo "demo: $f is missing; build it first with: make all" >&2
        exit 2
    fi
done

# A port nobody listens on: connecting to it must fail.
port=
for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        port=$p
        break
    fi
done
if [ -z "$port" ]; then
    echo "demo: found no free port on 127.0.0.1" >&2
    exit 2
fi

# The shim writes only into a directory no one else can write to.
out=$B/demo/reports
rm -rf "$out"
mkdir -p -m 0700 "$out" || exit 2
svg=$B/demo/leak.svg
log=$out/gate.log
rm -f "$svg"

# LEAKWATCH_MIN_AGE=0: a round lasts well under a second, so with the default 10 s age no block would be old
# enough to be listed as a leak in the round's text report.
export LEAKWATCH_OUT=$out LEAKWATCH_MIN_AGE=0

echo "demo: the example gateway (leak mode: /api/orders loses its body buffer) on 127.0.0.1:$port,"
echo "demo: 5 rounds of 2000 requests, the first one a warm-up"
echo "\$ leakwatch gate --rounds 5 --warmup 1 --load 'load --port $port --requests 2000' --ready-port $port \\"
echo "      --svg $svg -- gateway --port $port --mode leak"
echo
"$B/leakwatch" gate --rounds 5 --warmup 1 \
    --load "$B/demo/load --port $port --requests 2000" --ready-port "$port" \
    --svg "$svg" -- "$B/demo/gateway" --port "$port" --mode leak 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
echo

# The last round's SIGUSR2 report: the newest report whose reason is "signal" (the one after it, if any, is
# the report the gateway wrote at exit).
txt=
for json in $(cd "$out" && ls gateway.*.json 2>/dev/null | sort -t. -k3,3n); do
    if grep -Eq '"reason" *: *"signal"' "$out/$json"; then
        txt=$out/${json%.json}.txt
    fi
done
if [ -n "$txt" ] && [ -f "$txt" ]; then
    echo "---- a round's report (SIGUSR2), $(basename "$txt"), first lines ----"
    head -n 40 "$txt"
    echo "----"
    echo
fi
case $rc in
1)
    echo "demo: the gate found the leak (exit 1), as it should."
    echo "demo: chart of live bytes per round: $svg; every report: $out"
    [ -f "$svg" ] || { echo "demo: but the gate wrote no chart at $svg" >&2; exit 1; }
    exit 0
    ;;
0)
    echo "demo: the gate PASSED a gateway that leaks: that is a bug in leakwatch" >&2
    exit 1
    ;;
*)
    echo "demo: the gate failed to run (exit $rc); see its output above" >&2
    exit 2
    ;;
esac
