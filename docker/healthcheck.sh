#!/usr/bin/env bash
# The images' HEALTHCHECK: an HTTP GET that succeeds on a 200, written with bash's /dev/tcp so that the slim runtime
# images need no curl (ftd and ftd-worker have no health-check mode of their own). tests/docker runs it against a
# live ftd and ftd-worker.
#
#   healthcheck.sh [HOST:]PORT [PATH]      default host 127.0.0.1, default path /healthz; exit 0 on HTTP 200
set -uo pipefail

target=${1:?usage: healthcheck.sh [HOST:]PORT [PATH]}
path=${2:-/healthz}
host=127.0.0.1
port=$target
if [[ $target == *:* ]]; then
  host=${target%:*}
  port=${target##*:}
fi
[[ $port =~ ^[0-9]+$ ]] || { echo "healthcheck: bad port '$port'" >&2; exit 2; }

# HEALTHCHECK's --timeout bounds a connect that hangs; the answer is waited for at most 5 s.
{ exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || { echo "healthcheck: cannot connect to $host:$port" >&2; exit 1; }
printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$host" >&3
status_line=
IFS= read -r -t 5 status_line <&3
exec 3<&-
status_line=${status_line%$'\r'}
if [[ $status_line =~ ^HTTP/[0-9.]+\ 200 ]]; then
  exit 0
fi
echo "healthcheck: GET $host:$port$path: ${status_line:-no answer}" >&2
exit 1
