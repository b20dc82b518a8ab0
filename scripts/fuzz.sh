#!/usr/bin/env bash
# Runs a fuzz target (default session_frames, see fuzz/fuzz_targets/) for a number of inputs:
#   scripts/fuzz.sh 10000000            # ten million inputs
#   scripts/fuzz.sh 100000 -seed=1      # extra arguments go to libFuzzer
# One libFuzzer process, so one core (no -jobs: with -jobs libFuzzer forks workers and logs to
# fuzz-N.log). Builds without a sanitizer, which works on the stable toolchain; the target's own
# assertions and Rust's bounds checks do the checking. New corpus entries go to
# fuzz/corpus-local/<target>/ (ignored); the committed seeds in fuzz/corpus/<target>/ are only
# read. Crashes and timeouts land in fuzz/artifacts/<target>/; replay one with
#   scripts/fuzz.sh 1 fuzz/artifacts/session_frames/crash-...   (or FUZZ_SHOW_REPLIES=1 to see replies)
# -max_len=4096 still reaches past max_frame_bytes (2048); longer inputs mostly repeat 429s.
# Not part of CI: ten million inputs take an hour or more on one core.
set -euo pipefail

runs=${1:-1000000}
shift || true
target=${FUZZ_TARGET:-session_frames}
root=$(cd "$(dirname "$0")/.." && pwd)

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# A file argument replays that input instead of fuzzing the corpus.
inputs=("corpus-local/$target" "corpus/$target")
args=()
for a in "$@"; do
    if [[ -f $a ]]; then
        inputs=("$(cd "$(dirname "$a")" && pwd)/$(basename "$a")")
    else
        args+=("$a")
    fi
done

cd "$root/fuzz"
mkdir -p "corpus-local/$target" "artifacts/$target"

export RUST_BACKTRACE=${RUST_BACKTRACE:-1}
exec cargo fuzz run --sanitizer none "$target" "${inputs[@]}" -- \
    -runs="$runs" -max_len=4096 -timeout=30 -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/" ${args[@]+"${args[@]}"}
