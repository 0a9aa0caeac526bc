#!/bin/sh
# Makes an nginx prefix directory for the end-to-end tests and the walkthrough in docs/gateways.md:
# DIR/conf/nginx.conf (from nginx.conf.in), DIR/logs, DIR/tmp. Run it with: nginx -p DIR -e stderr -g 'daemon off;'
# Usage: nginx-prefix.sh DIR FRONT_PORT BACK_PORT [ENV_NAME...]
#   ENV_NAME...  variables nginx must pass on to a new binary on upgrade (`env` directives), e.g. LD_PRELOAD
set -eu
[ $# -ge 3 ] || { echo "usage: nginx-prefix.sh DIR FRONT_PORT BACK_PORT [ENV_NAME...]" >&2; exit 2; }
dir=$1 front=$2 back=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir/conf" "$dir/logs" "$dir/tmp"
# Workers of a master started as root switch to an unprivileged user; Debian has no group "nobody".
user_line=""
if [ "$(id -u)" -eq 0 ]; then
    user_line="user nobody nogroup;"
    chmod 0755 "$dir"
fi
env_lines=""
for name in "$@"; do env_lines="$env_lines env $name;"; done
sed -e "s|@USER_LINE@|$user_line|" -e "s|@ENV_LINES@|$env_lines|" \
    -e "s|@FRONT_PORT@|$front|g" -e "s|@BACK_PORT@|$back|g" "$here/nginx.conf.in" >"$dir/conf/nginx.conf"
