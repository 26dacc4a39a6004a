#!/usr/bin/env bash
# TP scaling of the multi-node executor on this machine: the model in one process pinned to one
# core, vs a 2-node cluster (127.0.1.1 + 127.0.1.2) with each node pinned to its own core.
# Prints mies-cluster-node --bench lines: prefill tok/s, decode tok/s at batch 1 and 16, and the
# time per step spent in collectives (rank 0's view: includes waiting for the slower rank).
# Then the ceiling this machine puts on any 2-way split: the same 1-process run on core 0 and on
# core 1 at the same time. If each keeps a fraction f of its solo speed, 2 ranks sharing the work
# cannot beat 2f x the 1-process figure, whatever the collectives cost (cores that share a
# physical core or a memory channel give f well below 1).
#
# Each process's resident memory is sampled while it runs: peak (VmHWM) and steady (VmRSS after
# the model is loaded and the benchmark ran), in MiB.
#
# Usage: bench/cluster/tp_scaling.sh BUILD_DIR MODEL_DIR [dtype] [prefill_len] [decode_steps]
#   e.g. build/release with the 1.1B-shape synthetic model from
#   `mies-make-model --preset tinyllama-1.1b --out /tmp/tinyllama`.
#   MoE models: MIES_MOE_EP=2 (the default here) splits the experts over the two nodes (expert
#   parallelism), MIES_MOE_EP=1 slices every expert over both (MoE tensor parallelism).
set -euo pipefail
BUILD=${1:?build dir}
MODEL=${2:?model dir}
DTYPE=${3:-auto}
PREFILL=${4:-64}
STEPS=${5:-8}
MOE_EP=${MIES_MOE_EP:-2}
BIN=$BUILD/tools/cluster_node/mies-cluster-node
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PORT=$((26000 + RANDOM % 2000))
cat >"$WORK/rt.json" <<JSON
{"version":"1.0","status":"completed","server_count":"2","server_list":[
{"server_id":"127.0.1.1","container_ip":"127.0.1.1","device":[{"device_id":"0","device_ip":"127.0.1.1","rank_id":"0"}]},
{"server_id":"127.0.1.2","container_ip":"127.0.1.2","device":[{"device_id":"0","device_ip":"127.0.1.2","rank_id":"1"}]}]}
JSON
chmod 640 "$WORK/rt.json"
COMMON=(--model "$MODEL" --dtype "$DTYPE" --threads 1 --kv-blocks 128 --block-size 16
        --bench --prefill-len "$PREFILL" --bench-steps "$STEPS")
TIMEOUTS=(--collective-timeout-ms 120000 --plan-wait-ms 120000 --heartbeat-timeout-ms 20000
          --connect-timeout-ms 60000 --ready-timeout-ms 600000 --join-timeout-ms 600000)

# Samples /proc/PID/status until PID exits; prints "<label>: peak X MiB, steady Y MiB".
watch_rss() {
  local pid=$1 label=$2 hwm=0 rss=0 h r
  while kill -0 "$pid" 2>/dev/null; do
    h=$(awk '/^VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
    r=$(awk '/^VmRSS/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [[ -n "$h" ]] && hwm=$h
    [[ -n "$r" && "$r" -gt 0 ]] && rss=$r
    sleep 0.5
  done
  echo "rss $label: peak $((hwm / 1024)) MiB, steady $((rss / 1024)) MiB"
}

echo "== 1 process, core 0 ($MODEL, dtype $DTYPE)"
taskset -c 0 "$BIN" --local "${COMMON[@]}" 2>/dev/null >"$WORK/local.txt" &
watch_rss $! "1 process" >"$WORK/local_rss.txt"
grep '^bench' "$WORK/local.txt"
cat "$WORK/local_rss.txt"

echo "== 2 nodes, cores 0 and 1 (moe_ep $MOE_EP for MoE models)"
taskset -c 1 "$BIN" --ranktable "$WORK/rt.json" --address 127.0.1.2 --port "$PORT" \
  --model "$MODEL" --dtype "$DTYPE" --threads 1 --moe-ep "$MOE_EP" "${TIMEOUTS[@]}" \
  >"$WORK/slave.log" 2>&1 &
SLAVE=$!
watch_rss $SLAVE "slave node" >"$WORK/slave_rss.txt" &
WATCH_SLAVE=$!
taskset -c 0 "$BIN" --ranktable "$WORK/rt.json" --address 127.0.1.1 --port "$PORT" \
  --moe-ep "$MOE_EP" "${COMMON[@]}" "${TIMEOUTS[@]}" >"$WORK/master.txt" 2>"$WORK/master.log" &
MASTER=$!
watch_rss $MASTER "master node" >"$WORK/master_rss.txt"
wait "$MASTER" || { cat "$WORK/master.log"; exit 1; }
grep '^bench' "$WORK/master.txt"
wait "$SLAVE" || { echo "slave failed:"; cat "$WORK/slave.log"; exit 1; }
wait "$WATCH_SLAVE"
cat "$WORK/master_rss.txt" "$WORK/slave_rss.txt"

echo "== ceiling: 2 independent 1-process runs at once, cores 0 and 1 (no communication)"
taskset -c 1 "$BIN" --local "${COMMON[@]}" 2>/dev/null | grep '^bench' | sed 's/^/core 1: /' >"$WORK/c1.txt" &
C1=$!
taskset -c 0 "$BIN" --local "${COMMON[@]}" 2>/dev/null | grep '^bench' | sed 's/^/core 0: /'
wait "$C1"
cat "$WORK/c1.txt"
