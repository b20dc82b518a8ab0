#!/usr/bin/env bash
# Runs the whole test suite: `cargo test` (unit, integration, Kafka, load generator smoke), then the
# browser tests (scripts/test-browser.sh). Installs what the tests need first, so it works on a
# fresh machine:
# - the Kafka-protocol test broker (Tansu, built once from the Rust package registry and cached;
#   ~14 min the first time),
# - socat and openssl (the TLS terminator and certificates of the Kafka TLS tests), from Debian,
# - the NATS, RabbitMQ, Redis and Mosquitto servers running (scripts/services.sh),
# - Google's Pub/Sub emulator (checked, not installed: it comes with the machine image; the
#   gcp-pubsub tests start their own with scripts/gcp-emulator.sh),
# - moto's server (the aws scheme's stand-in for SNS and SQS), from PyPI into the project's own
#   virtual environment under ~/.cache/pubsub-gateway (scripts/moto.sh; the tests start their own),
# - chromium and the client's npm packages (scripts/test-browser.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v socat >/dev/null || need+=(socat)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >&2
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq "${need[@]}" >&2
  fi
fi

# NATS, RabbitMQ, Redis and Mosquitto on their standard ports (started when not running).
scripts/services.sh

# The Pub/Sub emulator and Java: fails here, naming the path looked at, rather than in the tests.
scripts/gcp-emulator.sh check >/dev/null

# moto[server] in the project's virtual environment: fails here, loudly, without PyPI.
scripts/moto.sh install >/dev/null

TANSU_BIN=$(scripts/install-test-broker.sh)
export TANSU_BIN

cargo test --locked "$@"
scripts/test-browser.sh
