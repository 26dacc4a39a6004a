#!/usr/bin/env bash
# libFuzzer targets for every parser of outside input (fuzz/README.md lists them).
#   scripts/fuzz.sh build            configure + build build/fuzz with clang (ASan+UBSan+libFuzzer)
#   scripts/fuzz.sh run [seconds]    run each target on fuzz/corpus/<target> for `seconds` (default 20)
#   scripts/fuzz.sh run 600 http_tgi step_plan    only those targets, longer (by hand)
#   scripts/fuzz.sh list             the targets
# `run` prints per target: executions, exec/s, coverage (libFuzzer's cov:/ft:), new corpus inputs,
# and fails on any crash, leak, timeout or out-of-memory, saving the input under
# build/fuzz/artifacts/<target>/ (copy it into fuzz/regressions/<target>/ and fix the bug: the
# regression test tests/fuzz/ replays every file there in the normal build).
# New interesting inputs go to build/fuzz/corpus/<target>/ (not to the committed seeds; merge by
# hand with -merge=1 when worth keeping). MIES_FUZZ_JOBS>1 runs that many targets in parallel.
# MIES_FUZZ_SEED=N fixes libFuzzer's random seed (default 0 = a new seed each run; test.sh uses 1
# so a CI failure replays with the same command, and longer runs by hand explore new paths).
# MIES_FUZZ_RUNS=N stops each target after N inputs instead, with `seconds` only as a cap, and
# starts from the committed seeds only: with a fixed seed a faster machine no longer goes further
# (with a time budget a commit that passed here could fail in CI on a new find), and a target
# whose code is deterministic sees the same inputs on every run.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=build/fuzz
bin="$dir/fuzz/mies_fuzz"
cmd="${1:-}"
shift || true

die() { echo "fuzz.sh: $*" >&2; exit 1; }

targets_all() {
  # The registry is the source of truth: the binary lists its targets when none is chosen.
  { MIES_FUZZ_TARGET= "$bin" -runs=0 2>&1 >/dev/null || true; } | awk '/^  [a-z_]+ /{print $1}'
}

case "$cmd" in
  build)
    command -v clang++ >/dev/null || die "clang++ not found (apt-get install clang)"
    flags="-O1 -gline-tables-only -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
    CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Fuzz \
      -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
      -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
      -DMIES_BUILD_FUZZ=ON -DMIES_BUILD_TESTS=OFF -DMIES_BUILD_BENCH=OFF >/dev/null
    cmake --build "$dir" --target mies_fuzz -j "${MIES_BUILD_JOBS:-$(nproc)}"
    ;;
  list)
    [[ -x "$bin" ]] || die "$bin is not built: scripts/fuzz.sh build"
    { MIES_FUZZ_TARGET= "$bin" -runs=0 2>&1 >/dev/null || true; } | sed -n 's/^  //p'
    ;;
  run)
    [[ -x "$bin" ]] || die "$bin is not built: scripts/fuzz.sh build"
    seconds="${1:-20}"
    shift || true
    if [[ $# -gt 0 ]]; then targets=("$@"); else mapfile -t targets < <(targets_all); fi
    [[ ${#targets[@]} -gt 0 ]] || die "no targets found"
    jobs="${MIES_FUZZ_JOBS:-1}"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1:${ASAN_OPTIONS:-}"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
    export MIES_SHARED_DIR="${MIES_SHARED_DIR:-$PWD/../shared}"
    run_one() {
      local t="$1" seeds="fuzz/corpus/$1" work="$dir/corpus/$1" art="$dir/artifacts/$1"
      local log="$dir/logs/$1.log"
      if [[ "${MIES_FUZZ_RUNS:-0}" -gt 0 ]]; then
        # Reproducible mode: start from the committed seeds only, not from what earlier runs of
        # this build tree added.
        work="$dir/corpus-check/$1"
        rm -rf "$work"
      fi
      mkdir -p "$work" "$art" "$dir/logs"
      [[ -d "$seeds" ]] || mkdir -p "$seeds"
      local dict=(); [[ -f "fuzz/dict/$t.dict" ]] && dict=(-dict="fuzz/dict/$t.dict")
      local rc=0
      local budget=(-max_total_time="$seconds")
      if [[ "${MIES_FUZZ_RUNS:-0}" -gt 0 ]]; then budget+=(-runs="$MIES_FUZZ_RUNS"); fi
      MIES_FUZZ_TARGET="$t" "$bin" "$work" "$seeds" "${dict[@]}" "${budget[@]}" \
        -seed="${MIES_FUZZ_SEED:-0}" \
        -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$art/" >"$log" 2>&1 || rc=$?
      local stats execs rate cov ft corp
      execs=$(awk '/^stat::number_of_executed_units/{print $2}' "$log")
      rate=$(awk '/^stat::average_exec_per_sec/{print $2}' "$log")
      stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|REDUCE|NEW|pulse).*cov:' "$log" | tail -1 || true)
      cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$stats")
      ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$stats")
      corp=$(sed -n 's/.*corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$stats")
      if [[ $rc -ne 0 ]]; then
        printf '%-18s FAILED (exit %d): ' "$t" "$rc"
        grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|mies fuzz:|Test unit written' "$log" \
          | head -4 | tr '\n' ' '
        echo; echo "  log: $log"
        return 1
      fi
      printf '%-18s %10s execs %8s exec/s  cov %-6s ft %-6s corpus %s\n' "$t" "${execs:-?}" \
        "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
    }
    export -f run_one
    export dir bin seconds
    fail=0
    if [[ "$jobs" -gt 1 ]]; then
      printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}' || fail=1
    else
      for t in "${targets[@]}"; do run_one "$t" || fail=1; done
    fi
    [[ $fail -eq 0 ]] || die "a target failed: crash inputs are under $dir/artifacts/<target>/"
    summary="${seconds}s each"
    [[ "${MIES_FUZZ_RUNS:-0}" -gt 0 ]] && summary="$MIES_FUZZ_RUNS inputs each (at most ${seconds}s)"
    echo "fuzz.sh: ${#targets[@]} targets, $summary: no crash, leak or timeout"
    ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
