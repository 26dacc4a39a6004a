#!/usr/bin/env bash
# Load time of a 2-node loopback cluster (127.0.1.1 master + 127.0.1.2 slave, 1 rank each):
#   local   both nodes read the model from disk (the slave from its own copy: the same dir)
#   cold    the slave has no model: it fetches it from the master (--weights-from-master) into
#           an empty weight cache
#   warm    the same again: the slave verifies its cache (SHA-256 of every file), fetches nothing
# Each run: wall time from starting both processes to the master's "cluster ready", and the
# slave's own lines (fetch, load). Then loopback TCP bandwidth (one stream, Python socket copy)
# to compare the streamed throughput against. The page cache is warm for the master's files in
# every run (they were just read); the cache files a cold run writes are fsync'd.
#
# Usage: bench/cluster/weights_from_master.sh BUILD_DIR MODEL_DIR [dtype] [runs]
#   e.g. the 1.1B shape: mies-make-model --preset tinyllama-1.1b --dtype bfloat16 --out /tmp/tl11
set -euo pipefail
BUILD=${1:?build dir}
MODEL=${2:?model dir}
DTYPE=${3:-auto}
RUNS=${4:-1}
CACHE=${MIES_BENCH_CACHE:-}  # the slave's weight cache root (default: in the temp dir)
BIN=$BUILD/tools/cluster_node/mies-cluster-node
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cat >"$WORK/rt.json" <<JSON
{"version":"1.0","status":"completed","server_count":"2","server_list":[
{"server_id":"127.0.1.1","container_ip":"127.0.1.1","device":[{"device_id":"0","device_ip":"127.0.1.1","rank_id":"0"}]},
{"server_id":"127.0.1.2","container_ip":"127.0.1.2","device":[{"device_id":"0","device_ip":"127.0.1.2","rank_id":"1"}]}]}
JSON
chmod 640 "$WORK/rt.json"
COMMON=(--ranktable "$WORK/rt.json" --dtype "$DTYPE" --threads 1 --kv-blocks 16 --block-size 16
        --join-timeout-ms 600000 --ready-timeout-ms 600000 --connect-timeout-ms 60000
        --heartbeat-timeout-ms 20000 --plan-wait-ms 60000)

# run NAME SLAVE_ARGS...: one cluster start; prints the seconds to "cluster ready".
run() {
  local name=$1
  shift
  local port=$((26000 + RANDOM % 2000))
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" "${COMMON[@]}" --address 127.0.1.2 --port "$port" "$@" >"$WORK/slave.out" 2>"$WORK/slave.err" &
  local slave=$!
  "$BIN" "${COMMON[@]}" --address 127.0.1.1 --port "$port" --model "$MODEL" --weights-from-master \
    --prompts 1,2,3 --new-tokens 1 >"$WORK/master.out" 2>"$WORK/master.err" &
  local master=$!
  while ! grep -q "cluster ready" "$WORK/master.out" 2>/dev/null; do
    if ! kill -0 "$master" 2>/dev/null; then
      echo "$name: the master exited:"; cat "$WORK/master.err"; cat "$WORK/slave.err"; exit 1
    fi
    sleep 0.05
  done
  t1=$(date +%s.%N)
  wait "$master" "$slave"
  printf "%-6s cluster ready after %6.2f s | slave: %s | %s\n" "$name" "$(echo "$t1 - $t0" | bc)" \
    "$(grep -h '^weights:' "$WORK/slave.out" || echo 'local files')" \
    "$(grep -h 'loaded its ranks' "$WORK/slave.out")"
  # The breakdown from the logs: the master hashing its model, the slave's fetch and verify.
  grep -ho 'model manifest of .*' "$WORK/master.err" | sed 's/^/         master: /' || true
  grep -ho 'weight cache: .*' "$WORK/slave.err" | grep -v 'did not answer' | sed 's/^/         slave: /' || true
}

echo "model: $MODEL ($(du -sh --apparent-size "$MODEL" | cut -f1)), dtype $DTYPE; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
for i in $(seq "$RUNS"); do
  run local --model "$MODEL"
  cache=${CACHE:-$WORK/cache}
  rm -rf "$cache"
  run cold --weights-from-master --weight-cache "$cache"
  run warm --weights-from-master --weight-cache "$cache"
  rm -rf "$cache"
done

/usr/bin/python3 - <<'PY'
import socket, threading, time
N = 2 << 30  # bytes sent, in 4 MiB writes (the chunk size of a fetch)
srv = socket.socket()
srv.bind(("127.0.1.1", 0))
srv.listen(1)
def server():
    c, _ = srv.accept()
    b = bytearray(4 << 20)
    while c.recv_into(b) > 0:
        pass
t = threading.Thread(target=server)
t.start()
cl = socket.create_connection(srv.getsockname(), source_address=("127.0.1.2", 0))
buf = b"\0" * (4 << 20)
t0 = time.time()
for _ in range(N // len(buf)):
    cl.sendall(buf)
cl.close()
t.join()
print(f"loopback TCP (127.0.1.2 -> 127.0.1.1, one stream, Python): {N / (time.time() - t0) / 1e6:.0f} MB/s")
PY
