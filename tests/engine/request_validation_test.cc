#include "engine/request_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mies::engine {
namespace {

using ::testing::HasSubstr;

RequestLimits Limits() {
  RequestLimits l;
  l.max_seq_len = 100;
  l.max_input_tokens = 50;
  l.max_iter_times = 40;
  l.max_n = 4;
  l.max_batch_size = 8;
  l.vocab_size = 512;
  return l;
}

GenerateRequest Base() {
  GenerateRequest r;
  r.request_id = "r";
  r.prompt_ids = {1, 2, 3};
  return r;
}

std::string Error(const GenerateRequest& r, RequestLimits l = Limits(),
                  model::GenerationDefaults d = {}) {
  auto s = ResolveRequest(r, d, l, 0);
  return s.ok() ? "OK" : std::string(s.status().message());
}

TEST(RequestValidationTest, OutOfRangeValuesNameTheParameterRangeAndValue) {
  auto with = [](auto f) {
    GenerateRequest r = Base();
    f(r);
    return Error(r);
  };
  EXPECT_THAT(with([](auto& r) { r.sampling.temperature = -0.5; }),
              HasSubstr("temperature must be in [0.0"));
  EXPECT_THAT(with([](auto& r) { r.sampling.top_k = -2; }), HasSubstr("top_k must be in -1"));
  EXPECT_THAT(with([](auto& r) { r.sampling.top_p = 0.0; }),
              HasSubstr("top_p must be in (0.0, 1.0], got 0"));
  EXPECT_THAT(with([](auto& r) { r.sampling.top_p = 1.5; }), HasSubstr("got 1.5"));
  EXPECT_THAT(with([](auto& r) { r.sampling.min_p = 2; }),
              HasSubstr("min_p must be in [0.0, 1.0]"));
  EXPECT_THAT(with([](auto& r) { r.sampling.typical_p = 0; }),
              HasSubstr("typical_p must be in (0.0, 1.0]"));
  EXPECT_THAT(with([](auto& r) { r.sampling.repetition_penalty = 0; }),
              HasSubstr("repetition_penalty must be in (0.0,"));
  EXPECT_THAT(with([](auto& r) { r.sampling.presence_penalty = 2.5; }),
              HasSubstr("presence_penalty must be in [-2.0, 2.0], got 2.5"));
  EXPECT_THAT(with([](auto& r) { r.sampling.frequency_penalty = -3; }),
              HasSubstr("frequency_penalty must be in [-2.0, 2.0], got -3"));
  EXPECT_THAT(with([](auto& r) { r.sampling.seed = ~0ull; }),
              HasSubstr("seed must be in [0, 9223372036854775807]"));
  EXPECT_THAT(with([](auto& r) { r.sampling.n = 5; }), HasSubstr("n must be in [1, 4]"));
  EXPECT_THAT(with([](auto& r) {
                r.sampling.logit_bias = {{512, 1.0f}};
              }),
              HasSubstr("token id 512 in logit_bias is outside the vocabulary (size 512)"));
  EXPECT_THAT(with([](auto& r) {
                r.sampling.logit_bias = {{3, 101.0f}};
              }),
              HasSubstr("logit_bias of token 3 must be in [-100, 100], got 101"));
  EXPECT_THAT(with([](auto& r) {
                r.sampling.n = 2;
                r.sampling.best_of = 1;
                r.sampling.temperature = 1;
              }),
              HasSubstr("best_of must be in [n=2, 4]"));
  EXPECT_THAT(with([](auto& r) {
                r.sampling.n = 2;
                r.sampling.temperature = 1;
                r.stream = true;
                r.sampling.best_of = 3;
              }),
              HasSubstr("best_of must be equal to n in stream mode"));
  EXPECT_THAT(with([](auto& r) { r.sampling.n = 2; }), HasSubstr("greedy"));
  EXPECT_THAT(with([](auto& r) { r.sampling.logprobs = 21; }),
              HasSubstr("logprobs must be in [0, 20]"));
  EXPECT_THAT(with([](auto& r) { r.sampling.prompt_logprobs = -1; }),
              HasSubstr("prompt_logprobs must be in [0, 20]"));
  EXPECT_THAT(with([](auto& r) { r.stop.max_tokens = 0; }),
              HasSubstr("max_tokens must be in (0, 2147483647], got 0"));
  EXPECT_THAT(with([](auto& r) {
                r.stop.max_tokens = 3;
                r.stop.min_tokens = 4;
              }),
              HasSubstr("min_tokens must be in [0, max_tokens=3], got 4"));
  EXPECT_THAT(with([](auto& r) {
                r.stop.stop = {"ok", ""};
              }),
              HasSubstr("stop[1] length must be in [1, 1024]"));
  EXPECT_THAT(with([](auto& r) { r.stop.stop_token_ids = {512}; }),
              HasSubstr("stop_token_ids item must be in [0, 512), got 512"));
  EXPECT_THAT(with([](auto& r) { r.prompt_ids = {}; }), HasSubstr("at least one token"));
  EXPECT_THAT(with([](auto& r) {
                r.prompt_ids = {1, 600};
              }),
              HasSubstr("prompt token 1 is 600, outside the vocabulary"));
  EXPECT_THAT(with([](auto& r) { r.request_id.clear(); }), HasSubstr("request_id"));
  EXPECT_EQ(with([](auto&) {}), "OK");
}

TEST(RequestValidationTest, LongPromptIsRejectedOrTruncatedPerTruncationRule) {
  GenerateRequest r = Base();
  r.prompt_ids.clear();
  for (int i = 0; i < 60; ++i) r.prompt_ids.push_back(i);
  RequestLimits l = Limits();
  EXPECT_THAT(Error(r, l),
              HasSubstr("prompt has 60 tokens, more than the maximum input length 50"));
  l.truncation = -1;
  auto head = ResolveRequest(r, {}, l, 0);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->prompt.size(), 50u);
  EXPECT_EQ(head->prompt.front(), 0);
  l.truncation = 1;
  auto tail = ResolveRequest(r, {}, l, 0);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->prompt.front(), 10);
  EXPECT_EQ(tail->prompt.back(), 59);
}

TEST(RequestValidationTest, MaxTokensIsBoundedByMaxIterTimesMaxSeqLenAndPool) {
  GenerateRequest r = Base();
  auto a = ResolveRequest(r, {}, Limits(), 0);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->max_tokens, 40);  // maxIterTimes when unset
  r.stop.max_tokens = 1000;
  RequestLimits l = Limits();
  l.max_iter_times = 1000;
  auto b = ResolveRequest(r, {}, l, 0);
  EXPECT_EQ(b->max_tokens, 97);  // maxSeqLen - prompt
  l.pool_tokens = 20;
  auto c = ResolveRequest(r, {}, l, 0);
  EXPECT_EQ(c->max_tokens, 17);
  l.pool_tokens = 3;
  EXPECT_THAT(Error(r, l), HasSubstr("KV cache pool holds 3 tokens"));
}

TEST(RequestValidationTest, DefaultsComeFromGenerationConfigThenRequest) {
  model::GenerationDefaults d;
  d.do_sample = true;
  d.temperature = 0.6;
  d.top_p = 0.9;
  d.top_k = 2000;
  GenerateRequest r = Base();
  RequestLimits l = Limits();
  l.top_k_cap = 50;
  auto a = ResolveRequest(r, d, l, 99);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->sampling.greedy);
  EXPECT_DOUBLE_EQ(a->sampling.temperature, 0.6);
  EXPECT_DOUBLE_EQ(a->sampling.top_p, 0.9);
  EXPECT_EQ(a->sampling.top_k, 50);  // capped
  EXPECT_EQ(a->sampling.seed, 99u);
  r.sampling.temperature = 0.0;
  EXPECT_TRUE(ResolveRequest(r, d, l, 0)->sampling.greedy);
  r.sampling.temperature = 1.3;
  r.sampling.do_sample = false;
  EXPECT_TRUE(ResolveRequest(r, d, l, 0)->sampling.greedy);
  GenerateRequest plain = Base();
  EXPECT_TRUE(ResolveRequest(plain, {}, l, 0)->sampling.greedy);  // nothing says sample
  plain.sampling.seed = 5;
  EXPECT_FALSE(ResolveRequest(plain, {}, l, 0)->sampling.greedy);
}

}  // namespace
}  // namespace mies::engine
