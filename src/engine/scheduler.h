// Continuous batching: each call to Schedule() builds one step from the running sequences and
// the waiting queue, within ScheduleConfig's limits, reserving the KV blocks the step writes.
// See src/engine/README.md for what each ScheduleConfig field does here.
//
// Order of a step (FCFS throughout):
//   1. Running sequences, oldest first: a decode costs one token; a sequence still in prefill
//      (long prompts are chunked, and recomputation after preemption is a prefill) gets a chunk
//      from the step's prefill token budget. When blocks run out, the newest running sequence
//      is preempted (blocks freed, back to the waiting queue, recomputed later) until the
//      older one fits: preemption by recompute, never an error.
//   2. Waiting sequences are admitted, oldest first, while the budget, maxPrefillBatchSize,
//      maxBatchSize and free blocks allow (no preemption for admissions). A fresh prompt first
//      takes its longest cached prefix from the prefix cache.
// With supportSelectBatch a step is either all prefill or all decode, picked by MindIE's cost
// rule; otherwise prefill chunks ride along with the decodes (so decodes never stall behind a
// long prompt).
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "engine/block_manager.h"
#include "engine/sequence.h"
#include "engine/step_plan.h"

namespace mies::engine {

struct SchedulerOptions {
  int max_batch_size = 200;           // running sequences
  int max_prefill_batch_size = 50;    // sequences getting prefill tokens in one step
  int64_t max_prefill_tokens = 8192;  // prefill tokens per step (decodes not counted)
  int64_t chunk_size = 0;             // > 0: cap of one prefill chunk (prefillChunkSize)
  bool support_select_batch = false;
  int prefill_time_ms_per_req = 150;
  int decode_time_ms_per_req = 50;
};

struct ScheduledSequence {
  Sequence* seq = nullptr;
  int64_t start = 0;  // first position computed this step
  int64_t count = 0;  // tokens computed this step
  bool all_logits = false;
  bool sample = false;  // reaches the end of the sequence: a token is sampled
};

struct ScheduleOutput {
  StepPlan plan;  // sequences in the same order as `items`
  std::vector<ScheduledSequence> items;
  int64_t preempted = 0;
  int64_t prefill_tokens = 0;  // tokens computed in prefill chunks
  int64_t decode_tokens = 0;
  int64_t prefix_queries = 0;  // full prompt blocks looked up
  int64_t prefix_hits = 0;
  bool empty() const { return items.empty(); }
};

class Scheduler {
 public:
  Scheduler(const SchedulerOptions& options, BlockManager* blocks);

  const SchedulerOptions& options() const { return options_; }
  // Queues a new sequence (FCFS by seq->arrival).
  void AddWaiting(Sequence* seq);
  // `child` starts as a copy of `parent` that shares its blocks (n / best_of).
  void Fork(const Sequence& parent, Sequence* child);
  // Takes a sequence out of every queue and releases its blocks.
  void Remove(Sequence* seq);

  ScheduleOutput Schedule();
  // Marks a step's tokens computed and registers newly full blocks in the prefix cache.
  void Complete(const ScheduleOutput& step);

  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  int64_t waiting_tokens() const;
  const std::deque<Sequence*>& waiting() const { return waiting_; }
  const std::vector<Sequence*>& running() const { return running_; }
  bool has_work() const { return !running_.empty() || !waiting_.empty(); }

 private:
  // Reserves blocks (and a copy-on-write copy) so `seq` can compute `count` more tokens.
  // All or nothing.
  bool Reserve(Sequence* seq, int64_t count, std::vector<std::pair<int32_t, int32_t>>* copies);
  void Preempt(Sequence* seq);
  void ReleaseBlocks(Sequence* seq);

  SchedulerOptions options_;
  BlockManager* blocks_;
  std::vector<Sequence*> running_;  // admission order
  std::deque<Sequence*> waiting_;   // sorted by arrival
  double decode_waste_ms_ = 0;      // supportSelectBatch's accumulated decode waste
  uint64_t next_step_id_ = 1;
};

}  // namespace mies::engine
