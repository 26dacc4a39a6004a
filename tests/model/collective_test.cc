#include "model/collective.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace mies::model {
namespace {

TEST(CollectiveTest, IdentityGatherCopiesAndChecksSize) {
  IdentityCollective c;
  std::vector<float> in{1, 2, 3}, out(3);
  ASSERT_TRUE(c.AllGather(in, out).ok());
  EXPECT_EQ(out, in);
  std::vector<float> small(2);
  EXPECT_FALSE(c.AllGather(in, small).ok());
}

TEST(CollectiveTest, InProcessAllReduceSumsInRankOrderOnEveryRank) {
  constexpr int kRanks = 4;
  InProcessGroup group(kRanks);
  std::vector<std::vector<float>> data(kRanks);
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] {
      auto c = group.Member(r);
      data[r] = {1e8f, static_cast<float>(r), 1.0f, -1e8f, 0.5f};
      for (int rep = 0; rep < 3; ++rep) ASSERT_TRUE(c->AllReduceSum(data[r]).ok());
    });
  }
  for (auto& t : threads) t.join();
  // Rank-order float sums of the first element: ((1e8+1e8)+1e8)+1e8 each repetition.
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_EQ(data[r], data[0]) << "rank " << r;  // bitwise identical everywhere
  }
  EXPECT_EQ(data[0][1], (0 + 1 + 2 + 3) * 16.0f);
  EXPECT_EQ(data[0][4], 0.5f * 64);
}

TEST(CollectiveTest, InProcessAllGatherConcatenatesUnevenShards) {
  constexpr int kRanks = 3;
  InProcessGroup group(kRanks);
  std::vector<std::vector<float>> out(kRanks, std::vector<float>(6));
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] {
      auto c = group.Member(r);
      std::vector<float> local(r + 1, static_cast<float>(r));  // 1, 2, 3 elements
      ASSERT_TRUE(c->AllGather(local, out[r]).ok());
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < kRanks; ++r) EXPECT_EQ(out[r], (std::vector<float>{0, 1, 1, 2, 2, 2}));
}

TEST(CollectiveTest, InProcessSizeMismatchIsAnErrorOnEveryRank) {
  InProcessGroup group(2);
  Status s[2];
  std::thread t0([&] {
    std::vector<float> d(3);
    s[0] = group.Member(0)->AllReduceSum(d);
  });
  std::thread t1([&] {
    std::vector<float> d(4);
    s[1] = group.Member(1)->AllReduceSum(d);
  });
  t0.join();
  t1.join();
  EXPECT_FALSE(s[0].ok());
  EXPECT_FALSE(s[1].ok());
  EXPECT_THAT(std::string(s[0].message()), ::testing::HasSubstr("elements"));
}

}  // namespace
}  // namespace mies::model
