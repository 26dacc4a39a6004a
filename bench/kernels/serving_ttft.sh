#!/usr/bin/env bash
# Time to first token under load, precise vs reduced activations: one daemon (cpuThreads 2)
# serving MODEL_DIR, once with ModelConfig activationDtype "float32" (f32 activations: the
# kernels mies had before the dot-product GEMMs) and once with "auto", each measured with
# mies-bench at CONCURRENCY concurrent streams.
#
# Usage: bench/kernels/serving_ttft.sh MODEL_DIR [DTYPE (bfloat16)]
#   MODEL_DIR needs a tokenizer, e.g. mies-make-model --preset tinyllama-1.1b --dtype bfloat16
#     --tokenizer ../shared/tokenizers/mistral-7b/tokenizer.json --out /tmp/tinyllama
# Environment: CONCURRENCY (16), REQUESTS (32), INPUT_LEN (128), OUTPUT_LEN (64), MODES
# ("float32 auto"). Uses build/install (scripts/build.sh) and build/release's mies-bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=$(realpath "${1:?model dir}")
DTYPE=${2:-bfloat16}
CONCURRENCY=${CONCURRENCY:-16}
REQUESTS=${REQUESTS:-32}
INPUT_LEN=${INPUT_LEN:-128}
OUTPUT_LEN=${OUTPUT_LEN:-64}
home="$PWD/build/install"
bench="$PWD/build/release/tools/bench_serving/mies-bench"
work=$(mktemp -d)
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for mode in ${MODES:-float32 auto}; do
  /usr/bin/python3 - "$home/conf/config.json" "$work/c.json" "$MODEL" "$DTYPE" "$mode" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
m = c["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]
m["modelWeightPath"] = sys.argv[3]
m["modelName"] = "bench"
m["cpuThreads"] = 2
m["npuMemSize"] = 1
m["dtype"] = sys.argv[4]
m["activationDtype"] = sys.argv[5]
c["BackendConfig"]["multiNodesInferEnabled"] = False
c["ServerConfig"]["ipAddress"] = "127.0.1.1"
c["ServerConfig"]["managementIpAddress"] = "127.0.1.1"
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
  chmod 0640 "$work/c.json"
  env MINDIE_LLM_HOME_PATH="$home" MIES_CONFIG_JSON_PATH="$work/c.json" \
    "$home/bin/mindieservice_daemon" >"$work/d.out" 2>"$work/d.err" &
  pid=$!
  for _ in $(seq 1 1800); do
    grep -q "Daemon start success!" "$work/d.out" && break
    kill -0 "$pid" 2>/dev/null || { tail -n 5 "$work/d.err" >&2; exit 1; }
    sleep 0.1
  done
  echo "== $DTYPE, activationDtype $mode: $REQUESTS requests, $CONCURRENCY concurrent," \
    "$INPUT_LEN prompt + $OUTPUT_LEN output tokens (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$bench" --url http://127.0.1.1:1025/v1 --model bench -n "$REQUESTS" -c "$CONCURRENCY" \
    --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN"
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
done
