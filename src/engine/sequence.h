// One generated sequence as the scheduler sees it. A request (engine's Group) owns its
// sequences; the scheduler's queues hold non-owning pointers.
#pragma once

#include <cstdint>
#include <vector>

namespace mies::engine {

struct Sequence {
  uint64_t id = 0;
  uint64_t arrival = 0;         // FCFS order key (request order, then sequence index)
  std::vector<int32_t> tokens;  // prompt + generated
  int64_t prompt_len = 0;
  int64_t num_computed = 0;              // tokens whose K/V are in `blocks`
  std::vector<int32_t> blocks;           // block table
  std::vector<uint64_t> block_keys;      // prefix-cache keys of the computed full blocks
  int fork_width = 1;                    // sequences this one becomes at its first sample (best_of)
  bool prompt_logprobs_pending = false;  // needs every prompt row: no prefix-cache reuse
  bool running = false;
  int64_t cached_tokens = 0;  // prompt tokens served by the prefix cache (first admission)
  bool admitted_once = false;
  int64_t preemptions = 0;
};

}  // namespace mies::engine
