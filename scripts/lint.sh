#!/usr/bin/env bash
# House-style checks.
#   scripts/lint.sh format        every tracked C++ file is formatted with .clang-format (CI runs
#                                 this; `scripts/lint.sh fix` rewrites the files instead)
#   scripts/lint.sh tidy [FILES]  clang-tidy with .clang-tidy over src/ (or FILES), using
#                                 build/release/compile_commands.json
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-format}"
shift || true
case "$mode" in
  format|fix)
    mapfile -t files < <(git ls-files '*.cc' '*.h')
    if [[ "$mode" == fix ]]; then
      clang-format -i "${files[@]}"
      exit 0
    fi
    bad=()
    for f in "${files[@]}"; do
      clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
    done
    if ((${#bad[@]} > 0)); then
      echo "lint: ${#bad[@]} file(s) not formatted with .clang-format (run scripts/lint.sh fix):" >&2
      printf '  %s\n' "${bad[@]}" >&2
      exit 1
    fi
    echo "lint: ${#files[@]} C++ files formatted"
    ;;
  tidy)
    db=build/release/compile_commands.json
    [[ -f "$db" ]] || { echo "lint: $db missing (scripts/build.sh first)" >&2; exit 2; }
    if (($# == 0)); then mapfile -t files < <(git ls-files 'src/*.cc'); else files=("$@"); fi
    # One process per core; clang-tidy exits non-zero on any finding (WarningsAsErrors: '*').
    printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p build/release --quiet
    echo "lint: clang-tidy clean on ${#files[@]} files"
    ;;
  *)
    echo "lint.sh: unknown mode '$mode' (format, fix or tidy)" >&2
    exit 2
    ;;
esac
