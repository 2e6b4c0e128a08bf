#!/usr/bin/env bash
# Runs a Python test with the checkout's .venv (scripts/setup.sh makes it), giving it the test
# data directory ($WICK_TESTDATA or ../shared/testdata beside the checkout). Exit status 77 —
# ctest's "skipped" — with a loud message when either is missing.
set -u
src="$(cd "$(dirname "$0")/.." && pwd)"
py="${WICK_TEST_PYTHON:-$src/.venv/bin/python3}"
data="${WICK_TESTDATA:-$src/../shared/testdata}"
if [ ! -x "$py" ]; then
  echo "*** SKIPPED: $py is missing: run scripts/setup.sh (it makes .venv with the pinned test clients) ***"
  exit 77
fi
if [ ! -d "$data" ]; then
  echo "*** SKIPPED: TEST DATA MISSING: set WICK_TESTDATA or put ../shared/testdata beside the checkout ***"
  exit 77
fi
script="$1"
shift
exec "$py" "$script" "$@" --testdata "$data"
