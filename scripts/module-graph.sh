#!/bin/sh
# module-graph.sh BUILD_DIR — run from the source tree; fails when the shim's modules call each other in a circle.
# An edge "a b" means a.o uses a symbol that b.o defines; tsort reports any loop. The graph comes from
# the objects, not from #include lines, so a function declared in one header and defined in another
# module's .c is still seen.
set -eu
build="$1"
edges=$(mktemp) defs=$(mktemp)
trap 'rm -f "$edges" "$defs"' EXIT
for c in shim/*.c; do
    m=$(basename "$c" .c)
    nm "$build/shim/$m.o" | awk -v m="$m" 'NF == 3 && $2 ~ /^[TDBRVW]$/ { print $3, m }'
done | sort -u > "$defs"
for c in shim/*.c; do
    m=$(basename "$c" .c)
    nm -u "$build/shim/$m.o" | awk '{ print $NF }' | sort -u | join - "$defs" | awk -v m="$m" '$2 != m { print m, $2 }'
done | sort -u > "$edges"
if ! tsort "$edges" > /dev/null 2> "$edges.err"; then
    echo "module-graph: the shim's modules call each other in a circle:" >&2
    cat "$edges.err" >&2
    rm -f "$edges.err"
    exit 1
fi
rm -f "$edges.err"
echo "module-graph: $(wc -l < "$edges") calls between $(ls shim/*.c | wc -l) modules, no circle"
