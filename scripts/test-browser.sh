#!/usr/bin/env bash
# Browser tests (tests/browser/*.test.mjs): the JavaScript client library and the live console in
# real headless Chromium against the real gateway binary. Installs what they need first, so it
# works on a fresh Debian machine:
# - chromium from Debian (when /usr/bin/chromium, or $CHROMIUM_BIN, is missing),
# - the client package's npm dependencies (npm ci in clients/js: playwright-core, ws, kafkajs,
#   esbuild, protobufjs-cli), then checks that the committed generated files (proto code, client
#   bundle, console/dist) match their sources,
# - the gateway (cargo build),
# - a Kafka-protocol broker for the Kafka route: $KAFKA_BOOTSTRAP when set, else the Tansu test
#   broker (scripts/install-test-broker.sh; $TANSU_BIN when set) started on a free loopback port.
# Needs Node.js 20 or later.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ]; then
  echo "installing chromium" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "the browser tests need Node.js 20 or later (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

(cd clients/js && npm ci --no-audit --no-fund --loglevel=error >&2 && npm run --silent check)

cargo build --locked

broker_pid=
broker_dir=
cleanup() {
  if [ -n "$broker_pid" ]; then
    # Tansu sometimes ignores SIGTERM: escalate.
    kill "$broker_pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  if [ -n "$broker_dir" ]; then rm -rf "$broker_dir"; fi
}
trap cleanup EXIT

if [ -z "${KAFKA_BOOTSTRAP:-}" ]; then
  TANSU_BIN=${TANSU_BIN:-$(scripts/install-test-broker.sh)}
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  broker_dir=$(mktemp -d)
  (cd "$broker_dir" && exec "$TANSU_BIN" broker \
    --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine sqlite://tansu.db >broker.log 2>&1) &
  broker_pid=$!
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    kill -0 "$broker_pid" 2>/dev/null || { cat "$broker_dir/broker.log" >&2; echo "tansu exited" >&2; exit 1; }
    sleep 0.1
  done
  export KAFKA_BOOTSTRAP="127.0.0.1:$port"
fi

node --test tests/browser/
