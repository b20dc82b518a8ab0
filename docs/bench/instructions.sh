#!/usr/bin/env bash
# Instructions per request, counted by callgrind, for a server binary (the gateway or the floor)
# driven by the load generator: stable on a busy machine, where throughput figures are not.
#
#   docs/bench/instructions.sh SERVER_BIN ping|produce [CONNECTIONS] [INFLIGHT]
#
# The server runs under valgrind --tool=callgrind twice, for a short and a long run of
# `loadgen requests`; (instructions of the long run - of the short one) / (requests of the long
# run - of the short one) is the cost of one more request, start-up, connection setup and
# shutdown cancelling out. User-space instructions only: the kernel's share (socket reads and
# writes) is not counted, and valgrind runs the server's threads one at a time.
set -euo pipefail
bin=$(realpath "$1")
kind=${2:-ping}
conns=${3:-200}
inflight=${4:-16}
root=$(cd "$(dirname "$0")/../.." && pwd)
loadgen=${LOADGEN:-$root/target/release/examples/loadgen}
work=$(mktemp -d /tmp/instructions.XXXXXX)
server=gateway
case "$(basename "$bin")" in floor*) server=floor ;; esac
# A wrapper the load generator starts as the server; --check-config runs without valgrind.
wrapper=$work/server-$server
cat >"$wrapper" <<WRAP
#!/bin/sh
if [ "\$1" = "--check-config" ]; then exec "$bin" "\$@"; fi
exec valgrind --tool=callgrind --callgrind-out-file=$work/callgrind.\$\$ "$bin" "\$@" 2>>$work/valgrind.log
WRAP
chmod +x "$wrapper"
run() { # seconds -> "instructions requests"
    rm -f "$work"/callgrind.*
    "$loadgen" requests --gateway "$wrapper" --server "$server" --kind "$kind" \
        --connections "$conns" --inflight "$inflight" --seconds "$1" --json "$work/r.json" \
        >"$work/loadgen-$1.log" 2>&1 || { cat "$work/loadgen-$1.log" >&2; exit 1; }
    local ir req
    ir=$(grep -h '^summary:' "$work"/callgrind.* | awk '{s+=$2} END {print s}')
    req=$(grep -o '"round_trips": [0-9]*' "$work/r.json" | awk '{print $2}')
    echo "$ir $req"
}
read -r ir1 req1 < <(run 3)
read -r ir2 req2 < <(run 9)
echo "server=$server bin=$bin kind=$kind connections=$conns inflight=$inflight"
echo "short run: $ir1 instructions, $req1 requests; long run: $ir2 instructions, $req2 requests"
awk -v a="$ir1" -v b="$ir2" -v x="$req1" -v y="$req2" \
    'BEGIN { printf "instructions per request: %.0f\n", (b - a) / (y - x) }'
rm -rf "$work"
