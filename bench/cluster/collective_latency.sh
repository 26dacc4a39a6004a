#!/usr/bin/env bash
# Microseconds per small collective between two processes over loopback TCP, each pinned to its
# own core (rank 0 on core 0 at 127.0.1.1, rank 1 on core 1 at 127.0.1.2): a raw TCP ping-pong
# (the floor), Gloo's ring allreduce on async pairs (device thread), on sync pairs (blocking
# reads in the caller), on sync busy-polling pairs, and GlooCollective as the cluster uses it.
#
# Usage: bench/cluster/collective_latency.sh BUILD_DIR [count] [iters] [modes...]
#   e.g. bench/cluster/collective_latency.sh build/release 2048 1000
set -euo pipefail
BUILD=${1:?build dir}
COUNT=${2:-2048}
ITERS=${3:-1000}
shift $(($# < 3 ? $# : 3))
MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(raw async sync busy mies gather)
BIN=$BUILD/bench/cluster/mies-bench-collective
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for mode in "${MODES[@]}"; do
  args=(--mode "$mode" --count "$COUNT" --iters "$ITERS")
  if [ "$mode" = gather ]; then args=(--mode mies --gather --count "$COUNT" --iters "$ITERS"); fi
  mkdir -p "$WORK/$mode"
  PORT=$((29000 + RANDOM % 2000))
  taskset -c 1 "$BIN" --rank 1 --address 127.0.1.2 --port "$PORT" --store "$WORK/$mode" "${args[@]}" &
  R1=$!
  taskset -c 0 "$BIN" --rank 0 --address 127.0.1.1 --peer 127.0.1.2 --port "$PORT" \
    --store "$WORK/$mode" "${args[@]}"
  wait "$R1"
done
