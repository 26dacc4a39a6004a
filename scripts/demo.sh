#!/usr/bin/env bash
# The main job: set up, build, start mindieservice_daemon from the install tree, send one
# streaming completion and print its text as it arrives, then stop the server.
# The model is ../shared/models/stories260K when that folder exists (scripts/build.sh installs
# it); otherwise a small synthetic LLaMA from the project's generator (mies-make-model) with the
# Mistral tokenizer, whose text is random but exercises the same path.
set -euo pipefail
cd "$(dirname "$0")/.."

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

out=$(mktemp)
trap 'rm -f "$out"; [[ -n "${pid:-}" ]] && kill "$pid" 2>/dev/null || true' EXIT
echo "demo: starting $home/bin/mindieservice_daemon"
MINDIE_LLM_HOME_PATH="$home" "$home/bin/mindieservice_daemon" >"$out" &
pid=$!
for _ in $(seq 1 300); do
  if grep -q "Daemon start success!" "$out"; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "demo: the daemon exited before it was ready" >&2
    wait "$pid" || true
    pid=""
    exit 1
  fi
  sleep 0.1
done
grep -q "Daemon start success!" "$out" || { echo "demo: no success line in 30 s" >&2; exit 1; }
echo "demo: $(tail -n 1 "$out")"

# The service plane of the shipped config.json.
ip=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ServerConfig"]["ipAddress"])' "$home/conf/config.json")
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ServerConfig"]["port"])' "$home/conf/config.json")
name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["modelName"])' "$home/conf/config.json")
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

kill -TERM "$pid"
wait "$pid"
pid=""
echo "demo: daemon stopped cleanly (exit 0)"
