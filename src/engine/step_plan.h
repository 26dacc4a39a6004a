// The step plan: everything a rank needs to run one forward step, decided by the engine on the
// master. It is a plain value with a byte serialization, so the multi-node layer can broadcast
// it to every rank; workers execute it and never decide anything.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace mies::engine {

struct StepSequence {
  uint64_t seq_id = 0;               // engine-wide id (for logs and checks)
  std::vector<int32_t> tokens;       // new tokens this step (prefill chunk or 1 decode token)
  int64_t start_pos = 0;             // absolute position of tokens[0]
  std::vector<int32_t> block_table;  // KV blocks covering 0 .. start_pos + tokens.size() - 1
  bool all_logits = false;           // return logits of every new token (prompt logprobs)
  bool want_logits = true;           // false for a non-final prefill chunk: no logits needed

  // How many logit rows this sequence gets: its new tokens' count with all_logits, else 1 when
  // want_logits, else 0 (the rows of its last new tokens). The one place this is decided: the
  // model runner asks the model for these rows and the engine checks results against it.
  int64_t logit_rows() const {
    if (all_logits) return static_cast<int64_t>(tokens.size());
    return want_logits ? 1 : 0;
  }
};

struct StepPlan {
  uint64_t step_id = 0;
  std::vector<StepSequence> sequences;
  // Blocks to copy before running (copy-on-write of a shared last block): pairs src -> dst.
  std::vector<std::pair<int32_t, int32_t>> block_copies;
  bool shutdown = false;  // tells workers to stop

  std::string Serialize() const;
  static StatusOr<StepPlan> Deserialize(const std::string& bytes);
};

// Logits of one step, rows in plan order: StepSequence::logit_rows() rows per sequence.
struct StepResult {
  int64_t vocab = 0;
  std::vector<float> logits;       // [rows][vocab]
  std::vector<int64_t> first_row;  // per plan sequence; -1 when it has no rows
  std::vector<int64_t> num_rows;
};

// Runs step plans. Local: the model on this process's rank(s). Multi-node: broadcasts the plan
// to every rank and returns rank 0's gathered logits.
// What an executor runs on, for operators (/v1/status "resources").
struct ExecutorResources {
  std::string cpu_budget;  // this node's usable CPUs and why (CpuBudget::Describe)
  int local_ranks = 1;
  int threads_per_rank = 1;
  bool pinned = false;  // cpuBindCores
  int64_t kv_pool_bytes_per_rank = 0;
  std::string kv_reserve;  // kvCacheReserve: touch, lock or lazy
};

class Executor {
 public:
  virtual ~Executor() = default;
  virtual StatusOr<StepResult> Execute(const StepPlan& plan) = 0;
  virtual int64_t num_kv_blocks() const = 0;
  virtual int64_t block_size() const = 0;
  // False when a rank is gone: the engine fails in-flight requests with Unavailable.
  virtual bool healthy() const { return true; }
  // Nodes that are not reachable, in MindIE's no_contact_node form ("node(<ip>) is abnormal.").
  virtual std::vector<std::string> AbnormalNodes() const { return {}; }
  virtual ExecutorResources Resources() const { return {}; }
};

}  // namespace mies::engine
