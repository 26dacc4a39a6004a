#include "engine/step_plan.h"

#include <gtest/gtest.h>

#include <random>

namespace mies::engine {
namespace {

StepPlan SamplePlan() {
  StepPlan p;
  p.step_id = 0x123456789ABCull;
  StepSequence a;
  a.seq_id = 7;
  a.tokens = {1, 2, 3, 400000};
  a.start_pos = 0;
  a.block_table = {5, 9};
  a.all_logits = true;
  a.want_logits = true;
  StepSequence b;
  b.seq_id = 1ull << 40;
  b.tokens = {42};
  b.start_pos = 1234;
  b.block_table = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  b.want_logits = false;
  p.sequences = {a, b, StepSequence{}};
  p.block_copies = {{3, 4}, {10, 11}};
  return p;
}

void ExpectEqual(const StepPlan& x, const StepPlan& y) {
  EXPECT_EQ(x.step_id, y.step_id);
  EXPECT_EQ(x.shutdown, y.shutdown);
  EXPECT_EQ(x.block_copies, y.block_copies);
  ASSERT_EQ(x.sequences.size(), y.sequences.size());
  for (size_t i = 0; i < x.sequences.size(); ++i) {
    const StepSequence& a = x.sequences[i];
    const StepSequence& b = y.sequences[i];
    EXPECT_EQ(a.seq_id, b.seq_id);
    EXPECT_EQ(a.tokens, b.tokens);
    EXPECT_EQ(a.start_pos, b.start_pos);
    EXPECT_EQ(a.block_table, b.block_table);
    EXPECT_EQ(a.all_logits, b.all_logits);
    EXPECT_EQ(a.want_logits, b.want_logits);
  }
}

TEST(StepPlanTest, RoundTripKeepsEveryField) {
  const StepPlan p = SamplePlan();
  auto back = StepPlan::Deserialize(p.Serialize());
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectEqual(p, *back);

  StepPlan stop;
  stop.shutdown = true;
  auto s = StepPlan::Deserialize(stop.Serialize());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->shutdown);
  EXPECT_TRUE(s->sequences.empty());
}

TEST(StepPlanTest, EveryTruncationIsAnError) {
  const std::string bytes = SamplePlan().Serialize();
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = StepPlan::Deserialize(bytes.substr(0, n));
    EXPECT_FALSE(r.ok()) << "prefix of " << n << " bytes accepted";
  }
}

TEST(StepPlanTest, TrailingBytesBadMagicAndVersionAreErrors) {
  const std::string bytes = SamplePlan().Serialize();
  auto trailing = StepPlan::Deserialize(bytes + "x");
  ASSERT_FALSE(trailing.ok());
  EXPECT_NE(std::string(trailing.status().message()).find("trailing"), std::string::npos);
  std::string magic = bytes;
  magic[0] ^= 0x55;
  auto m = StepPlan::Deserialize(magic);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(std::string(m.status().message()).find("magic"), std::string::npos);
  std::string version = bytes;
  version[4] = 9;
  auto v = StepPlan::Deserialize(version);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(std::string(v.status().message()).find("version 9"), std::string::npos);
}

TEST(StepPlanTest, HugeCountsAreRejectedBeforeAllocating) {
  std::string bytes = SamplePlan().Serialize();
  // The sequence count sits after magic(4) version(2) flags(1) step_id(8).
  for (int i = 0; i < 4; ++i) bytes[15 + i] = static_cast<char>(0xFF);
  auto r = StepPlan::Deserialize(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("sequence count"), std::string::npos);
}

TEST(StepPlanTest, RandomCorruptionNeverCrashes) {
  const std::string bytes = SamplePlan().Serialize();
  std::mt19937 rng(5);
  int accepted = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::string b = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<char>(rng());
    auto r = StepPlan::Deserialize(b);
    if (r.ok()) {
      ++accepted;  // a flip inside a token id is still a well-formed plan; it must round-trip
      ExpectEqual(*r, *StepPlan::Deserialize(r->Serialize()));
    }
  }
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 20000);
}

}  // namespace
}  // namespace mies::engine
