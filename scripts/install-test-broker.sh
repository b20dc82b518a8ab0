#!/usr/bin/env bash
# Installs the Kafka-protocol broker the test suite runs against: Tansu 0.6.0 with SQLite storage,
# built from the Rust package registry (Apache Kafka cannot be downloaded here; see ../shared/TEST-BROKER.md).
# The build takes ~14 minutes once; the binary is cached under $PUBSUB_GW_CACHE (default
# ~/.cache/pubsub-gateway) and reused on later runs. Prints the binary's path on stdout.
set -euo pipefail
version=0.6.0
cache=${PUBSUB_GW_CACHE:-$HOME/.cache/pubsub-gateway}
root="$cache/tansu-$version"
bin="$root/bin/tansu"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$root"
echo "building tansu $version (first run only, ~14 min) into $root" >&2
cargo install tansu --version "$version" --locked --features dynostore,libsql --root "$root" >&2
[ -x "$bin" ] || { echo "tansu build finished but $bin is missing" >&2; exit 1; }
echo "$bin"
