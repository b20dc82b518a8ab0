#!/usr/bin/env bash
# Builds the gateway with one scheme besides the embedded broker (`--no-default-features
# --features nats`, what a user who needs only NATS builds), lints it, and checks that a route
# of a scheme left out is refused at config load, naming the feature to enable.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo clippy --locked --no-default-features --features nats -- -D warnings
cargo build --locked --no-default-features --features nats
bin=target/debug/pubsub-gateway
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/nats.yaml" <<'YAML'
routes:
  - uri: /embedded
    upstream: { scheme: embedded }
  - uri: /nats
    upstream: { scheme: nats, nodes: ["127.0.0.1:4222"] }
YAML
"$bin" --check-config --config "$dir/nats.yaml" >/dev/null
cat > "$dir/kafka.yaml" <<'YAML'
routes:
  - uri: /kafka
    upstream: { scheme: kafka, nodes: ["127.0.0.1:9092"] }
YAML
if out=$("$bin" --check-config --config "$dir/kafka.yaml" 2>&1); then
  echo "a kafka route passed --check-config in a build without kafka" >&2
  exit 1
fi
grep -q -- "--features kafka" <<<"$out" || { echo "the refusal does not name the feature: $out" >&2; exit 1; }
cat > "$dir/gcp.yaml" <<'YAML'
routes:
  - uri: /gcp
    upstream: { scheme: gcp-pubsub, nodes: ["127.0.0.1:8085"], gcp_pubsub: { project: test-project, emulator: true } }
YAML
if out2=$("$bin" --check-config --config "$dir/gcp.yaml" 2>&1); then
  echo "a gcp-pubsub route passed --check-config in a build without gcp-pubsub" >&2
  exit 1
fi
grep -q -- "--features gcp-pubsub" <<<"$out2" || { echo "the refusal does not name the feature: $out2" >&2; exit 1; }
echo "minimal build (embedded + nats): ok; a kafka route is refused: $out; a gcp-pubsub route: $out2" >&2
# The default build again, so that the test suite's binary has every scheme.
cargo build --locked
