#!/usr/bin/env bash
# Runs everything CI runs: setup, Release build + install, every test (unit and integration),
# then the same suite under ASan+UBSan. Exits non-zero on any failure.
#   MIES_SKIP_SANITIZE=1 scripts/test.sh   skips the sanitizer pass (for quick local runs)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh release
# The npm `openai` client the server tests drive (pinned by tests/server/package-lock.json).
if command -v npm >/dev/null 2>&1; then (cd tests/server && npm ci --no-audit --no-fund --silent); fi

jobs="${MIES_TEST_JOBS:-2}"
echo "== tests (Release) =="
ctest --test-dir build/release --output-on-failure -j "$jobs" --timeout 600

if [[ "${MIES_SKIP_SANITIZE:-0}" != 1 ]]; then
  echo "== tests (ASan+UBSan) =="
  scripts/build.sh asan
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/asan --output-on-failure -j "$jobs" --timeout 1200 -LE no_sanitize
fi
echo "test.sh: all tests passed"
