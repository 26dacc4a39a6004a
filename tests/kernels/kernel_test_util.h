// Helpers shared by the kernel tests: run a test body on every kernel path this CPU supports,
// and deterministic random data.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/dispatch.h"

namespace mies::kernels::testing {

// Parameterizes a test over kernel paths; restores the default path afterwards.
class KernelPathTest : public ::testing::TestWithParam<KernelPath> {
 protected:
  void SetUp() override {
    saved_ = ActiveKernelPath();
    if (!CpuSupports(GetParam())) GTEST_SKIP() << "CPU lacks " << KernelPathName(GetParam());
    ASSERT_TRUE(SetKernelPath(GetParam()).ok());
  }
  void TearDown() override { (void)SetKernelPath(saved_); }

 private:
  KernelPath saved_ = KernelPath::kScalar;
};

inline std::string PathName(const ::testing::TestParamInfo<KernelPath>& info) {
  return std::string(KernelPathName(info.param));
}

#define MIES_INSTANTIATE_KERNEL_PATHS(suite)                                                      \
  INSTANTIATE_TEST_SUITE_P(                                                                       \
      Paths, suite,                                                                               \
      ::testing::Values(::mies::kernels::KernelPath::kScalar, ::mies::kernels::KernelPath::kAvx2, \
                        ::mies::kernels::KernelPath::kAvx512),                                    \
      ::mies::kernels::testing::PathName)

inline std::vector<float> RandomFloats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

}  // namespace mies::kernels::testing
