#!/usr/bin/env bash
# Runs everything CI runs: setup, Release build + install, every test (unit and integration).
# Exits non-zero on any failure.
#   MIES_SANITIZE_PASS=1 scripts/test.sh   then also builds with ASan+UBSan (build/asan) and runs
#                                          the unit tests there (integration tests excluded).
# The sanitizer pass is not yet on by default: each module's unit tests were run under ASan+UBSan
# by hand, but the whole pass has not been run end to end on a 2-core CI machine (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh release
# The npm `openai` client the server tests drive (pinned by tests/server/package-lock.json).
if command -v npm >/dev/null 2>&1; then (cd tests/server && npm ci --no-audit --no-fund --silent); fi

jobs="${MIES_TEST_JOBS:-2}"
echo "== tests (Release) =="
ctest --test-dir build/release --output-on-failure -j "$jobs" --timeout 600

if [[ "${MIES_SANITIZE_PASS:-0}" == 1 ]]; then
  echo "== unit tests (ASan+UBSan) =="
  scripts/build.sh asan
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/asan --output-on-failure -j "$jobs" --timeout 1200 \
      -LE "no_sanitize|integration"
fi
# Fuzzing (fuzz/README.md): every libFuzzer target on its committed corpus for a short budget,
# two at a time; MIES_FUZZ_SECONDS=0 skips it. Needs clang (libFuzzer); skipped without it.
fuzz_seconds="${MIES_FUZZ_SECONDS:-15}"
if [[ "$fuzz_seconds" != 0 ]]; then
  if command -v clang++ >/dev/null 2>&1; then
    echo "== fuzz (${fuzz_seconds} s per target) =="
    scripts/fuzz.sh build | tail -n 25
    # A fixed seed: CI checks the corpus and a reproducible stretch of mutations (a failure replays
    # with the same command); new territory is explored by the longer runs by hand.
    MIES_FUZZ_SEED="${MIES_FUZZ_SEED:-1}" MIES_FUZZ_JOBS="${MIES_FUZZ_JOBS:-$jobs}" \
      scripts/fuzz.sh run "$fuzz_seconds"
  else
    echo "== fuzz: skipped (clang++ not installed; apt-get install clang) =="
  fi
fi
echo "test.sh: all tests passed"
