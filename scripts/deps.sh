#!/bin/sh
# Installs the Debian packages that building and testing leakwatch need, when they are missing.
# As root it runs apt-get; otherwise it prints the one command to run and fails.
set -eu
need="gcc make pkg-config libunwind-dev check libjansson-dev libdw-dev libelf-dev valgrind
nginx-light wrk openjdk-17-jdk-headless libnetty-java sqlite3 libxml2-utils libjemalloc2 g++ gdb
python3 perl curl wget xz-utils mawk zlib1g-dev golang-go chromium prometheus"
missing=""
for p in $need; do
    # nginx-light is one way to get nginx; any nginx on PATH will do.
    if [ "$p" = nginx-light ] && command -v nginx >/dev/null 2>&1; then continue; fi
    if [ "$p" = openjdk-17-jdk-headless ] && command -v javac >/dev/null 2>&1; then continue; fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "leakwatch: missing Debian packages:$missing" >&2
    echo "leakwatch: install them with: sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "leakwatch: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || { echo "leakwatch: apt-get update failed" >&2; exit 1; }
apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
    { echo "leakwatch: apt-get install$missing failed" >&2; exit 1; }
