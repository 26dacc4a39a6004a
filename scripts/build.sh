#!/usr/bin/env bash
# Configures, builds and installs mies.
#   scripts/build.sh            Release build in build/release, install tree at build/install/
#   scripts/build.sh debug      Debug build in build/debug (not installed)
#   scripts/build.sh asan       ASan+UBSan build in build/asan (not installed): the whole project
#   scripts/build.sh tsan       ThreadSanitizer build in build/tsan (not installed): by default only
#                               the engine, cluster and kernels (thread pool) tests and the programs
#                               they start; run them with scripts/tsan.supp (see scripts/test.sh)
# Extra arguments after the flavour go to cmake --build (e.g. a target name: --target foo).
set -euo pipefail
cd "$(dirname "$0")/.."

flavour="${1:-release}"
shift || true
case "$flavour" in
  release) type=Release; sanitize=OFF ;;
  debug)   type=Debug;   sanitize=OFF ;;
  asan)    type=RelWithDebInfo; sanitize=ON ;;
  tsan)    type=RelWithDebInfo; sanitize=OFF ;;
  *) echo "build.sh: unknown flavour '$flavour' (expected release, debug, asan or tsan)" >&2; exit 2 ;;
esac

dir="build/$flavour"
jobs="${MIES_BUILD_JOBS:-$(nproc)}"
bench=ON; [[ "$flavour" == asan || "$flavour" == tsan ]] && bench=OFF  # not run under sanitizers
extra=()
if [[ "$flavour" == asan || "$flavour" == tsan ]]; then
  # Sanitizer builds: -O0 with line tables (file:line stacks kept) everywhere but the
  # compute-heavy modules, which get -O1 (CMakeLists.txt MIES_HOT_MODULE_FLAGS) so the tests do
  # not slow down. An -O0 translation unit compiles 40-45% faster than -O1 under ASan
  # (server/http_server.cc 145 s -> 79 s, tests/tokenizer/tokenizer_test.cc 29 s -> 16 s), and
  # -O1 was already less than half of -O2 -g (257 s -> 119 s for server/openai_api.cc).
  extra+=(-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O0 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O0 -g1 -DNDEBUG"
          -DMIES_HOT_MODULE_FLAGS=-O1)
fi
if [[ "$flavour" == tsan ]]; then
  # TSan cannot be combined with ASan, so it is its own flavour; the flags go through the
  # standard CMake variables. Only code we compile is instrumented, not the Debian
  # grpc/gloo/openssl libraries.
  tsan_flags="-fsanitize=thread -fno-omit-frame-pointer"
  extra+=(-DCMAKE_C_FLAGS="$tsan_flags" -DCMAKE_CXX_FLAGS="$tsan_flags"
         -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread)
  if [[ $# -eq 0 ]]; then
    # The threaded parts: engine loop and executors, cluster control/data planes, thread pool.
    set -- --target engine_step_plan_test engine_block_manager_test engine_sampler_test \
      engine_request_validation_test engine_engine_test engine_options_test runner_test executor_test \
      engine_scheduler_test kernels_test
    if [[ -f tests/cluster/CMakeLists.txt ]]; then
      set -- "$@" cluster_unit_test cluster_process_test mies-cluster-node
    fi
  fi
fi
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" -DMIES_SANITIZE="$sanitize" -DMIES_BUILD_BENCH="$bench" \
  -DCMAKE_INSTALL_PREFIX="$PWD/build/install" "${extra[@]}" >/dev/null
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
