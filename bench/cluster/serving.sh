#!/usr/bin/env bash
# Serving throughput of one node vs a 2-node cluster through the real daemon and HTTP: the same
# model served by mindieservice_daemon pinned to core 0 (`taskset`; cpuThreads 0, the default,
# so the daemon finds its one CPU itself; CPU_THREADS=N overrides), then by a 2-node cluster
# (master on 127.0.1.1 pinned to core 0, slave on 127.0.1.2 pinned to core 1, one rank each,
# tensor parallelism), each measured with mies-bench at the given concurrencies.
#
# Usage: bench/cluster/serving.sh MODEL_DIR [concurrency...]
#   MODEL_DIR needs a tokenizer, e.g. from
#   mies-make-model --preset tinyllama-1.1b --dtype bfloat16 \
#     --tokenizer ../shared/tokenizers/mistral-7b/tokenizer.json --out /tmp/tinyllama
# Uses the install tree of scripts/build.sh (build/install) and build/release's mies-bench.
# Environment: INPUT_LEN (32), OUTPUT_LEN (32), REQUESTS (per concurrency: 2 x concurrency, at
# least 4).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=$(realpath "${1:?model dir}")
shift
CONCURRENCY=("${@:-1 8}")
read -r -a CONCURRENCY <<<"${CONCURRENCY[*]}"
INPUT_LEN=${INPUT_LEN:-32}
OUTPUT_LEN=${OUTPUT_LEN:-32}
home="$PWD/build/install"
bench="$PWD/build/release/tools/bench_serving/mies-bench"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# config NAME MULTI_NODE: writes $work/NAME.json from the installed config.json
config() {
  python3 - "$home/conf/config.json" "$work/$1.json" "$MODEL" "$2" <<'PY'
import json, os, sys
c = json.load(open(sys.argv[1]))
m = c["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]
m["modelWeightPath"] = sys.argv[3]
m["modelName"] = "bench"
m["cpuThreads"] = int(os.environ.get("CPU_THREADS", "0"))
m["npuMemSize"] = 1
c["BackendConfig"]["multiNodesInferEnabled"] = sys.argv[4] == "1"
c["BackendConfig"]["interNodeTLSEnabled"] = False
c["ServerConfig"]["ipAddress"] = "127.0.1.1"
c["ServerConfig"]["managementIpAddress"] = "127.0.1.1"
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
  chmod 0640 "$work/$1.json"
}

# start NAME CORE [ENV=VALUE...]
start() {
  local name=$1 core=$2
  shift 2
  env MINDIE_LLM_HOME_PATH="$home" "$@" taskset -c "$core" "$home/bin/mindieservice_daemon" \
    >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
}

wait_ready() {
  for _ in $(seq 1 1200); do
    grep -q "Daemon start success!" "$work/$1.out" && return 0
    if ! kill -0 "$2" 2>/dev/null; then
      echo "serving.sh: $1 exited:" >&2; tail -n 5 "$work/$1.err" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "serving.sh: $1 not ready in 120 s" >&2; exit 1
}

run_bench() {
  for c in "${CONCURRENCY[@]}"; do
    local n=${REQUESTS:-$((2 * c))}
    ((n < 4)) && n=4
    echo "-- concurrency $c, $n requests, $INPUT_LEN prompt + $OUTPUT_LEN output tokens"
    "$bench" --url http://127.0.1.1:1025/v1 --model bench -n "$n" -c "$c" \
      --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN"
  done
}

stop_all() {
  kill -TERM "${pids[-1]}"  # the master (or the single node) stops the cluster
  for p in "${pids[@]}"; do wait "$p" || true; done
  pids=()
}

echo "== 1 node, core 0 ($MODEL)"
config single 0
start single 0 MIES_CONFIG_JSON_PATH="$work/single.json"
wait_ready single "${pids[0]}"
run_bench
stop_all

echo "== 2 nodes, cores 0 and 1"
config cluster 1
cat >"$work/rt.json" <<'RT'
{"version": "1.0", "status": "completed", "server_count": "2",
 "server_list": [
  {"server_id": "127.0.1.1", "container_ip": "127.0.1.1",
   "device": [{"device_id": "0", "device_ip": "127.0.1.1", "rank_id": "0"}]},
  {"server_id": "127.0.1.2", "container_ip": "127.0.1.2",
   "device": [{"device_id": "0", "device_ip": "127.0.1.2", "rank_id": "1"}]}]}
RT
chmod 0640 "$work/rt.json"
env_cluster=(MIES_CONFIG_JSON_PATH="$work/cluster.json" RANK_TABLE_FILE="$work/rt.json")
start slave 1 "${env_cluster[@]}" MIES_CONTAINER_IP=127.0.1.2 MIES_CONTAINER_MANAGEMENT_IP=127.0.1.2
start master 0 "${env_cluster[@]}" MIES_CONTAINER_IP=127.0.1.1
wait_ready slave "${pids[0]}"
wait_ready master "${pids[1]}"
run_bench
stop_all
