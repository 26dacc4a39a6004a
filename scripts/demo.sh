#!/usr/bin/env bash
# The main job: set up, build, start mindieservice_daemon from the install tree, send one
# streaming completion and print its text as it arrives, then stop the server(s).
#   scripts/demo.sh            a 2-node cluster: master on 127.0.1.1, slave on 127.0.1.2, the same
#                              config.json (multiNodesInferEnabled) and a ranktable; the weights are
#                              split across both (tensor parallelism)
#   scripts/demo.sh single     one node
# The model is ../shared/models/stories260K when that folder exists (scripts/build.sh installs
# it); otherwise a small synthetic LLaMA from the project's generator (mies-make-model) with the
# Mistral tokenizer, whose text is random but exercises the same path.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-cluster}"
case "$mode" in cluster|single) ;; *) echo "usage: scripts/demo.sh [cluster|single]" >&2; exit 2 ;; esac

scripts/setup.sh
scripts/build.sh release

home="$PWD/build/install"
model="$home/models/stories260K"
if [[ ! -f "$model/config.json" ]]; then
  tok="${MIES_SHARED_DIR:-../shared}/tokenizers/mistral-7b/tokenizer.json"
  echo "demo: no stories260K; generating a synthetic model in $model"
  args=(--preset tiny --vocab 32000 --out "$model")
  if [[ -f "$tok" ]]; then args+=(--tokenizer "$tok"); fi
  build/release/tools/make_model/mies-make-model "${args[@]}"
  chmod 0750 "$home/models" "$model"
  chmod 0640 "$model"/*
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$2"; }

# start NAME [ENV=VALUE...]: starts one daemon on the install tree, output in $work/NAME.out
start() {
  local name=$1; shift
  env MINDIE_LLM_HOME_PATH="$home" "$@" "$home/bin/mindieservice_daemon" >"$work/$name.out" 2>"$work/$name.err" &
  pids+=($!)
  echo "demo: started $name (pid $!)"
}

# wait_ready NAME PID: waits for the success line
wait_ready() {
  for _ in $(seq 1 600); do
    if grep -q "Daemon start success!" "$work/$1.out"; then echo "demo: $1: Daemon start success!"; return 0; fi
    if ! kill -0 "$2" 2>/dev/null; then
      echo "demo: $1 exited before it was ready:" >&2; tail -n 5 "$work/$1.err" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "demo: $1: no success line in 60 s" >&2; tail -n 5 "$work/$1.err" >&2; exit 1
}

config="$home/conf/config.json"
if [[ "$mode" == cluster ]]; then
  # The same config.json on both nodes, with multi-node inference on; only MIES_CONTAINER_IP
  # differs. (TLS between nodes is off in the demo: see README for mies-certs and mTLS.)
  config="$work/config.json"
  python3 - "$home/conf/config.json" "$config" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["BackendConfig"]["multiNodesInferEnabled"] = True
c["BackendConfig"]["interNodeTLSEnabled"] = False
c["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["npuMemSize"] = 1
c["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["cpuThreads"] = 1
c["ServerConfig"]["managementIpAddress"] = "127.0.1.1"
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
  cat >"$work/ranktable.json" <<'RT'
{"version": "1.0", "status": "completed", "server_count": "2",
 "server_list": [
  {"server_id": "127.0.1.1", "container_ip": "127.0.1.1",
   "device": [{"device_id": "0", "device_ip": "127.0.1.1", "rank_id": "0"}]},
  {"server_id": "127.0.1.2", "container_ip": "127.0.1.2",
   "device": [{"device_id": "0", "device_ip": "127.0.1.2", "rank_id": "1"}]}]}
RT
  chmod 0640 "$config" "$work/ranktable.json"
  cluster_env=(MIES_CONFIG_JSON_PATH="$config" RANK_TABLE_FILE="$work/ranktable.json")
  start slave "${cluster_env[@]}" MIES_CONTAINER_IP=127.0.1.2 MIES_CONTAINER_MANAGEMENT_IP=127.0.1.2
  start master "${cluster_env[@]}" MIES_CONTAINER_IP=127.0.1.1
  wait_ready slave "${pids[0]}"
  wait_ready master "${pids[1]}"
  ip=127.0.1.1
  master_pid=${pids[1]}
else
  start server
  wait_ready server "${pids[0]}"
  ip=$(json 'd["ServerConfig"]["ipAddress"]' "$config")
  master_pid=${pids[0]}
fi

port=$(json 'd["ServerConfig"]["port"]' "$config")
name=$(json 'd["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["modelName"]' "$config")
prompt="Once upon a time"
echo "demo: POST http://$ip:$port/v1/completions (stream) prompt: \"$prompt\""
printf '%s' "$prompt"
curl -sN "http://$ip:$port/v1/completions" -H 'Content-Type: application/json' \
  -d "{\"model\":\"$name\",\"prompt\":\"$prompt\",\"max_tokens\":96,\"temperature\":0,\"stream\":true}" |
  python3 -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("data: ") or line == "data: [DONE]":
        continue
    for c in json.loads(line[6:]).get("choices", []):
        sys.stdout.write(c.get("text", "")); sys.stdout.flush()
print()'

# SIGTERM to the master: in a cluster it shuts every slave down too.
kill -TERM "$master_pid"
for p in "${pids[@]}"; do wait "$p"; done
pids=()
echo "demo: stopped cleanly (exit 0)"
