#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz preset: clang + ASan/UBSan) and runs each for a bounded
# time from the seed corpus in fuzz/corpus. New inputs go to a scratch directory, so the repo's
# corpus only changes when someone adds seeds on purpose. A crash leaves crash-* in build/fuzz.
# Usage: scripts/run_fuzzers.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
rm -f build/fuzz/crash-* build/fuzz/leak-* build/fuzz/timeout-* build/fuzz/oom-*
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
for target in gguf safetensors chat_template request repl_reply; do
  scratch="$(mktemp -d)"
  echo "fuzz: wick_${target}_fuzzer for ${seconds} s"
  (cd build/fuzz && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ./fuzz/wick_${target}_fuzzer -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 -print_final_stats=1 \
    "$scratch" "../../fuzz/corpus/${target}" 2>&1 | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY)" || true)
  # libFuzzer exits non-zero on a crash; grep above hides the status, so check for artifacts.
  rm -rf "$scratch"
done
if ls build/fuzz/crash-* build/fuzz/leak-* build/fuzz/timeout-* build/fuzz/oom-* >/dev/null 2>&1; then
  echo "fuzz: FAILED, inputs saved in build/fuzz:" && ls build/fuzz/crash-* build/fuzz/leak-* build/fuzz/timeout-* build/fuzz/oom-* 2>/dev/null
  exit 1
fi
echo "fuzz: no crashes"
