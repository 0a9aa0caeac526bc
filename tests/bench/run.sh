#!/bin/bash
# run.sh — `make bench`: runs each workload with no tracker (base), under leakwatch (lw) and under heaptrack (ht),
# and nginx also started bare and then `leakwatch attach`ed worker by worker (at), interleaved, REPS times, and prints medians, ratios to base, memory, the cost of a report and the targets of
# issue 4. It reports, it does not gate: the exit status is 0 unless the harness itself cannot run.
# Settings (environment): REPS=3  BENCH_ONLY="churn report nginx java netty tools live javaheap heldby"  CHURN_OPS=2000000
# (allocator calls per thread)  CHURN_THREADS=2  NGINX_SECS=5  JAVA_CALLS=3000000 (per thread)  NETTY_SECS=6
# NETTY_WARMUP=10 (s)  TOOLS_SITES=120000 (sites in the synthetic reports the command reads)
# TOOLS_CASES="diff_same diff gate text text_top3 json json_top3 pprof html" (the commands timed on them)  JHEAP_SECS=10
# JHEAP_PAIRS=max(REPS,8) (on/off pairs of the javaheap workload)  HELDBY_MB=200 (live MiB of the 256 MiB heap
# before the report)  HELDBY_BOUNDS="default 100" (LEAKWATCH_JAVA_HELD_BY_MS of each heldby run)
# REPORT_THREADS=1  BENCH_CALLGRIND=1
# (adds instruction counts per churn operation, with and without the shim)  CG_OPS=100000  BENCH_PERF=1 (adds a
# perf profile of churn under the shim)  RUN_TIMEOUT=120 (s).
set -u
export LC_ALL=C
B=${LEAKWATCH_BUILD:?set LEAKWATCH_BUILD to the absolute build directory (make bench does)}
REPS=${REPS:-3}
BENCH_ONLY=${BENCH_ONLY:-churn report nginx java netty tools live javaheap heldby}
TOOLS_SITES=${TOOLS_SITES:-120000}
TOOLS_CASES=${TOOLS_CASES:-diff_same diff gate text text_top3 json json_top3 pprof html}
CHURN_OPS=${CHURN_OPS:-2000000}
CHURN_THREADS=${CHURN_THREADS:-2}
NGINX_SECS=${NGINX_SECS:-5}
JAVA_CALLS=${JAVA_CALLS:-3000000}
NETTY_SECS=${NETTY_SECS:-6}
NETTY_WARMUP=${NETTY_WARMUP:-10}
REPORT_THREADS=${REPORT_THREADS:-1}
BENCH_CALLGRIND=${BENCH_CALLGRIND:-0}
BENCH_PERF=${BENCH_PERF:-0}
CG_OPS=${CG_OPS:-100000}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
SHIM=$B/libleakwatch.so
CHURN=$B/bench/churn

tmp=$(mktemp -d /tmp/leakwatch-bench.XXXXXX) || exit 2
trap 'rm -rf "$tmp"' EXIT
declare -A R          # "<workload>.<cfg>.<metric>" -> the values of all reps, space-separated
SKIPPED=()            # lines saying what did not run and why
apt_updated=0

say() { printf '%s\n' "$*"; }
skip() { SKIPPED+=("$*"); say "SKIPPED: $*"; }
# add KEY VALUE [REP]: one more value of KEY; with REP also kept per rep, for ratios within a rep.
add() {
    R[$1]="${R[$1]:-} $2"
    [ -n "${3:-}" ] && R[$1@$3]=$2
    return 0
}
# kv LINE KEY: the value of KEY=value in LINE.
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1" | head -n 1; }
med() {
    printf '%s\n' ${R[$1]:-} | grep -E '^-?[0-9.]+$' | sort -g |
        awk '{a[NR]=$1} END {if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR+1)/2];
                              else printf "%.15g\n", (a[NR/2] + a[NR/2+1]) / 2}'
}
# calc EXPR: floating-point arithmetic, 3 significant digits or whole numbers; n/a when an operand is n/a.
calc() {
    case "$*" in
    *n/a*) echo n/a ;;
    *) awk "BEGIN {v = $*; printf((v >= 100 || v <= -100) ? \"%.0f\" : \"%.3g\", v)}" ;;
    esac
}

# need CMD PACKAGE: CMD is on PATH, installed with apt-get when we are root.
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" -ne 0 ]; then
        return 1
    fi
    say "installing $2 (for $1)"
    if [ $apt_updated = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1
    command -v "$1" >/dev/null 2>&1
}

CFGS=base
if [ -r "$SHIM" ]; then
    CFGS="$CFGS lw"
else
    skip "leakwatch configuration: $SHIM is not built"
fi
if need heaptrack heaptrack; then
    CFGS="$CFGS ht"
else
    skip "heaptrack configuration: heaptrack is not installed and could not be installed (not root?)"
fi
wanted() { case " $BENCH_ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
has_cfg() { case " $CFGS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# order REP [CONFIGS]: the configurations (default $CFGS) rotated by REP, so that none always runs first or last.
order() {
    local -a c=(${2:-$CFGS})
    local n=${#c[@]} i out=""
    for ((i = 0; i < n; i++)); do out="$out ${c[$(((i + $1) % n))]}"; done
    echo $out
}

# under CFG TAG CMD...: runs CMD in configuration CFG, stdout+stderr in $tmp/TAG.out, killed (with all its
# processes) after RUN_TIMEOUT seconds so that a hang under a tracker shows as a failed run. Leakwatch reports go
# to $tmp/lw.TAG, heaptrack's data to $tmp/ht.TAG.*; it is removed afterwards, as it can be large.
under() {
    local cfg=$1 tag=$2
    shift 2
    local t="timeout -k 5 $RUN_TIMEOUT"
    case $cfg in
    base | at) $t "$@" ;;
    lw) mkdir -p "$tmp/lw.$tag" && $t env LD_PRELOAD="$SHIM" LEAKWATCH_QUIET=1 LEAKWATCH_OUT="$tmp/lw.$tag" "$@" ;;
    ht) $t heaptrack -o "$tmp/ht.$tag" "$@" ;;
    esac >"$tmp/$tag.out" 2>&1
    local rc=$?
    [ $rc = 124 ] && echo "run.sh: killed after $RUN_TIMEOUT s" >>"$tmp/$tag.out"
    rm -f "$tmp/ht.$tag".*
    return $rc
}
# ht_recorded TAG: the allocations heaptrack says it recorded (its interpreter's closing statistics).
ht_recorded() { sed -n 's/^[[:space:]]*allocations:[[:space:]]*\([0-9]*\).*/\1/p' "$tmp/$1.out" | head -n 1; }
# lw_allocs TAG: the allocations the exit reports of every process of run TAG counted (totals.allocs).
lw_allocs() {
    cat "$tmp/lw.$1"/*.json 2>/dev/null | grep -o '"totals":{[^}]*}' | grep -o '"allocs":[0-9]*' |
        awk -F: '{s += $2; n++} END {printf "%d %d\n", s, n}'
}
fail_run() { say "  $1: FAILED; last lines of its output:"; tail -n 5 "$tmp/$2.out" | sed 's/^/    /'; }

# --- churn -----------------------------------------------------------------------------------------------
bench_churn() {
    say "== churn: $CHURN_THREADS threads, $CHURN_OPS allocator calls per thread, $REPS reps"
    local rep cfg tag line
    for ((rep = 1; rep <= REPS; rep++)); do
        for cfg in $(order $rep); do
            tag=churn.$cfg.$rep
            under $cfg $tag "$CHURN" --threads "$CHURN_THREADS" --ops "$CHURN_OPS"
            line=$(grep '^BENCH churn' "$tmp/$tag.out")
            if [ -z "$line" ]; then fail_run "$tag" "$tag"; continue; fi
            for k in ns_per_op cpu_ns_per_op rss_kb maxrss_kb live_blocks wall_ms; do add churn.$cfg.$k "$(kv "$line" $k)" $rep; done
            local extra=""
            if [ $cfg = ht ]; then
                add churn.ht.recorded "$(ht_recorded $tag)"
                extra=" heaptrack_recorded_allocs=$(ht_recorded $tag)"
            fi
            say "  rep $rep $cfg: ns/op=$(kv "$line" ns_per_op) cpu_ns/op=$(kv "$line" cpu_ns_per_op) rss_kb=$(kv "$line" rss_kb) live_blocks=$(kv "$line" live_blocks)$extra"
        done
    done
}

# --- live endpoint: churn under the shim, with and without /metrics scraped every second --------------------
# scrape_loop DIR: waits for the state file of the one process writing to DIR's run, then GETs /metrics once a
# second until the process is gone, appending curl's total time per request (s) to DIR/scrapes.
scrape_loop() {
    local dir=$1 pid=$2 addr="" i
    for ((i = 0; i < 200; i++)); do
        addr=$(sed -n 's/^http=//p' "/tmp/leakwatch-$(id -u)/$pid.state" 2>/dev/null)
        [ -n "$addr" ] && break
        sleep 0.05
    done
    [ -z "$addr" ] && return
    while kill -0 "$pid" 2>/dev/null; do
        curl -s -o /dev/null -w '%{time_total}\n' --max-time 5 "http://$addr/metrics" >>"$dir/scrapes" 2>/dev/null
        sleep 1
    done
}
bench_live() {
    if ! has_cfg lw; then skip "live endpoint: needs the leakwatch shim"; return; fi
    if ! need curl curl; then skip "live endpoint: needs curl"; return; fi
    say "== live endpoint: churn ($CHURN_THREADS threads, $CHURN_OPS calls each) under leakwatch, /metrics scraped every 1 s or not, $REPS reps"
    local rep mode tag line pid
    for ((rep = 1; rep <= REPS; rep++)); do
        for mode in plain scraped; do
            tag=live.$mode.$rep
            mkdir -p "$tmp/lw.$tag"
            if [ $mode = plain ]; then
                env LD_PRELOAD="$SHIM" LEAKWATCH_QUIET=1 LEAKWATCH_OUT="$tmp/lw.$tag" \
                    timeout -k 5 "$RUN_TIMEOUT" "$CHURN" --threads "$CHURN_THREADS" --ops "$CHURN_OPS" >"$tmp/$tag.out" 2>&1
            else
                env LD_PRELOAD="$SHIM" LEAKWATCH_QUIET=1 LEAKWATCH_OUT="$tmp/lw.$tag" LEAKWATCH_HTTP=127.0.0.1:0 \
                    timeout -k 5 "$RUN_TIMEOUT" "$CHURN" --threads "$CHURN_THREADS" --ops "$CHURN_OPS" >"$tmp/$tag.out" 2>&1 &
                pid=$!
                # timeout's child is the churn process: its pid names the state file
                sleep 0.2
                scrape_loop "$tmp/lw.$tag" "$(pgrep -P $pid | head -n 1)" &
                wait $pid
                wait
            fi
            line=$(grep '^BENCH churn' "$tmp/$tag.out")
            if [ -z "$line" ]; then fail_run "$tag" "$tag"; continue; fi
            for k in ns_per_op cpu_ns_per_op wall_ms; do add live.$mode.$k "$(kv "$line" $k)" $rep; done
            local n="" ms=""
            if [ -s "$tmp/lw.$tag/scrapes" ]; then
                n=$(wc -l <"$tmp/lw.$tag/scrapes")
                ms=$(sort -g "$tmp/lw.$tag/scrapes" | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)] * 1000}')
                add live.scrapes "$n"
                add live.scrape_ms "$ms"
            fi
            say "  rep $rep $mode: ns/op=$(kv "$line" ns_per_op) cpu_ns/op=$(kv "$line" cpu_ns_per_op) wall_ms=$(kv "$line" wall_ms)${n:+ scrapes=$n median_scrape_ms=$ms}"
            rm -rf "$tmp/lw.$tag"
        done
    done
}

# --- report cost -----------------------------------------------------------------------------------------
bench_report() {
    if ! has_cfg lw; then skip "report cost: needs the leakwatch shim"; return; fi
    say "== report cost: 100000 live blocks over 10000 sites, $REPORT_THREADS allocating thread(s), $REPS reps"
    local rep via tag line seq
    for ((rep = 1; rep <= REPS; rep++)); do
        for via in api signal; do
            tag=report.$via.$rep
            LEAKWATCH_MIN_AGE=0 under lw $tag "$CHURN" --report-cost --threads "$REPORT_THREADS" --via $via
            if ! grep -q '^BENCH report seq=' "$tmp/$tag.out"; then fail_run "$tag" "$tag"; continue; fi
            for seq in 0 1 2; do
                line=$(grep "^BENCH report seq=$seq " "$tmp/$tag.out")
                [ "$(kv "$line" ok)" = 1 ] || { say "  $tag: report $seq failed"; continue; }
                for k in write_ms max_gap_ms extra_ms stalled_ms; do add report.$via.$seq.$k "$(kv "$line" $k)"; done
                say "  rep $rep $via $([ $seq = 0 ] && echo "control (no report)" || echo "report $seq"): write_ms=$(kv "$line" write_ms) max_gap_ms=$(kv "$line" max_gap_ms) extra_ms=$(kv "$line" extra_ms)"
            done
            local json
            json=$(ls "$tmp/lw.$tag"/churn.*.1.json 2>/dev/null | head -n 1)
            if [ -n "$json" ]; then
                local totals
                totals=$(grep -o '"totals":{[^}]*}' "$json")
                add report.sites "$(grep -o '"sites":[0-9]*' <<<"$totals" | cut -d: -f2)"
                add report.json_kb "$(($(stat -c %s "$json") / 1024))"
                add report.metadata_bytes "$(grep -o '"metadata_bytes":[0-9]*' <<<"$totals" | cut -d: -f2)"
                add report.stack_bytes "$(grep -o '"stack_bytes":[0-9]*' <<<"$totals" | cut -d: -f2)"
            fi
            rm -rf "$tmp/lw.$tag"
        done
    done
}

# --- the command on large reports ---------------------------------------------------------------------------
# diff, gate and report over synthetic reports of TOOLS_SITES sites (bigreport; b.json grows every third site):
# wall and CPU seconds and peak RSS of each. The text, JSON and pprof renderings of the whole report and a gate
# of one round say how memory grows with the number of sites (docs/bench.md "Memory of the command").
bench_tools() {
    local big=$B/bench/bigreport lw=$B/leakwatch n=$TOOLS_SITES rep name wall user sys kb
    if [ ! -x "$big" ] || ! need /usr/bin/time time; then
        skip "tools: needs $big (make bench) and /usr/bin/time (package time)"
        return
    fi
    if ! "$big" "$n" >"$tmp/a.json" || ! "$big" "$n" 100000 >"$tmp/b.json"; then
        skip "tools: bigreport failed"
        return
    fi
    add tools.json_mb "$(calc "$(stat -c %s "$tmp/a.json") / 1048576")"
    for ((rep = 1; rep <= REPS; rep++)); do
        for name in $TOOLS_CASES; do
            case $name in
            diff_same) set -- diff "$tmp/a.json" "$tmp/a.json" ;;
            diff) set -- diff "$tmp/a.json" "$tmp/b.json" ;;
            gate) set -- gate "$tmp/a.json" "$tmp/b.json" "$tmp/b.json" ;;
            text_top3) set -- report "$tmp/a.json" --top 3 ;;
            json_top3) set -- report "$tmp/a.json" --top 3 --format json ;;
            text) set -- report "$tmp/a.json" ;;
            json) set -- report "$tmp/a.json" --format json ;;
            pprof) set -- report "$tmp/a.json" --format pprof ;;
            html) set -- report "$tmp/a.json" --format html ;;
            esac
            /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$lw" "$@" >/dev/null 2>"$tmp/tools.err"
            read -r wall user sys kb <"$tmp/time"
            add tools.$name.wall_s "$wall"
            add tools.$name.cpu_s "$(calc "$user + $sys")"
            add tools.$name.maxrss_mb "$(calc "$kb / 1024")"
            say "  rep $rep tools $name: wall ${wall} s, cpu $(calc "$user + $sys") s, peak RSS $(calc "$kb / 1024") MiB"
        done
    done
    rm -f "$tmp/a.json" "$tmp/b.json"
}

# --- nginx -----------------------------------------------------------------------------------------------
# free_port: a port below the kernel's ephemeral range (where wrk's and everyone's client sockets live, which a
# connect test cannot see) with nothing listening on it.
free_port() {
    local p i lo
    lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    lo=${lo:-32768}
    for ((i = 0; i < 100; i++)); do
        p=$((10000 + RANDOM % (lo - 10000)))
        (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return 0; }
    done
    return 1
}
http_ok() {
    (
        exec 3<>/dev/tcp/127.0.0.1/$1 || exit 1
        printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
        IFS= read -r -t 2 line <&3 || exit 1
        case $line in *" 200 "*) exit 0 ;; *) exit 1 ;; esac
    ) 2>/dev/null
}
nginx_conf() {
    local dir=$1 workers=$2 front=$3 back=$4 user=""
    [ "$(id -u)" -eq 0 ] && user="user root;"  # else the workers run as nobody and cannot write reports
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $workers;
$user
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    upstream backend { server 127.0.0.1:$back; keepalive 32; }
    server {
        listen 127.0.0.1:$front;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    server {
        listen 127.0.0.1:$back;
        location / { default_type text/plain; return 200 "hello from the backend\n"; }
    }
}
EOF
}
# nginx_peak_kb PID: summed peak RSS (VmHWM) of the master and its workers.
nginx_peak_kb() {
    local kids p sum=0 kb
    kids=$(cat /proc/$1/task/*/children 2>/dev/null)
    for p in $1 $kids; do
        kb=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$p/status 2>/dev/null)
        sum=$((sum + ${kb:-0}))
    done
    echo $sum
}
# nginx_start CFG TAG WORKERS: starts nginx in the background (pid in $bg) on two free ports (the front one in
# $front) and waits until it answers; retried on other ports, as a port can be taken between test and bind.
nginx_start() {
    local cfg=$1 tag=$2 w=$3 back dir attempt i
    for ((attempt = 1; attempt <= 3; attempt++)); do
        front=$(free_port) && back=$(free_port) || { say "  $tag: no free port"; return 1; }
        [ "$front" = "$back" ] && back=$((front + 1))
        dir=$tmp/$tag.d
        rm -rf "$dir" "$tmp/lw.$tag"
        nginx_conf "$dir" "$w" "$front" "$back"
        under $cfg $tag nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" &
        bg=$!
        for ((i = 0; i < 150; i++)); do
            http_ok "$front" && [ -s "$dir/nginx.pid" ] && return 0
            kill -0 $bg 2>/dev/null || break
            sleep 0.1
        done
        pid=$(cat "$dir/nginx.pid" 2>/dev/null)
        kill $bg 2>/dev/null
        [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
        wait $bg 2>/dev/null
        grep -q 'Address already in use' "$tmp/$tag.out" "$dir/error.log" 2>/dev/null || break
    done
    fail_run "$tag" "$tag"
    return 1
}
# nginx_stop CFG TAG: stops the instance of configuration CFG gracefully (SIGQUIT), and waits for it (and, under
# heaptrack, for heaptrack to finish).
nginx_stop() {
    local pid=${NG_PID[$1]} bg=${NG_BG[$1]} i
    kill -QUIT "$pid" 2>/dev/null
    for ((i = 0; i < 300; i++)); do kill -0 $bg 2>/dev/null || break; sleep 0.1; done
    if kill -0 $bg 2>/dev/null; then kill -TERM "$pid" 2>/dev/null; sleep 1; kill -KILL "$pid" 2>/dev/null; fi
    wait $bg 2>/dev/null
}
# nginx_rep WORKERS REP: one rep. The instances of all configurations run at once on their own ports, and wrk
# loads one at a time, in NGINX_SECS one-second slices taken in turn, so that a change of load on the machine
# hits every configuration alike. Adds requests/s (requests over seconds, summed over slices) and peak RSS.
declare -A NG_PID NG_BG NG_PORT NG_REQ NG_SECS
NG_CFGS=$CFGS
has_cfg lw && NG_CFGS="$NG_CFGS at"
# nginx_attach W TAG: attaches leakwatch to every worker of the instance of configuration at, under wrk's load;
# adds the time each worker's thread was held (what `leakwatch attach` prints) as nginxW.at.attach_ms.
nginx_attach() {
    local w=$1 tag=$2 kid out ms
    mkdir -p "$tmp/lw.$tag"
    wrk -t2 -c32 -d2s "http://127.0.0.1:${NG_PORT[at]}/" >"$tmp/$tag.attach.wrk" 2>&1 &
    local load=$!
    sleep 0.5
    for kid in $(cat /proc/${NG_PID[at]}/task/*/children 2>/dev/null); do
        out=$("$B/leakwatch" attach --quiet --out "$tmp/lw.$tag" "$kid" 2>&1)
        ms=$(sed -n 's/.*attached to PID [0-9]* in \([0-9.]*\) ms.*/\1/p' <<<"$out")
        if [ -n "$ms" ]; then add nginx$w.at.attach_ms "$ms"; else say "  $tag: attach failed: $out"; fi
    done
    wait $load
    grep -qE 'Non-2xx|Socket errors' "$tmp/$tag.attach.wrk" &&
        say "  $tag WARNING while attaching: $(grep -E 'Non-2xx|Socket errors' "$tmp/$tag.attach.wrk" | tr -s ' ' | tr '\n' ';')"
}
nginx_rep() {
    local w=$1 rep=$2 cfg tag front bg slice out req secs started=""
    for cfg in $(order $rep "$NG_CFGS"); do
        tag=nginx$w.$cfg.$rep
        nginx_start $cfg $tag $w || continue
        NG_PID[$cfg]=$(cat "$tmp/$tag.d/nginx.pid") NG_BG[$cfg]=$bg NG_PORT[$cfg]=$front NG_REQ[$cfg]=0 NG_SECS[$cfg]=0
        started="$started $cfg"
        if [ $cfg = at ]; then nginx_attach $w $tag; fi
        wrk -t2 -c32 -d1s "http://127.0.0.1:$front/" >/dev/null 2>&1  # warm-up, not counted
    done
    for ((slice = 0; slice < NGINX_SECS; slice++)); do
        for cfg in $(order $((rep + slice)) "$NG_CFGS"); do
            case " $started " in *" $cfg "*) ;; *) continue ;; esac
            out=$tmp/nginx$w.$cfg.$rep.wrk
            wrk -t2 -c32 -d1s "http://127.0.0.1:${NG_PORT[$cfg]}/" >"$out" 2>&1
            req=$(sed -n 's/^[[:space:]]*\([0-9]*\) requests in \([0-9.]*\)\(m\?s\).*/\1 \2 \3/p' "$out")
            if [ -z "$req" ]; then say "  nginx$w.$cfg.$rep: wrk failed: $(tail -n 2 "$out" | tr '\n' ' ')"; continue; fi
            set -- $req
            secs=$2
            [ "$3" = ms ] && secs=$(calc "$2 / 1000")
            NG_REQ[$cfg]=$((NG_REQ[$cfg] + $1))
            NG_SECS[$cfg]=$(calc "${NG_SECS[$cfg]} + $secs")
            if grep -qE 'Non-2xx|Socket errors' "$out"; then
                say "  nginx$w.$cfg.$rep WARNING: $(grep -E 'Non-2xx|Socket errors' "$out" | tr -s ' ' | tr '\n' ';')"
            fi
        done
    done
    for cfg in $started; do
        tag=nginx$w.$cfg.$rep
        local peak rps line
        peak=$(nginx_peak_kb "${NG_PID[$cfg]}")
        nginx_stop $cfg
        rps=n/a
        [ "${NG_REQ[$cfg]}" -gt 0 ] && rps=$(awk "BEGIN {printf \"%.0f\", ${NG_REQ[$cfg]} / ${NG_SECS[$cfg]}}")
        add nginx$w.$cfg.rps "$rps" $rep
        add nginx$w.$cfg.peak_kb "$peak" $rep
        line="  rep $rep $cfg: requests/s=$rps peak_rss_kb(master+workers)=$peak"
        case $cfg in
        ht) line="$line heaptrack_recorded_allocs=$(ht_recorded $tag)"; add nginx$w.ht.recorded "$(ht_recorded $tag)" ;;
        lw)
            local a
            a=$(lw_allocs $tag)
            line="$line leakwatch_exit_reports=${a#* } allocs_counted=${a% *}"
            add nginx$w.lw.recorded "${a% *}"
            ;;
        esac
        rm -rf "$tmp/lw.$tag"
        say "$line"
    done
}
bench_nginx() {
    if ! need nginx nginx-light || ! need wrk wrk; then
        skip "nginx: nginx or wrk is not installed and could not be installed"
        return
    fi
    local w rep
    for w in 1 2; do
        say "== nginx reverse proxy, worker_processes $w, wrk -t2 -c32 on loopback, $NGINX_SECS 1 s slices per configuration taken in turn, $REPS reps"
        for ((rep = 1; rep <= REPS; rep++)); do nginx_rep $w $rep; done
    done
}

# --- Java ------------------------------------------------------------------------------------------------
bench_java() {
    if ! need java openjdk-17-jdk-headless || ! need javac openjdk-17-jdk-headless; then
        skip "java: java/javac are not installed and could not be installed"
        return
    fi
    local src
    src=$(dirname "$0")/DirectAlloc.java
    if ! javac -nowarn -encoding UTF-8 -d "$B/bench" "$src" >"$tmp/javac.out" 2>&1; then
        skip "java: javac failed: $(tail -n 3 "$tmp/javac.out")"
        return
    fi
    say "== java: DirectAlloc, 2 threads, $JAVA_CALLS Unsafe allocator calls per thread, $REPS reps"
    local rep cfg tag line
    for ((rep = 1; rep <= REPS; rep++)); do
        for cfg in $(order $rep); do
            tag=java.$cfg.$rep
            under $cfg $tag java -cp "$B/bench" DirectAlloc 2 "$JAVA_CALLS" 10000
            line=$(grep '^BENCH java' "$tmp/$tag.out")
            if [ -z "$line" ]; then fail_run "$tag" "$tag"; continue; fi
            for k in calls_per_s ms proc_ms maxrss_kb; do add java.$cfg.$k "$(kv "$line" $k)" $rep; done
            local extra=""
            [ $cfg = ht ] && extra=" heaptrack_recorded_allocs=$(ht_recorded $tag)"
            say "  rep $rep $cfg: calls/s=$(kv "$line" calls_per_s) loop_ms=$(kv "$line" ms) process_ms=$(kv "$line" proc_ms) peak_rss_kb=$(kv "$line" maxrss_kb)$extra"
        done
    done
    has_cfg lw || return
    # Time to attach to a busy JVM started bare (HotSpot's attach listener woken, the agent loaded, the GOT
    # entries of every module rewritten) while DirectAlloc runs; what `leakwatch attach` says it took.
    local jvm out ms
    for ((rep = 1; rep <= REPS; rep++)); do
        java -cp "$B/bench" DirectAlloc 2 $((JAVA_CALLS * 20)) 10000 >"$tmp/java.at.$rep.out" 2>&1 &
        jvm=$!
        sleep 1.5
        out=$("$B/leakwatch" attach --quiet --out "$tmp" "$jvm" 2>&1)
        ms=$(sed -n 's/.*attached to PID [0-9]* in \([0-9.]*\) ms.*/\1/p' <<<"$out")
        if [ -n "$ms" ]; then add java.at.attach_ms "$ms"; say "  rep $rep: leakwatch attach to the running JVM took $ms ms"
        else say "  rep $rep: attach to the JVM failed: $out"; fi
        kill -KILL $jvm 2>/dev/null
        wait $jvm 2>/dev/null
    done
}

# --- Java heap: the Netty gateway's requests/s under the shim with Java-heap tracking on and off ------------------
# Each pair runs both configurations one after the other, in alternating order; the figure is the median of the
# pairs' ratios. With wrk on the same 2 cores, one run's requests/s moves by several percent with the JIT's
# choices, so it takes more pairs than REPS. The JVM's own CPU time per request (utime + stime over the measured
# run) is printed beside it: it is the cost itself, less disturbed by how the cores were shared.
JHEAP_SECS=${JHEAP_SECS:-10}
JHEAP_PAIRS=${JHEAP_PAIRS:-$((REPS < 8 ? 8 : REPS))}
jheap_rep() {
    local rep=$1 cfg port pid out line rps reqs cpu0 cpu1 hz
    hz=$(getconf CLK_TCK)
    for cfg in $( ((rep % 2)) && echo "off on" || echo "on off"); do
        port=$(free_port) || { fail_run "javaheap.$cfg.$rep" none; continue; }
        out=$tmp/jheap.$cfg.$rep
        mkdir -p "$out.d"
        LD_PRELOAD=$SHIM LEAKWATCH_QUIET=1 LEAKWATCH_OUT=$out.d LEAKWATCH_JAVA_HEAP=$([ $cfg = on ] && echo 1 || echo 0) \
            java -Xmx256m -XX:MaxDirectMemorySize=1g -Dio.netty.tryReflectionSetAccessible=true \
            --add-opens java.base/java.nio=ALL-UNNAMED --add-opens java.base/jdk.internal.misc=ALL-UNNAMED \
            -cp "$JHEAP_CP" NettyGateway "$port" ok >"$out.log" 2>&1 &
        pid=$!
        for ((i = 0; i < 100; i++)); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
        wrk -t2 -c16 -d3s "http://127.0.0.1:$port/orders" >/dev/null 2>&1   # warm-up: the JIT compiles
        cpu0=$(awk '{print $14 + $15}' /proc/$pid/stat 2>/dev/null)
        line=$(wrk -t2 -c16 -d"${JHEAP_SECS}s" "http://127.0.0.1:$port/orders" 2>&1)
        cpu1=$(awk '{print $14 + $15}' /proc/$pid/stat 2>/dev/null)
        kill $pid 2>/dev/null; wait $pid 2>/dev/null
        rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$line")
        reqs=$(awk '/requests in/ {print $1}' <<<"$line")
        [ -n "$rps" ] && add javaheap.$cfg.rps "$rps" $rep
        if [ -n "$reqs" ] && [ "${reqs:-0}" -gt 0 ] && [ -n "$cpu0" ] && [ -n "$cpu1" ]; then
            add javaheap.$cfg.cpu_us "$(calc "($cpu1 - $cpu0) * 1000000 / $hz / $reqs")" $rep
        fi
        say "  pair $rep java-heap tracking $cfg: requests/s=${rps:-FAILED} JVM CPU us/request=${R[javaheap.$cfg.cpu_us@$rep]:-n/a}"
    done
}
bench_javaheap() {
    if ! need java openjdk-17-jdk-headless || ! need wrk wrk; then
        skip "javaheap: java or wrk is not installed"
        return
    fi
    JHEAP_CP=$("$(dirname "$0")/../e2e/build-java.sh" "$B" 2>"$tmp/javac.out" | tail -n 1)
    [ -n "$JHEAP_CP" ] || { skip "javaheap: the Netty gateway did not build: $(tail -n 3 "$tmp/javac.out")"; return; }
    say "== javaheap: the Netty gateway (tests/java, mode ok, pooled) under the shim, Java-heap tracking on vs off (LEAKWATCH_JAVA_HEAP=0), wrk -t2 -c16 ${JHEAP_SECS}s after a 3 s warm-up, $JHEAP_PAIRS pairs"
    local rep
    for ((rep = 1; rep <= JHEAP_PAIRS; rep++)); do jheap_rep $rep; done
}

# --- Java heap: the JVM's pauses for one report with "Held by" and exact class counts on a full 256 MiB heap ------
# The queue gateway (tests/java, mode queue) under the shim with -Xmx256m is loaded until HELDBY_MB of its heap is
# live, then `leakwatch dump --gc` asks for a report; -Xlog:safepoint gives each pause (the forced GC, the heap walk
# for "Held by", the class count). HELDBY_BOUNDS lists the LEAKWATCH_JAVA_HELD_BY_MS of each run ("default": the
# shim's own): the default run shows a walk that finds its targets; a small bound shows the worst case, a walk that
# does not finish and stops at its bound.
HELDBY_MB=${HELDBY_MB:-200}
HELDBY_BOUNDS=${HELDBY_BOUNDS:-${HELDBY_MS:-default 100}}
HELDBY_MAX_SECS=${HELDBY_MAX_SECS:-300}
bench_heldby() {
    if ! need java openjdk-17-jdk-headless || ! need wrk wrk || ! need jcmd openjdk-17-jdk-headless; then
        skip "heldby: java, jcmd or wrk is not installed"
        return
    fi
    local cp bound
    cp=$("$(dirname "$0")/../e2e/build-java.sh" "$B" 2>"$tmp/javac.out" | tail -n 1)
    [ -n "$cp" ] || { skip "heldby: the Netty gateway did not build: $(tail -n 3 "$tmp/javac.out")"; return; }
    for bound in $HELDBY_BOUNDS; do heldby_run "$cp" "$bound"; done
}
heldby_run() {
    local cp=$1 bound=$2 port pid out used=0 waited=0 line name ns ms
    [ "$bound" = default ] && ms="" || ms=$bound
    port=$(free_port) || { skip "heldby: no free port"; return; }
    out=$tmp/heldby.$bound
    mkdir -p "$out.d"
    say "== heldby: the queue gateway (-Xmx256m) under the shim filled to ${HELDBY_MB} MiB live, then leakwatch dump --gc (LEAKWATCH_JAVA_HELD_BY_MS=$bound); pauses from -Xlog:safepoint"
    env LD_PRELOAD="$SHIM" LEAKWATCH_QUIET=1 LEAKWATCH_OUT="$out.d" ${ms:+LEAKWATCH_JAVA_HELD_BY_MS=$ms} \
        java -Xmx256m -XX:MaxDirectMemorySize=1g -Dio.netty.tryReflectionSetAccessible=true \
        --add-opens java.base/java.nio=ALL-UNNAMED --add-opens java.base/jdk.internal.misc=ALL-UNNAMED \
        "-Xlog:safepoint=info:file=$out.safepoints:uptime" -cp "$cp" NettyGateway "$port" queue >"$out.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 100; i++)); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
    while [ "$used" -lt "$HELDBY_MB" ] && [ "$waited" -lt "$HELDBY_MAX_SECS" ] && kill -0 $pid 2>/dev/null; do
        wrk -t2 -c16 -d10s "http://127.0.0.1:$port/orders" >/dev/null 2>&1
        waited=$((waited + 10))
        jcmd $pid GC.run >/dev/null 2>&1
        used=$(jcmd $pid GC.heap_info 2>/dev/null | sed -n 's/.* used \([0-9]*\)K.*/\1/p' | head -n 1)
        used=$(( ${used:-0} / 1024 ))
    done
    if ! kill -0 $pid 2>/dev/null || [ "$used" -lt "$HELDBY_MB" ]; then
        skip "heldby: the gateway reached ${used} MiB live in ${waited} s (wanted ${HELDBY_MB})"
        kill $pid 2>/dev/null; wait $pid 2>/dev/null
        return
    fi
    local before
    before=$(wc -l <"$out.safepoints")
    say "  ${used} MiB of the heap live after ${waited} s of load"
    "$B/leakwatch" dump --gc --timeout 60s $pid >"$out.dump" 2>&1
    sleep 1
    kill $pid 2>/dev/null; wait $pid 2>/dev/null
    local total=0 longest=0 summary=""
    while read -r name ns; do
        total=$((total + ns))
        [ "$ns" -gt "$longest" ] && longest=$ns
        summary="$summary $name=$(calc "$ns / 1000000")ms"
    done < <(tail -n +"$((before + 1))" "$out.safepoints" |
             sed -n 's/.*Safepoint "\([A-Za-z0-9_]*\)".* Total: \([0-9]*\) ns.*/\1 \2/p' |
             awk '$2 >= 1000000')
    add heldby.$bound.total_ms "$(calc "$total / 1000000")"
    add heldby.$bound.longest_ms "$(calc "$longest / 1000000")"
    say "  pauses of 1 ms or more during the report:${summary:- none}"
    say "  the report: $(grep -o 'held_by_walk_ms":[0-9]*' "$out".d/*.json 2>/dev/null | tail -n 1) $(grep -h 'Held by\|too large\|within' "$out".d/*.txt 2>/dev/null | head -n 2 | cut -c1-160)"
    say "  exact counts ($(grep -o 'class_count_ms":[0-9]*' "$out".d/*.json 2>/dev/null | tail -n 1)): $(grep -h 'Exact count' "$out".d/*.txt 2>/dev/null | head -n 2 | cut -c1-160)"
}

# --- the Netty gateway ------------------------------------------------------------------------------------
# tests/java/NettyGateway.java as users run it: Netty's default pooled allocator, no JIT flags. base is plain
# java; lw is `leakwatch run -- java ...`, which preloads the shim and adds -XX:+PreserveFramePointer (through
# JAVA_TOOL_OPTIONS) so that reports can walk Java frames: the cost measured is the cost of that command.
# Heaptrack is left out (it is not what a JVM user would run). Both JVMs run at once on their own ports, each is
# warmed up by NETTY_WARMUP s of load (not counted: the JIT compiles under load for that long), then wrk loads
# one at a time in NETTY_SECS one-second slices taken in turn, as for nginx.
declare -A NY_PID NY_BG NY_PORT NY_REQ NY_SECS
netty_start() {
    local cfg=$1 tag=$2 cp=$3 port i jpid
    port=$(free_port) || { say "  $tag: no free port"; return 1; }
    local -a jvm=(java -Xmx256m -XX:-CreateCoredumpOnCrash "-XX:ErrorFile=$tmp/$tag.hs_err_%p.log"
        -Dio.netty.tryReflectionSetAccessible=true --add-opens java.base/java.nio=ALL-UNNAMED
        --add-opens java.base/jdk.internal.misc=ALL-UNNAMED -cp "$cp" NettyGateway "$port" ok)
    mkdir -p "$tmp/lw.$tag"
    case $cfg in
    base) "${jvm[@]}" >"$tmp/$tag.out" 2>&1 & ;;
    lw) "$B/leakwatch" run --quiet --out "$tmp/lw.$tag" -- "${jvm[@]}" >"$tmp/$tag.out" 2>&1 & ;;
    esac
    bg=$!
    for ((i = 0; i < 300; i++)); do
        jpid=$(sed -n 's/^NettyGateway: listening on .* pid=\([0-9]*\).*/\1/p' "$tmp/$tag.out" 2>/dev/null)
        [ -n "$jpid" ] && break
        kill -0 $bg 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$jpid" ]; then
        kill $bg 2>/dev/null
        wait $bg 2>/dev/null
        fail_run "$tag" "$tag"
        return 1
    fi
    NY_PID[$cfg]=$jpid NY_BG[$cfg]=$bg NY_PORT[$cfg]=$port NY_REQ[$cfg]=0 NY_SECS[$cfg]=0
}
netty_stop() {
    local pid=${NY_PID[$1]} bg=${NY_BG[$1]} i
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 200; i++)); do kill -0 $bg 2>/dev/null || break; sleep 0.1; done
    kill -0 $bg 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait $bg 2>/dev/null
}
netty_rep() {
    local cp=$1 rep=$2 cfg tag slice out req secs started=""
    for cfg in $(order $rep); do
        case $cfg in base | lw) ;; *) continue ;; esac
        tag=netty.$cfg.$rep
        netty_start $cfg $tag "$cp" || continue
        started="$started $cfg"
    done
    for cfg in $started; do
        wrk -t2 -c32 -d${NETTY_WARMUP}s "http://127.0.0.1:${NY_PORT[$cfg]}/orders" >/dev/null 2>&1
    done
    for ((slice = 0; slice < NETTY_SECS; slice++)); do
        for cfg in $(order $((rep + slice))); do
            case " $started " in *" $cfg "*) ;; *) continue ;; esac
            out=$tmp/netty.$cfg.$rep.wrk
            wrk -t2 -c32 -d1s "http://127.0.0.1:${NY_PORT[$cfg]}/orders" >"$out" 2>&1
            req=$(sed -n 's/^[[:space:]]*\([0-9]*\) requests in \([0-9.]*\)\(m\?s\).*/\1 \2 \3/p' "$out")
            if [ -z "$req" ]; then say "  netty.$cfg.$rep: wrk failed: $(tail -n 2 "$out" | tr '\n' ' ')"; continue; fi
            set -- $req
            secs=$2
            [ "$3" = ms ] && secs=$(calc "$2 / 1000")
            NY_REQ[$cfg]=$((NY_REQ[$cfg] + $1))
            NY_SECS[$cfg]=$(calc "${NY_SECS[$cfg]} + $secs")
            add netty.$cfg.slice_rps "$(calc "$1 / $secs")" "$rep.$slice"
            if grep -qE 'Non-2xx|Socket errors' "$out"; then
                say "  netty.$cfg.$rep WARNING: $(grep -E 'Non-2xx|Socket errors' "$out" | tr -s ' ' | tr '\n' ';')"
            fi
        done
    done
    for cfg in $started; do
        local rps=n/a peak
        peak=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' /proc/${NY_PID[$cfg]}/status 2>/dev/null)
        netty_stop $cfg
        [ "${NY_REQ[$cfg]}" -gt 0 ] && rps=$(awk "BEGIN {printf \"%.0f\", ${NY_REQ[$cfg]} / ${NY_SECS[$cfg]}}")
        add netty.$cfg.rps "$rps" $rep
        add netty.$cfg.peak_kb "${peak:-n/a}" $rep
        say "  rep $rep $cfg: requests/s=$rps peak_rss_kb=${peak:-n/a}"
        rm -rf "$tmp/lw.netty.$cfg.$rep"
    done
}
bench_netty() {
    if ! need java openjdk-17-jdk-headless || ! need javac openjdk-17-jdk-headless || ! need wrk wrk; then
        skip "netty: java, javac or wrk is not installed and could not be installed"
        return
    fi
    if [ ! -x "$B/leakwatch" ]; then skip "netty: $B/leakwatch is not built"; return; fi
    local cp rep
    if ! cp=$("$(dirname "$0")/../e2e/build-java.sh" "$B" 2>"$tmp/netty-build.out" | tail -n 1) || [ -z "$cp" ]; then
        skip "netty: the gateway did not build: $(tail -n 3 "$tmp/netty-build.out")"
        return
    fi
    say "== netty: tests/java/NettyGateway (pooled allocator, no JIT flags), wrk -t2 -c32 on loopback, ${NETTY_WARMUP} s warm-up, $NETTY_SECS 1 s slices per configuration taken in turn, $REPS reps"
    for ((rep = 1; rep <= REPS; rep++)); do netty_rep "$cp" $rep; done
}

# --- callgrind -------------------------------------------------------------------------------------------
bench_callgrind() {
    if ! need valgrind valgrind || ! need callgrind_annotate valgrind; then
        skip "callgrind: valgrind is not installed"
        return
    fi
    say "== callgrind: instructions per churn operation (2 threads, $CG_OPS calls per thread, measured loop only)"
    local cfg out ops ir
    for cfg in base lw; do
        has_cfg $cfg || continue
        out=$tmp/cg.$cfg
        if [ $cfg = lw ]; then
            mkdir -p "$tmp/lw.cg"
            LD_PRELOAD=$SHIM LEAKWATCH_QUIET=1 LEAKWATCH_OUT=$tmp/lw.cg valgrind --tool=callgrind \
                --callgrind-out-file="$out" --toggle-collect=churn_loop "$CHURN" --threads 2 --ops "$CG_OPS" \
                --window 5000 >"$tmp/cg.$cfg.log" 2>&1
        else
            valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect=churn_loop "$CHURN" \
                --threads 2 --ops "$CG_OPS" --window 5000 >"$tmp/cg.$cfg.log" 2>&1
        fi
        ops=$(kv "$(grep '^BENCH churn' "$tmp/cg.$cfg.log")" ops)
        ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$out" 2>/dev/null | head -n 1)
        [ -z "$ir" ] && ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$out" 2>/dev/null | head -n 1)
        if [ -z "$ops" ] || [ -z "$ir" ]; then fail_run "callgrind $cfg" "cg.$cfg"; continue; fi
        R[cg.$cfg]=$(calc "$ir / $ops")
        say "  $cfg: $ir instructions for $ops calls = ${R[cg.$cfg]} per call"
    done
    if [ -n "${R[cg.lw]:-}" ]; then
        # calls per function, from the profile itself (callgrind_annotate does not print them)
        awk '/^c?fn=\(/ {c = substr($0, 1, 1) == "c"; s = substr($0, index($0, "(") + 1); id = s; sub(/\).*/, "", id)
                          if (index(s, ") ")) name[id] = substr(s, index(s, ") ") + 2)
                          if (c) cur = name[id]; next}
             /^calls=/ {split(substr($0, 7), a, " "); n[cur] += a[1]}
             END {for (f in n) print f, n[f]}' "$tmp/cg.lw" >"$tmp/cg.calls"
        say "  with leakwatch, per allocator call: instructions inside each shim and libunwind function (inclusive)"
        say "  and how many times a function of that name was called (malloc and free include libc's own):"
        callgrind_annotate --inclusive=yes "$tmp/cg.lw" 2>/dev/null |
            grep -E '^ *[0-9,]+ +\( *[0-9.]+%\) .*\[[^]]*(libleakwatch\.so|libunwind[^]]*)\]$' |
            grep -vE '\((99\.[0-9]+|100\.0)%\)' | head -n 20 |
            awk -v ops="$ops" -v calls="$tmp/cg.calls" '
                BEGIN {while ((getline l < calls) > 0) {split(l, a, " "); n[a[1]] = a[2]}}
                {gsub(",", "", $1); f = $(NF - 1); sub(/.*\//, "", f); fn = f; sub(/^[^:]*:/, "", fn)
                 printf "    %8.1f instr %6.3f calls  %s %s\n", $1 / ops, n[fn] / ops, f, $NF}'
    fi
}

# --- perf ------------------------------------------------------------------------------------------------
bench_perf() {
    if ! has_cfg lw; then skip "perf: needs the leakwatch shim"; return; fi
    if ! command -v perf >/dev/null 2>&1; then skip "perf: perf is not installed (Debian: linux-perf)"; return; fi
    say "== perf: where churn's time goes under leakwatch ($CHURN_THREADS threads, $CHURN_OPS calls per thread)"
    mkdir -p "$tmp/lw.perf"
    if ! LD_PRELOAD=$SHIM LEAKWATCH_QUIET=1 LEAKWATCH_OUT=$tmp/lw.perf perf record -q -o "$tmp/perf.data" \
        "$CHURN" --threads "$CHURN_THREADS" --ops "$CHURN_OPS" >"$tmp/perf.out" 2>&1; then
        fail_run perf perf
        return
    fi
    say "  share of samples by object:"
    perf report -i "$tmp/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' |
        head -n 8 | sed 's/^ */    /'
    say "  top functions:"
    perf report -i "$tmp/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -n 20 | sed 's/^ */    /; s/[[:space:]]*-[[:space:]]*-[[:space:]]*$//'
}

# --- summary ---------------------------------------------------------------------------------------------
col() { printf '%-34s %16s %22s %22s\n' "$@"; }
# pratio WORKLOAD METRIC CFG: the median over reps of CFG's value / base's value in the same rep. Load from
# other work on the machine drifts; a ratio within one rep, where the runs were seconds apart, drifts less.
pratio() {
    local rep c b
    R[pr.tmp]=""
    for ((rep = 1; rep <= REPS; rep++)); do
        c=${R[$1.$3.$2@$rep]:-} b=${R[$1.base.$2@$rep]:-}
        [ -n "$c" ] && [ -n "$b" ] && add pr.tmp "$(calc "$c / $b")"
    done
    med pr.tmp
}
# cell WORKLOAD METRIC CFG: "median (median of paired ratios to base)".
cell() {
    local m
    m=$(med $1.$3.$2)
    if [ "$3" = base ] || [ "$m" = n/a ]; then echo "$m"; else echo "$m ($(pratio $1 $2 $3)x)"; fi
}
# unit VALUE SUFFIX: VALUE with SUFFIX, or n/a.
unit() { [ "$1" = n/a ] && echo n/a || echo "$1$2"; }
verdict() { awk "BEGIN {exit !($1)}" && echo PASS || echo MISS; }
target() {
    local cond=$1 text=$2
    case "$cond" in *n/a*) printf '  [n/a ] %s\n' "$text" ;; *) printf '  [%s] %s\n' "$(verdict "$cond")" "$text" ;; esac
}

summary() {
    say ""
    say "== Summary: medians of $REPS interleaved runs (median of the ratios to base within each rep); $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname), $(nproc) cores"
    col "" base leakwatch heaptrack
    if wanted churn; then
        col "churn ns per allocator call" "$(cell churn ns_per_op base)" "$(cell churn ns_per_op lw)" "$(cell churn ns_per_op ht)"
        col "churn thread CPU ns per call" "$(cell churn cpu_ns_per_op base)" "$(cell churn cpu_ns_per_op lw)" "$(cell churn cpu_ns_per_op ht)"
        col "churn RSS at end, KiB" "$(cell churn rss_kb base)" "$(cell churn rss_kb lw)" "$(cell churn rss_kb ht)"
        col "churn peak RSS, KiB" "$(cell churn maxrss_kb base)" "$(cell churn maxrss_kb lw)" "$(cell churn maxrss_kb ht)"
    fi
    for w in 1 2; do
        wanted nginx || break
        col "nginx $w worker(s) requests/s" "$(cell nginx$w rps base)" "$(cell nginx$w rps lw)" "$(cell nginx$w rps ht)"
        col "nginx $w worker(s) peak RSS, KiB" "$(cell nginx$w peak_kb base)" "$(cell nginx$w peak_kb lw)" "$(cell nginx$w peak_kb ht)"
        has_cfg lw && col "  attached instead of preloaded" "" "$(cell nginx$w rps at) req/s" "attach $(med nginx$w.at.attach_ms) ms/worker"
    done
    if wanted java; then
        col "java allocator calls/s" "$(cell java calls_per_s base)" "$(cell java calls_per_s lw)" "$(cell java calls_per_s ht)"
        col "java process wall ms" "$(cell java proc_ms base)" "$(cell java proc_ms lw)" "$(cell java proc_ms ht)"
        col "java peak RSS, KiB" "$(cell java maxrss_kb base)" "$(cell java maxrss_kb lw)" "$(cell java maxrss_kb ht)"
        has_cfg lw && col "  time to attach a running JVM" "" "$(med java.at.attach_ms) ms" ""
    fi
    if wanted netty; then
        col "netty gateway requests/s" "$(cell netty rps base)" "$(cell netty rps lw)" ""
        col "netty gateway peak RSS, KiB" "$(cell netty peak_kb base)" "$(cell netty peak_kb lw)" ""
        local k pairs=0
        R[netty.slice_ratio]=""
        for k in "${!R[@]}"; do
            case $k in netty.lw.slice_rps@*) ;; *) continue ;; esac
            [ -n "${R[netty.base.slice_rps@${k#*@}]:-}" ] || continue
            add netty.slice_ratio "$(calc "${R[$k]} / ${R[netty.base.slice_rps@${k#*@}]}")"
            pairs=$((pairs + 1))
        done
        say "  netty: median of the $pairs ratios leakwatch/base of the 1 s slices taken back to back: $(med netty.slice_ratio)x"
        say "  netty 1 s slices, requests/s: base min $(printf '%s\n' ${R[netty.base.slice_rps]:-} | sort -g | head -n 1) max $(printf '%s\n' ${R[netty.base.slice_rps]:-} | sort -g | tail -n 1); leakwatch min $(printf '%s\n' ${R[netty.lw.slice_rps]:-} | sort -g | head -n 1) max $(printf '%s\n' ${R[netty.lw.slice_rps]:-} | sort -g | tail -n 1)"
    fi

    local base lw ht lw_add ht_add meta hold
    base=$(med churn.base.ns_per_op) lw=$(med churn.lw.ns_per_op) ht=$(med churn.ht.ns_per_op)
    lw_add=$(calc "$lw - $base") ht_add=$(calc "$ht - $base")
    meta=$(calc "($(med churn.lw.rss_kb) - $(med churn.base.rss_kb)) * 1024 / $(med churn.base.live_blocks)")
    if wanted report && has_cfg lw; then
        local a1 a2 s1 s2
        a1=$(med report.api.1.extra_ms) a2=$(med report.api.2.extra_ms)
        s1=$(med report.signal.1.extra_ms) s2=$(med report.signal.2.extra_ms)
        hold=$(printf '%s\n' $a1 $a2 $s1 $s2 | grep -v n/a | sort -g | tail -n 1)
        hold=${hold:-n/a}
        say ""
        say "Report over $(med report.sites) sites / 100000 live blocks ($REPORT_THREADS allocating thread(s); medians):"
        for via in api signal; do
            say "  $via, control (300 ms, no report): longest stall $(med report.$via.0.max_gap_ms) ms, stalled >20us $(med report.$via.0.stalled_ms) ms, extra time $(med report.$via.0.extra_ms) ms"
            for seq in 1 2; do
                say "  $via, report $seq: written in $(med report.$via.$seq.write_ms) ms; allocating threads: longest stall $(med report.$via.$seq.max_gap_ms) ms, stalled >20us $(med report.$via.$seq.stalled_ms) ms, extra time $(med report.$via.$seq.extra_ms) ms"
            done
        done
        say "  JSON $(med report.json_kb) KiB; the shim's totals: metadata_bytes=$(med report.metadata_bytes) stack_bytes=$(med report.stack_bytes)"
    fi
    if wanted live && has_cfg lw; then
        say ""
        say "Live endpoint (churn under leakwatch; medians): ns/op $(med live.plain.ns_per_op) unscraped, $(med live.scraped.ns_per_op) with /metrics every 1 s; thread CPU ns/op $(med live.plain.cpu_ns_per_op) vs $(med live.scraped.cpu_ns_per_op); $(med live.scrapes) scrapes a run, each answered in $(med live.scrape_ms) ms"
    fi
    say ""
    say "Figures derived:"
    say "  churn added ns/op: leakwatch $lw_add, heaptrack $ht_add (heaptrack recorded $(med churn.ht.recorded) allocations per run)"
    say "  churn by the threads' CPU time (steadier on a loaded machine; leaves out heaptrack's other processes):" \
        "leakwatch +$(calc "$(med churn.lw.cpu_ns_per_op) - $(med churn.base.cpu_ns_per_op)") ns/op ($(unit "$(pratio churn cpu_ns_per_op lw)" x))"
    say "  metadata per live block (RSS at end with leakwatch minus without / $(med churn.base.live_blocks) live blocks): $meta bytes"
    say ""
    say "Targets (issue 4):"
    target "$lw_add <= $ht_add / 5" "churn: leakwatch's added time per op ($lw_add ns) <= 1/5 of heaptrack's ($ht_add ns)"
    local slow
    slow=$(pratio churn ns_per_op lw)
    target "$slow <= 1.5" "churn: total slowdown <= 1.5x ($(unit "$slow" x))"
    for w in 1 2; do
        local r
        r=$(pratio nginx$w rps lw)
        target "$r >= 0.9" "nginx, $w worker(s): >= 90% of baseline requests/s ($(unit "$(calc "$r * 100")" %))"
        r=$(pratio nginx$w rps at)
        target "$r >= 0.9" "nginx, $w worker(s), attached while serving: >= 90% of baseline requests/s ($(unit "$(calc "$r * 100")" %)); time to attach a worker $(med nginx$w.at.attach_ms) ms (median)"
    done
    target "$meta <= 48" "metadata <= 48 bytes per live block ($meta)"
    if wanted netty; then
        local nr
        nr=$(pratio netty rps lw)
        target "$nr >= 0.9" "netty gateway (pooled, no JIT flags): >= 90% of baseline requests/s ($(unit "$(calc "$nr * 100")" %))"
    fi
    target "${hold:-n/a} < 50" "a report over 100k live blocks holds allocating threads up < 50 ms (worst median extra time ${hold:-n/a} ms)"
    if [ ${#SKIPPED[@]} -gt 0 ]; then
        say ""
        say "Not measured:"
        printf '  %s\n' "${SKIPPED[@]}"
    fi
    if wanted javaheap; then
        local on off ratios=""
        R[jh.tmp]=""
        R[jh.cpu]=""
        for ((rep = 1; rep <= JHEAP_PAIRS; rep++)); do
            on=${R[javaheap.on.rps@$rep]:-} off=${R[javaheap.off.rps@$rep]:-}
            [ -n "$on" ] && [ -n "$off" ] && add jh.tmp "$(calc "$on / $off")"
            on=${R[javaheap.on.cpu_us@$rep]:-} off=${R[javaheap.off.cpu_us@$rep]:-}
            [ -n "$on" ] && [ -n "$off" ] && add jh.cpu "$(calc "$on / $off")"
        done
        say ""
        say "Netty gateway requests/s under the shim: Java-heap tracking off $(med javaheap.off.rps), on $(med javaheap.on.rps) (median of $JHEAP_PAIRS paired ratios $(med jh.tmp)x; each:$(printf ' %s' ${R[jh.tmp]}))"
        say "  the JVM's CPU per request: off $(med javaheap.off.cpu_us) us, on $(med javaheap.on.cpu_us) us (median of paired ratios $(med jh.cpu)x)"
        target "$(med jh.tmp) >= 0.95" "Java-heap tracking keeps >= 95% of the gateway's requests/s"
    fi
    if wanted tools && [ -n "${R[tools.json_mb]:-}" ]; then
        say ""
        say "the command over reports of $TOOLS_SITES sites ($(med tools.json_mb) MiB of JSON each): median wall s / CPU s / peak RSS MiB"
        for name in $TOOLS_CASES; do
            say "  $name: $(med tools.$name.wall_s) / $(med tools.$name.cpu_s) / $(med tools.$name.maxrss_mb)"
        done
        target "$(med tools.diff_same.wall_s) <= 2" "diff X X of $TOOLS_SITES sites in <= 2 s wall ($(med tools.diff_same.wall_s) s)"
        target "$(med tools.diff_same.maxrss_mb) <= 300" "diff X X of $TOOLS_SITES sites in <= 300 MiB peak RSS ($(med tools.diff_same.maxrss_mb) MiB)"
        target "$(med tools.json.maxrss_mb) <= 64" "report --format json of the whole report in <= 64 MiB, whatever its size ($(med tools.json.maxrss_mb) MiB)"
    fi
    if [ "$BENCH_CALLGRIND" = 1 ] && [ -n "${R[cg.base]:-}" ] && [ -n "${R[cg.lw]:-}" ]; then
        say ""
        say "callgrind instructions per churn call: base ${R[cg.base]}, leakwatch ${R[cg.lw]} (+$(calc "${R[cg.lw]} - ${R[cg.base]}"))"
    fi
}

if [ ! -x "$CHURN" ]; then
    say "run.sh: $CHURN is missing (make bench builds it)" >&2
    exit 2
fi
say "leakwatch bench: configurations: $CFGS; REPS=$REPS; $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
wanted churn && bench_churn
wanted report && bench_report
wanted nginx && bench_nginx
wanted java && bench_java
wanted netty && bench_netty
wanted tools && bench_tools
wanted live && bench_live
wanted javaheap && bench_javaheap
wanted heldby && bench_heldby
[ "$BENCH_CALLGRIND" = 1 ] && bench_callgrind
[ "$BENCH_PERF" = 1 ] && bench_perf
summary
exit 0
