// The SwiGLU MLP every decoder layer uses: out = down(silu(gate(x)) · up(x)), with gate and up
// fused into one [2*I][D] matrix (gate rows first). The dense MLP, each MoE expert and the
// shared expert all run through it.
#pragma once

#include <cstdint>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/matmul.h"

namespace mies::model {

class SwiGlu {
 public:
  // out[n][down.rows] = down(silu(x·gate) · (x·up)) for x[n][gate_up.cols].
  void Run(const float* x, int64_t n, const kernels::WeightView& gate_up,
           const kernels::WeightView& down, float* out, ThreadPool& pool);

 private:
  std::vector<float> gu_, act_;  // scratch, reused between calls
};

}  // namespace mies::model
