#!/bin/sh
# Compiles tests/java/*.java into BUILD/java against Debian's Netty jars (no Maven), only when a source is newer
# than its class. Prints the classpath to run the gateway with. Usage: build-java.sh BUILD_DIR
set -eu
build=${1:?usage: build-java.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/../java" && pwd)
out="$build/java"
cp=""
for jar in netty-buffer netty-common netty-transport netty-codec netty-codec-http netty-handler netty-resolver; do
    f=/usr/share/java/$jar.jar
    if [ ! -r "$f" ]; then
        echo "build-java.sh: $f is missing; install Debian's libnetty-java (scripts/deps.sh)" >&2
        exit 1
    fi
    cp="$cp${cp:+:}$f"
done
command -v javac >/dev/null 2>&1 ||
    { echo "build-java.sh: javac not found; install openjdk-17-jdk-headless (scripts/deps.sh)" >&2; exit 1; }
mkdir -p "$out"
stale=""
for j in "$src"/*.java; do
    c="$out/$(basename "$j" .java).class"
    if [ ! -f "$c" ] || [ "$j" -nt "$c" ]; then stale=1; fi
done
if [ -n "$stale" ]; then
    javac -nowarn -d "$out" -cp "$cp" "$src"/*.java >&2
fi
echo "$out:$cp"
