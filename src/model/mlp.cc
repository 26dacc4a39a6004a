#include "model/mlp.h"

#include "kernels/ops.h"

namespace mies::model {

void SwiGlu::Run(const float* x, int64_t n, const kernels::WeightView& gate_up,
                 const kernels::WeightView& down, float* out, ThreadPool& pool) {
  const int64_t I = down.cols;
  gu_.resize(static_cast<size_t>(n * 2 * I));
  act_.resize(static_cast<size_t>(n * I));
  kernels::Linear(x, n, gate_up, nullptr, gu_.data(), pool);
  for (int64_t i = 0; i < n; ++i) {
    const float* row = gu_.data() + i * 2 * I;
    kernels::SiluMul(row, row + I, I, act_.data() + i * I);
  }
  kernels::Linear(act_.data(), n, down, nullptr, out, pool);
}

}  // namespace mies::model
