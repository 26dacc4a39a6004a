#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace mies::engine {
namespace {

ResolvedSampling Sampling(double temperature) {
  ResolvedSampling p;
  p.greedy = temperature == 0;
  p.temperature = temperature == 0 ? 1.0 : temperature;
  return p;
}

TEST(SamplerTest, GreedyTakesArgmaxLowestIdOnTies) {
  std::vector<float> scratch;
  auto rng = SequenceRng(1, 0);
  const std::vector<float> logits = {0.5f, 2.0f, 2.0f, -1.0f};
  EXPECT_EQ(Sample(Sampling(0), logits, {}, {}, -1, rng, scratch).token, 1);
}

TEST(SamplerTest, MaskedIdsAreNeverSampled) {
  std::vector<float> scratch;
  auto rng = SequenceRng(1, 0);
  const std::vector<float> logits = {0.0f, 9.0f, 1.0f};
  const std::vector<int32_t> masked = {1};
  EXPECT_EQ(Sample(Sampling(0), logits, {}, masked, -1, rng, scratch).token, 2);
  for (int i = 0; i < 200; ++i) {
    EXPECT_NE(Sample(Sampling(1.0), logits, {}, masked, -1, rng, scratch).token, 1);
  }
}

TEST(SamplerTest, FrequenciesFollowTheSoftmaxAtTheTemperature) {
  std::vector<float> scratch;
  auto rng = SequenceRng(123, 0);
  const std::vector<float> logits = {1.0f, 2.0f, 0.0f};
  const double t = 0.7;
  std::vector<double> want(3);
  double z = 0;
  for (int i = 0; i < 3; ++i) z += want[i] = std::exp(logits[i] / t);
  std::vector<int> count(3);
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++count[Sample(Sampling(t), logits, {}, {}, -1, rng, scratch).token];
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(count[i] / double(n), want[i] / z, 0.01) << i;
}

TEST(SamplerTest, TopKTopPAndMinPCutTheTail) {
  std::vector<float> scratch;
  auto rng = SequenceRng(9, 0);
  const std::vector<float> logits = {3.0f, 2.9f, 2.8f, 0.0f, -1.0f};
  ResolvedSampling k = Sampling(1.0);
  k.top_k = 2;
  ResolvedSampling p = Sampling(1.0);
  p.top_p = 0.5;  // the first two tokens hold > 0.5 of the mass
  ResolvedSampling m = Sampling(1.0);
  m.min_p = 0.5;  // exp(-1.1) < 0.5 < exp(-0.2)
  for (int i = 0; i < 500; ++i) {
    EXPECT_LT(Sample(k, logits, {}, {}, -1, rng, scratch).token, 2);
    EXPECT_LT(Sample(p, logits, {}, {}, -1, rng, scratch).token, 2);
    EXPECT_LT(Sample(m, logits, {}, {}, -1, rng, scratch).token, 3);
  }
}

TEST(SamplerTest, TypicalPKeepsTokensNearTheEntropy) {
  std::vector<float> scratch;
  auto rng = SequenceRng(4, 0);
  // One dominant token: its surprisal is far below the entropy of a flat tail, so a small
  // typical_p keeps... the token whose surprisal is closest to the entropy.
  const std::vector<float> logits = {5.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  ResolvedSampling p = Sampling(1.0);
  p.typical_p = 0.01;
  std::set<int32_t> seen;
  for (int i = 0; i < 200; ++i) seen.insert(Sample(p, logits, {}, {}, -1, rng, scratch).token);
  EXPECT_EQ(seen.size(), 1u);
}

TEST(SamplerTest, PenaltiesChangeTheGreedyChoice) {
  std::vector<float> scratch;
  auto rng = SequenceRng(1, 0);
  const std::vector<float> logits = {2.0f, 1.9f, -1.0f};
  PenaltyState pen;
  pen.generated[0] = 1;
  ResolvedSampling pres = Sampling(0);
  pres.presence_penalty = 0.2;
  EXPECT_EQ(Sample(pres, logits, pen, {}, -1, rng, scratch).token, 1);
  ResolvedSampling freq = Sampling(0);
  freq.frequency_penalty = 0.05;
  EXPECT_EQ(Sample(freq, logits, pen, {}, -1, rng, scratch).token, 0);  // 2.0-0.05 > 1.9
  pen.generated[0] = 3;
  EXPECT_EQ(Sample(freq, logits, pen, {}, -1, rng, scratch).token, 1);  // 2.0-0.15 < 1.9
  ResolvedSampling rep = Sampling(0);
  rep.repetition_penalty = 1.2;  // 2.0/1.2 < 1.9
  EXPECT_EQ(Sample(rep, logits, pen, {}, -1, rng, scratch).token, 1);
  PenaltyState neg;
  neg.prompt_ids = {2};
  const std::vector<float> l2 = {-1.0f, -1.1f, -0.95f};
  EXPECT_EQ(Sample(rep, l2, neg, {}, -1, rng, scratch).token, 0);  // -0.95*1.2 < -1.0
}

TEST(SamplerTest, LogitBiasIsAddedBeforeTheChoice) {
  std::vector<float> scratch;
  auto rng = SequenceRng(1, 0);
  const std::vector<float> logits = {0.0f, 3.0f, 1.0f};
  ResolvedSampling p = Sampling(0);
  p.logit_bias = {{2, 2.5f}, {1, -1.0f}};
  EXPECT_EQ(Sample(p, logits, {}, {}, -1, rng, scratch).token, 2);
  // -100 all but bans a token when sampling.
  ResolvedSampling s = Sampling(1.0);
  s.logit_bias = {{1, -100.0f}, {2, -100.0f}};
  for (int i = 0; i < 200; ++i) EXPECT_EQ(Sample(s, logits, {}, {}, -1, rng, scratch).token, 0);
}

TEST(SamplerTest, SameSeedSameDrawsDifferentIndexDifferentDraws) {
  std::vector<float> scratch;
  std::vector<float> logits(50);
  for (int i = 0; i < 50; ++i) logits[i] = static_cast<float>(std::sin(i));
  auto run = [&](uint64_t seed, int index) {
    auto rng = SequenceRng(seed, index);
    std::vector<int32_t> out;
    for (int i = 0; i < 30; ++i)
      out.push_back(Sample(Sampling(1.0), logits, {}, {}, -1, rng, scratch).token);
    return out;
  };
  EXPECT_EQ(run(77, 0), run(77, 0));
  EXPECT_NE(run(77, 0), run(77, 1));
  EXPECT_NE(run(77, 0), run(78, 0));
}

TEST(SamplerTest, LogprobsAreRawLogSoftmaxAndTopIsSorted) {
  std::vector<float> scratch;
  auto rng = SequenceRng(1, 0);
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f, 3.0f};
  ResolvedSampling p = Sampling(0);
  p.repetition_penalty = 100;  // processing must not change the reported logprobs
  PenaltyState pen;
  pen.prompt_ids = {3};
  SampleResult r = Sample(p, logits, pen, {}, 3, rng, scratch);
  EXPECT_EQ(r.token, 2);
  double z = 0;
  for (float l : logits) z += std::exp(l);
  EXPECT_NEAR(r.logprob, 2.0 - std::log(z), 1e-5);
  ASSERT_EQ(r.top.size(), 3u);
  EXPECT_EQ(r.top[0].token_id, 3);
  EXPECT_EQ(r.top[1].token_id, 2);
  EXPECT_EQ(r.top[2].token_id, 1);
  EXPECT_NEAR(r.top[0].logprob, 3.0 - std::log(z), 1e-5);
}

}  // namespace
}  // namespace mies::engine
