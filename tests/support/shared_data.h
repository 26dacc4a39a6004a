// Tests that need ../shared (the real models, tokenizers and reference tools) skip visibly when
// it is missing, unless MIES_REQUIRE_SHARED=1: then a missing shared dir fails the test.
// scripts/test.sh (and so CI, which always has ../shared) sets it, so CI cannot pass by skipping.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace mies::testing {

inline bool SharedRequired() {
  const char* v = std::getenv("MIES_REQUIRE_SHARED");
  return v != nullptr && std::string(v) == "1";
}

}  // namespace mies::testing

// Use at the top of a test or in SetUp: `have` says whether the data is there, `what` names it.
#define MIES_REQUIRE_SHARED_DATA(have, what)                                               \
  do {                                                                                     \
    if (!(have)) {                                                                         \
      if (::mies::testing::SharedRequired()) {                                             \
        FAIL() << (what) << " is missing and MIES_REQUIRE_SHARED=1 (set it to 0 to skip)"; \
      }                                                                                    \
      GTEST_SKIP() << (what) << " is missing";                                             \
    }                                                                                      \
  } while (0)
