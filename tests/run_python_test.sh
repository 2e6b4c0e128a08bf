#!/usr/bin/env bash
# Runs a Python test with the checkout's .venv (scripts/setup.sh makes it), giving it the test
# data directory ($WICK_TESTDATA or ../shared/testdata beside the checkout). Exit status 77 —
# ctest's "skipped" — with a loud message when either is missing.
set -u
src="$(cd "$(dirname "$0")/.." && pwd)"
py="${WICK_TEST_PYTHON:-$src/.venv/bin/python3}"
data="${WICK_TESTDATA:-$src/../shared/testdata}"
# In CI (CI set) a missing prerequisite is a failure: a skip would hide a missing install step.
missing=77
case "${CI:-}" in ""|0|false) ;; *) missing=1 ;; esac
if [ ! -x "$py" ]; then
  echo "*** SKIPPED: $py is missing: run scripts/setup.sh (it makes .venv with the pinned test clients) ***"
  exit $missing
fi
if [ ! -d "$data" ]; then
  echo "*** SKIPPED: TEST DATA MISSING: set WICK_TESTDATA or put ../shared/testdata beside the checkout ***"
  exit $missing
fi
export WICK_MISSING_STATUS=$missing
script="$1"
shift
exec "$py" "$script" "$@" --testdata "$data"
