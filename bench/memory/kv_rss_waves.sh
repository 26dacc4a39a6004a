#!/usr/bin/env bash
# RSS of a serving daemon under waves of traffic, for each kvCacheReserve mode: stories260K on
# one node (the install tree's model), WAVES waves of REQUESTS streaming completions of
# OUTPUT_LEN tokens (distinct prompts per wave), RSS sampled after startup and after each wave.
# With "lazy" the pool fills page by page (RSS climbs wave after wave until it is full); with
# "touch" (the default) it is resident from the start and RSS stays flat.
#
# Usage: bench/memory/kv_rss_waves.sh [modes...]   (default: lazy touch)
# Environment: WAVES (6), REQUESTS (256), CONCURRENCY (64), OUTPUT_LEN (256), NPU_MEM_GB (1).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODES=("${@:-lazy touch}")
read -r -a MODES <<<"${MODES[*]}"
WAVES=${WAVES:-6}
REQUESTS=${REQUESTS:-256}
CONCURRENCY=${CONCURRENCY:-64}
OUTPUT_LEN=${OUTPUT_LEN:-256}
home="$PWD/build/install"
bench="$PWD/build/release/tools/bench_serving/mies-bench"
work=$(mktemp -d)
pid=
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$((27000 + RANDOM % 2000))
rss_mib() { awk '/^VmRSS/{print int($2 / 1024)}' "/proc/$1/status"; }

for mode in "${MODES[@]}"; do
  python3 - "$home/conf/config.json" "$work/c.json" "$mode" "$port" "${NPU_MEM_GB:-1}" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
m = c["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]
m["modelWeightPath"] = "models/stories260K"
m["kvCacheReserve"] = sys.argv[3]
m["npuMemSize"] = int(sys.argv[5])
s = c["ServerConfig"]
s["ipAddress"] = s["managementIpAddress"] = "127.0.1.1"
s["port"], s["managementPort"], s["metricsPort"] = int(sys.argv[4]), int(sys.argv[4]) + 1, int(sys.argv[4]) + 2
c["BackendConfig"]["ScheduleConfig"]["maxBatchSize"] = 64
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
  chmod 0640 "$work/c.json"
  MINDIE_LLM_HOME_PATH="$home" "$home/bin/mindieservice_daemon" --config-file "$work/c.json" \
    >"$work/daemon.log" 2>&1 &
  pid=$!
  for _ in $(seq 600); do grep -q "Daemon start success" "$work/daemon.log" && break; sleep 0.1; done
  line="$mode: start $(rss_mib "$pid") MiB"
  for w in $(seq "$WAVES"); do
    "$bench" --url "http://127.0.1.1:$port/v1" --model stories260K -n "$REQUESTS" \
      -c "$CONCURRENCY" --input-len 16 --output-len "$OUTPUT_LEN" --seed "$w" --json >/dev/null
    line+=", wave $w $(rss_mib "$pid")"
  done
  echo "$line MiB"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
done
