#!/usr/bin/env bash
# Checks the formatting (scripts/check_format.sh), then runs the whole test suite (ctest) on the
# release build; with --asan also builds the asan
# preset and runs the unit tests (parsers, loaders, kernels) under Address+UB sanitizers, then
# the libFuzzer targets of the GGUF and safetensors parsers for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/check_format.sh
cmake --preset release >/dev/null
cmake --build --preset release
ctest --preset release -j"$(nproc)"
if [ "${1:-}" = "--asan" ]; then
  cmake --preset asan >/dev/null
  cmake --build --preset asan --target wick_unit_tests
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ./build/asan/tests/wick_unit_tests --gtest_brief=1
  scripts/run_fuzzers.sh "${WICK_FUZZ_SECONDS:-40}"
fi
