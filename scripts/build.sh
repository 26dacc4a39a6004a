#!/usr/bin/env bash
# Configures, builds and installs mies.
#   scripts/build.sh            Release build in build/release, install tree at build/install/
#   scripts/build.sh debug      Debug build in build/debug (not installed)
#   scripts/build.sh asan       ASan+UBSan build in build/asan (not installed)
# Extra arguments after the flavour go to cmake --build (e.g. a target name: --target foo).
set -euo pipefail
cd "$(dirname "$0")/.."

flavour="${1:-release}"
shift || true
case "$flavour" in
  release) type=Release; sanitize=OFF ;;
  debug)   type=Debug;   sanitize=OFF ;;
  asan)    type=RelWithDebInfo; sanitize=ON ;;
  *) echo "build.sh: unknown flavour '$flavour' (expected release, debug or asan)" >&2; exit 2 ;;
esac

dir="build/$flavour"
jobs="${MIES_BUILD_JOBS:-$(nproc)}"
bench=ON; [[ "$flavour" == asan ]] && bench=OFF  # benchmarks are not run under sanitizers
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DMIES_SANITIZE="$sanitize" -DMIES_BUILD_BENCH="$bench" \
  -DCMAKE_INSTALL_PREFIX="$PWD/build/install" >/dev/null
cmake --build "$dir" -j "$jobs" "$@"

if [[ "$flavour" == release && $# -eq 0 ]]; then
  cmake --install "$dir" >/dev/null
  chmod 0700 build/install/security
  # The default conf/config.json serves models/stories260K: install the real tiny model from
  # shared/ when it is there, with the modes MindIE's file rules ask for.
  model_src="${MIES_SHARED_DIR:-../shared}/models/stories260K"
  model_dst=build/install/models/stories260K
  if [[ ! -f "$model_dst/config.json" && -d "$model_src" ]]; then
    mkdir -p "$model_dst"
    cp "$model_src"/* "$model_dst"/
    chmod 0750 build/install/models "$model_dst"
    chmod 0640 "$model_dst"/*
  fi
  echo "build.sh: install tree at build/install"
fi
