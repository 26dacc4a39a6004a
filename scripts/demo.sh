#!/usr/bin/env bash
# The main job: set up, build, start mindieservice_daemon from the install tree on the default
# config (stories260K), wait for "Daemon start success!", then stop it with SIGTERM.
# (The inference API arrives with the endpoint work; until then the demo shows startup.)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build.sh release

home="$PWD/build/install"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "demo: starting $home/bin/mindieservice_daemon"
MINDIE_LLM_HOME_PATH="$home" "$home/bin/mindieservice_daemon" >"$out" &
pid=$!
for _ in $(seq 1 300); do
  if grep -q "Daemon start success!" "$out"; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "demo: the daemon exited before it was ready" >&2
    wait "$pid" || true
    exit 1
  fi
  sleep 0.1
done
grep -q "Daemon start success!" "$out" || { echo "demo: no success line in 30 s" >&2; kill "$pid"; exit 1; }
tail -n 1 "$out"
kill -TERM "$pid"
wait "$pid"
echo "demo: daemon stopped cleanly (exit 0)"
