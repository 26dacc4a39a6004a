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
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DMIES_SANITIZE="$sanitize" \
  -DCMAKE_INSTALL_PREFIX="$PWD/build/install" >/dev/null
cmake --build "$dir" -j "$jobs" "$@"

if [[ "$flavour" == release && $# -eq 0 ]]; then
  cmake --install "$dir" >/dev/null
  chmod 0700 build/install/security
  echo "build.sh: install tree at build/install"
fi
