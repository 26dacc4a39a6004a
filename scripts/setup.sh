#!/usr/bin/env bash
# Installs every build and test dependency of mies from Debian packages.
# Idempotent: runs `apt-get update` and `apt-get install` only when a package is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev openssl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libgloo-dev
  libboost-dev libpcre2-dev libopenblas-dev
  libicu-dev
  python3 python3-numpy python3-jinja2
  curl
  prometheus
  iproute2  # network namespaces for the cluster link-cut test
  clang libclang-rt-14-dev  # libFuzzer targets (scripts/fuzz.sh)
  clang-format clang-tidy  # scripts/lint.sh: the format check CI runs, and clang-tidy
  chromium  # headless browser for the console test (tests/console, npm puppeteer-core)
)

missing=()
# The machine image ships Node.js (with npm) from its own repository; fall back to Debian's.
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
