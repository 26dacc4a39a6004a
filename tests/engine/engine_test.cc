// Engine behaviour on the real stories260K model (and scripted logits where the test needs to
// control the output exactly).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>

#include "engine/sampler.h"
#include "engine_test_util.h"
#include "support/shared_data.h"

namespace mies::engine {
namespace {

using namespace mies::engine::testing;
using ::testing::HasSubstr;

struct Built {
  std::unique_ptr<Engine> engine;
  ControlledExecutor* control = nullptr;
};

Built MakeEngine(EngineOptions options, int64_t num_blocks, int64_t block_size) {
  auto control = std::make_unique<ControlledExecutor>(StoriesExecutor(num_blocks, block_size));
  Built b;
  b.control = control.get();
  auto e = Engine::Create(std::move(options), std::move(control), StoriesTokenizer(),
                          StoriesDefaults(), 512);
  EXPECT_TRUE(e.ok()) << e.status();
  b.engine = std::move(e).value();
  return b;
}

std::map<int, Collector::Seq> RunOne(Engine& engine, GenerateRequest req) {
  Collector c;
  Status s = engine.Submit(std::move(req), c.Sink());
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE(c.Wait());
  return c.Sequences();
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MIES_REQUIRE_SHARED_DATA(HaveStories(), "stories260K under " MIES_SHARED_DIR);
  }
};

TEST_F(EngineTest, GreedyAloneEqualsBatchOf32RandomArrivalsWithPreemption) {
  std::mt19937 rng(42);
  std::vector<GenerateRequest> reqs;
  for (int i = 0; i < 32; ++i) {
    const int plen = 4 + static_cast<int>(rng() % 60);
    const int out = 8 + static_cast<int>(rng() % 40);
    reqs.push_back(Greedy("r" + std::to_string(i), Ids(plen, 100 + i), out));
    reqs.back().stream = (i % 2) == 0;
  }
  std::map<std::string, std::vector<int32_t>> alone;
  {
    Built b = MakeEngine(TestOptions(), 256, 16);
    for (const auto& r : reqs) alone[r.request_id] = RunOne(*b.engine, r)[0].ids;
  }
  EngineOptions o = TestOptions();
  o.scheduler.max_batch_size = 32;
  o.scheduler.max_prefill_tokens = 48;                           // long prompts get chunked
  Built b = MakeEngine(o, /*num_blocks=*/14, /*block_size=*/8);  // 112 tokens: must preempt
  std::vector<std::unique_ptr<Collector>> cs;
  for (size_t i = 0; i < reqs.size(); ++i) cs.push_back(std::make_unique<Collector>());
  std::thread submitter([&] {
    for (size_t i = 0; i < reqs.size(); ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
      ASSERT_TRUE(b.engine->Submit(reqs[i], cs[i]->Sink()).ok());
    }
  });
  submitter.join();
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(cs[i]->Wait());
    auto seqs = cs[i]->Sequences();
    EXPECT_EQ(seqs[0].ids, alone[reqs[i].request_id]) << reqs[i].request_id;
    EXPECT_EQ(seqs[0].finish, FinishReason::kLength);
    EXPECT_EQ(cs[i]->Last().usage.completion_tokens, *reqs[i].stop.max_tokens);
  }
  ASSERT_TRUE(b.engine->WaitIdle(std::chrono::seconds(10)));
  EXPECT_GT(b.engine->Counters().preemptions, 0);
  EXPECT_GT(b.engine->Stats().preemptions_total, 0);
  EXPECT_EQ(b.engine->Stats().kv_blocks_used, 0);
}

TEST_F(EngineTest, SeededSamplingIsReproducibleAcrossRunsAndBatches) {
  auto seeded = [] {
    GenerateRequest r;
    r.request_id = "seeded";
    r.prompt_ids = Ids(12, 7);
    r.sampling.temperature = 1.0;
    r.sampling.top_p = 0.95;
    r.sampling.seed = 1234;
    r.stop.max_tokens = 30;
    r.stop.ignore_eos = true;
    return r;
  };
  std::vector<int32_t> first;
  {
    Built b = MakeEngine(TestOptions(), 128, 16);
    first = RunOne(*b.engine, seeded())[0].ids;
  }
  Built b = MakeEngine(TestOptions(), 128, 16);
  EXPECT_EQ(RunOne(*b.engine, seeded())[0].ids, first);
  // Same request inside a batch of unseeded samplers arriving before it.
  std::vector<std::unique_ptr<Collector>> others;
  for (int i = 0; i < 8; ++i) {
    GenerateRequest r;
    r.request_id = "o" + std::to_string(i);
    r.prompt_ids = Ids(5 + i * 3, 50 + i);
    r.sampling.temperature = 1.2;
    r.stop.max_tokens = 25;
    others.push_back(std::make_unique<Collector>());
    ASSERT_TRUE(b.engine->Submit(r, others.back()->Sink()).ok());
  }
  EXPECT_EQ(RunOne(*b.engine, seeded())[0].ids, first);
  for (auto& c : others) c->Wait();
  // A different seed gives a different stream (30 tokens at temperature 1).
  GenerateRequest other = seeded();
  other.sampling.seed = 999;
  EXPECT_NE(RunOne(*b.engine, other)[0].ids, first);
}

TEST_F(EngineTest, StopStringStraddlingTokensIsExcludedFromText) {
  Built b = MakeEngine(TestOptions(), 128, 16);
  GenerateRequest base = Greedy("g", {1, 291, 1000 % 512, 265}, 40);
  const auto full = RunOne(*b.engine, base)[0];
  const auto tok = StoriesTokenizer();
  // Text lengths after each token; pick a 3-byte stop starting one byte before a boundary
  // where the next token contributes >= 2 bytes, at its first occurrence.
  std::vector<size_t> len;
  for (size_t i = 0; i <= full.ids.size(); ++i) {
    std::vector<int> ids(full.ids.begin(), full.ids.begin() + i);
    len.push_back(tok->Decode(ids, SkipSpecial()).size());
  }
  std::string full_text =
      tok->Decode(std::vector<int>(full.ids.begin(), full.ids.end()), SkipSpecial());
  ASSERT_EQ(full.text, full_text);
  std::string stop;
  size_t at = 0;
  for (size_t i = 2; i + 1 < len.size(); ++i) {
    if (len[i] - len[i - 1] >= 1 && len[i + 1] - len[i] >= 2 && len[i] >= 1) {
      std::string cand = full_text.substr(len[i] - 1, 3);
      if (full_text.find(cand) == len[i] - 1) {
        stop = cand;
        at = len[i] - 1;
        break;
      }
    }
  }
  ASSERT_FALSE(stop.empty()) << "no straddling stop candidate in: " << full_text;
  for (bool stream : {false, true}) {
    for (bool include : {false, true}) {
      GenerateRequest r = base;
      r.request_id = std::string("s") + (stream ? "1" : "0") + (include ? "1" : "0");
      r.stream = stream;
      r.stop.stop = {"never-there", stop};
      r.stop.include_stop_str_in_output = include;
      auto got = RunOne(*b.engine, r)[0];
      EXPECT_EQ(got.text, full_text.substr(0, at + (include ? stop.size() : 0)))
          << "stop '" << stop << "' stream=" << stream;
      EXPECT_EQ(got.finish, FinishReason::kStop);
      EXPECT_EQ(got.stop_reason, stop);
      EXPECT_LT(got.ids.size(), full.ids.size());
    }
  }
}

TEST_F(EngineTest, CancelMidPrefillAndMidDecodeRestoresTheBlockPool) {
  EngineOptions o = TestOptions();
  o.scheduler.chunk_size = 8;
  Built b = MakeEngine(o, 64, 8);
  // Something already cached and running must be untouched by the cancels.
  const int64_t before = b.engine->Stats().kv_blocks_used;
  ASSERT_EQ(before, 0);
  b.control->Gate(true);

  Collector prefill;
  GenerateRequest p = Greedy("prefill", Ids(60, 3), 20);
  p.stream = true;
  ASSERT_TRUE(b.engine->Submit(p, prefill.Sink()).ok());
  b.control->Allow(1);
  ASSERT_TRUE(b.control->WaitStarted(1));
  b.engine->Cancel("prefill");
  b.control->Allow(1000);
  ASSERT_TRUE(prefill.Wait());
  auto ps = prefill.Sequences();
  EXPECT_EQ(ps[0].finish, FinishReason::kCancelled);
  EXPECT_TRUE(ps[0].ids.empty());  // cancelled before the prompt was done
  ASSERT_TRUE(b.engine->WaitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(b.engine->Stats().kv_blocks_used, before);

  Collector decode;
  GenerateRequest d = Greedy("decode", Ids(10, 4), 200);
  d.stream = true;
  const int64_t started = b.control->started();
  b.control->Gate(true);
  ASSERT_TRUE(b.engine->Submit(d, decode.Sink()).ok());
  b.control->Allow(5);
  ASSERT_TRUE(b.control->WaitStarted(started + 5));
  b.engine->Cancel("decode");
  b.control->Gate(false);
  ASSERT_TRUE(decode.Wait());
  auto ds = decode.Sequences();
  EXPECT_EQ(ds[0].finish, FinishReason::kCancelled);
  EXPECT_GE(ds[0].ids.size(), 3u);
  EXPECT_LT(ds[0].ids.size(), 200u);
  ASSERT_TRUE(b.engine->WaitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(b.engine->Stats().kv_blocks_used, before);
  EXPECT_EQ(b.engine->Stats().running, 0);
  // The engine still serves.
  EXPECT_EQ(RunOne(*b.engine, Greedy("after", Ids(10, 4), 5))[0].ids.size(), 5u);
}

TEST_F(EngineTest, PrefixCacheComputesOnlyTheNewPartAndGivesTheSameOutput) {
  const std::vector<int32_t> a = Ids(40, 11);
  std::vector<int32_t> bprompt(a.begin(), a.begin() + 32);
  for (int32_t t : Ids(9, 12)) bprompt.push_back(t);
  std::vector<int32_t> reference;
  {
    EngineOptions o = TestOptions();
    o.enable_prefix_cache = false;
    Built b = MakeEngine(o, 64, 8);
    reference = RunOne(*b.engine, Greedy("b", bprompt, 12))[0].ids;
  }
  Built b = MakeEngine(TestOptions(), 64, 8);
  RunOne(*b.engine, Greedy("a", a, 12));
  const int64_t prefilled = b.engine->Counters().prefill_tokens;
  Collector c;
  ASSERT_TRUE(b.engine->Submit(Greedy("b", bprompt, 12), c.Sink()).ok());
  ASSERT_TRUE(c.Wait());
  EXPECT_EQ(b.engine->Counters().prefill_tokens - prefilled, 41 - 32);
  EXPECT_EQ(c.Last().usage.cached_prompt_tokens, 32);
  EXPECT_EQ(c.Sequences()[0].ids, reference);
  EXPECT_GE(b.engine->Stats().prefix_cache_hits, 4);
}

TEST_F(EngineTest, NSequencesShareThePromptAndIndexZeroMatchesASingleRequest) {
  Built b = MakeEngine(TestOptions(), 128, 8);
  auto req = [](int n, int best_of) {
    GenerateRequest r;
    r.request_id = "n" + std::to_string(n) + "_" + std::to_string(best_of);
    r.prompt_ids = Ids(21, 9);
    r.sampling.temperature = 1.0;
    r.sampling.seed = 77;
    r.sampling.n = n;
    r.sampling.best_of = best_of;
    r.stop.max_tokens = 15;
    r.stop.ignore_eos = true;
    return r;
  };
  auto one = RunOne(*b.engine, req(1, 1));
  const int64_t prefill_before = b.engine->Counters().prefill_tokens;
  auto three = RunOne(*b.engine, req(3, 3));
  // The prompt was computed once for all three (all of it except the cached blocks).
  EXPECT_LE(b.engine->Counters().prefill_tokens - prefill_before, 21);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three[0].ids, one[0].ids);
  EXPECT_NE(three[1].ids, three[0].ids);
  EXPECT_NE(three[2].ids, three[1].ids);
  Collector c;
  ASSERT_TRUE(b.engine->Submit(req(2, 4), c.Sink()).ok());
  ASSERT_TRUE(c.Wait());
  auto best = c.Sequences();
  ASSERT_EQ(best.size(), 2u);
  EXPECT_EQ(c.Last().usage.completion_tokens, 30);
  ASSERT_TRUE(b.engine->WaitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(b.engine->Stats().kv_blocks_used, 0);
}

TEST_F(EngineTest, LogprobsAndPromptLogprobsMatchTheModel) {
  EngineOptions o = TestOptions();
  o.scheduler.chunk_size = 8;  // prompt logprobs across chunk boundaries
  Built b = MakeEngine(o, 64, 8);
  GenerateRequest r = Greedy("lp", Ids(20, 21), 6);
  r.sampling.logprobs = 3;
  r.sampling.prompt_logprobs = 2;
  Collector c;
  ASSERT_TRUE(b.engine->Submit(r, c.Sink()).ok());
  ASSERT_TRUE(c.Wait());
  auto seq = c.Sequences()[0];
  ASSERT_EQ(seq.logprobs.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    const TokenLogprob& lp = seq.logprobs[i];
    EXPECT_EQ(lp.token_id, seq.ids[i]);
    ASSERT_EQ(lp.top.size(), 3u);
    EXPECT_EQ(lp.top[0].token_id, lp.token_id);  // greedy picks the most likely
    EXPECT_FLOAT_EQ(lp.top[0].logprob, lp.logprob);
    EXPECT_GE(lp.top[0].logprob, lp.top[1].logprob);
    EXPECT_LE(lp.logprob, 0.0f);
  }
  std::vector<TokenLogprob> prompt_lp;
  for (const auto& out : c.outputs()) {
    prompt_lp.insert(prompt_lp.end(), out.prompt_logprobs.begin(), out.prompt_logprobs.end());
  }
  ASSERT_EQ(prompt_lp.size(), 19u);
  // Against one direct forward pass of the whole prompt.
  auto model = LoadStories();
  auto cache = model::KvCache::Create(model->CacheShape(8), 4);
  ASSERT_TRUE(cache.ok());
  const std::vector<int32_t> table = {0, 1, 2};
  model::SequenceInput in{r.prompt_ids, 0, table, static_cast<int64_t>(r.prompt_ids.size())};
  model::ForwardOutput out;
  ASSERT_TRUE(model->Forward({&in, 1}, **cache, &out).ok());
  for (size_t p = 0; p + 1 < r.prompt_ids.size(); ++p) {
    TokenLogprob want =
        RawLogprobs({out.Row(0, p), static_cast<size_t>(out.vocab)}, r.prompt_ids[p + 1], 2);
    EXPECT_EQ(prompt_lp[p].token_id, r.prompt_ids[p + 1]);
    EXPECT_NEAR(prompt_lp[p].logprob, want.logprob, 1e-4) << p;
    ASSERT_EQ(prompt_lp[p].top.size(), 2u);
    EXPECT_EQ(prompt_lp[p].top[0].token_id, want.top[0].token_id);
  }
}

TEST_F(EngineTest, ExecutorFailureFailsInFlightRequestsAndEngineStaysUsable) {
  Built b = MakeEngine(TestOptions(), 64, 8);
  b.control->Gate(true);
  Collector c;
  ASSERT_TRUE(b.engine->Submit(Greedy("x", Ids(10, 1), 50), c.Sink()).ok());
  b.control->Allow(2);
  ASSERT_TRUE(b.control->WaitStarted(2));
  b.control->Fail(true);
  b.control->Gate(false);
  ASSERT_TRUE(c.Wait());
  const RequestOutput last = c.Last();
  EXPECT_TRUE(last.finished);
  EXPECT_EQ(last.error.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(last.error.message()), HasSubstr("rank 1 is gone"));
  EXPECT_FALSE(b.engine->Stats().healthy);
  b.control->Fail(false);
  EXPECT_TRUE(b.engine->Stats().healthy);
  EXPECT_EQ(RunOne(*b.engine, Greedy("y", Ids(10, 1), 5))[0].ids.size(), 5u);
  ASSERT_TRUE(b.engine->WaitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(b.engine->Stats().kv_blocks_used, 0);
}

TEST_F(EngineTest, SubmitRejectsBadParametersAndDuplicateIdsWithoutCallingTheSink) {
  Built b = MakeEngine(TestOptions(), 32, 8);
  bool called = false;
  GenerateRequest bad = Greedy("bad", Ids(5, 1), 5);
  bad.sampling.top_p = 1.5;
  Status s = b.engine->Submit(bad, [&](RequestOutput) { called = true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("top_p must be in (0.0, 1.0], got 1.5"));
  b.control->Gate(true);
  Collector c;
  ASSERT_TRUE(b.engine->Submit(Greedy("dup", Ids(5, 1), 5), c.Sink()).ok());
  Status d = b.engine->Submit(Greedy("dup", Ids(5, 1), 5), [&](RequestOutput) { called = true; });
  EXPECT_THAT(std::string(d.message()), HasSubstr("already in use"));
  b.control->Gate(false);
  ASSERT_TRUE(c.Wait());
  EXPECT_FALSE(called);
  // A prompt beyond the pool is refused up front.
  GenerateRequest huge = Greedy("huge", Ids(511, 2), 1);
  EXPECT_THAT(std::string(b.engine->Submit(huge, c.Sink()).message()), HasSubstr("KV cache pool"));
}

// --- Scripted logits: exact control over the generated tokens. ---

std::unique_ptr<Engine> ScriptedEngine(std::vector<int32_t> script, int64_t prompt_len,
                                       EngineOptions o = TestOptions()) {
  auto exec =
      std::make_unique<ScriptedExecutor>(512, 64, 8, [script, prompt_len](int64_t pos, int32_t) {
        const int64_t i = pos - prompt_len;
        return i >= 0 && i < static_cast<int64_t>(script.size()) ? script[i] : 300;
      });
  auto e =
      Engine::Create(std::move(o), std::move(exec), StoriesTokenizer(), StoriesDefaults(), 512);
  EXPECT_TRUE(e.ok()) << e.status();
  return std::move(e).value();
}

bool ValidUtf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += n;
  }
  return true;
}

TEST_F(EngineTest, StreamingNeverSplitsAUtf8CharacterAcrossDeltas) {
  const auto tok = StoriesTokenizer();
  auto enc = tok->Encode("Tom saw € and ✓ here", false);
  ASSERT_TRUE(enc.ok());
  std::vector<int32_t> script(enc->begin(), enc->end());
  ASSERT_NE(std::find(script.begin(), script.end(), 229), script.end()) << "expected <0xE2>";
  auto engine = ScriptedEngine(script, 3);
  GenerateRequest r = Greedy("u", {1, 5, 6}, static_cast<int64_t>(script.size()));
  r.stream = true;
  Collector c;
  ASSERT_TRUE(engine->Submit(r, c.Sink()).ok());
  ASSERT_TRUE(c.Wait());
  std::string text;
  bool held_back = false;
  for (const auto& out : c.outputs()) {
    for (const auto& ev : out.events) {
      EXPECT_TRUE(ValidUtf8(ev.text_delta)) << "delta splits a character";
      if (!ev.new_token_ids.empty() && ev.text_delta.empty()) held_back = true;
      text += ev.text_delta;
    }
  }
  EXPECT_TRUE(held_back);
  EXPECT_EQ(text, "Tom saw € and ✓ here");
}

TEST_F(EngineTest, TextThatMightBeginAStopStringIsHeldBackUntilDecided) {
  const auto tok = StoriesTokenizer();
  auto enc = tok->Encode("the cat sat", false);
  ASSERT_TRUE(enc.ok());
  std::vector<int32_t> script(enc->begin(), enc->end());
  auto engine = ScriptedEngine(script, 2);
  GenerateRequest r = Greedy("h", {1, 5}, static_cast<int64_t>(script.size()));
  r.stream = true;
  r.stop.stop = {"cat dog"};
  Collector c;
  ASSERT_TRUE(engine->Submit(r, c.Sink()).ok());
  ASSERT_TRUE(c.Wait());
  std::string streamed;
  for (const auto& out : c.outputs()) {
    for (const auto& ev : out.events) {
      streamed += ev.text_delta;
      // While undecided, "cat" (a prefix of the stop) must not have been sent yet.
      if (ev.finish == FinishReason::kNone && streamed.find("cat") != std::string::npos) {
        EXPECT_NE(streamed.find("cat s"), std::string::npos) << "sent too early: " << streamed;
      }
    }
  }
  EXPECT_EQ(streamed, "the cat sat");
  EXPECT_EQ(c.Sequences()[0].finish, FinishReason::kLength);
}

TEST_F(EngineTest, EosStopIdsMinTokensAndMaxTokens) {
  // Script: 300 300 2(eos) 301 7 ...
  auto engine = ScriptedEngine({300, 300, 2, 301, 7, 300, 300, 300, 300, 300}, 2);
  GenerateRequest eos = Greedy("eos", {1, 5}, 10);
  eos.stop.ignore_eos = false;
  auto a = RunOne(*engine, eos)[0];
  EXPECT_EQ(a.ids, (std::vector<int32_t>{300, 300, 2}));
  EXPECT_EQ(a.finish, FinishReason::kStop);
  EXPECT_FALSE(a.stop_reason.has_value());

  GenerateRequest ignore = Greedy("ign", {1, 5}, 5);  // ignore_eos: runs through
  auto b = RunOne(*engine, ignore)[0];
  EXPECT_EQ(b.ids, (std::vector<int32_t>{300, 300, 2, 301, 7}));
  EXPECT_EQ(b.finish, FinishReason::kLength);

  GenerateRequest sid = Greedy("sid", {1, 5}, 10);
  sid.stop.stop_token_ids = {301};
  auto c = RunOne(*engine, sid)[0];
  EXPECT_EQ(c.ids.back(), 301);
  EXPECT_EQ(c.stop_reason, "301");
  EXPECT_EQ(c.finish, FinishReason::kStop);

  GenerateRequest minimum = Greedy("min", {1, 5}, 10);
  minimum.stop.ignore_eos = false;
  minimum.stop.min_tokens = 4;  // EOS at token 3 is masked (greedy falls back to another id)
  auto d = RunOne(*engine, minimum)[0];
  EXPECT_GE(d.ids.size(), 4u);
  EXPECT_NE(d.ids[2], 2);
}

}  // namespace
}  // namespace mies::engine

namespace mies::engine {
namespace {

using namespace mies::engine::testing;

TEST_F(EngineTest, StopStringsBeforeMinTokensAreIgnored) {
  const auto tok = StoriesTokenizer();
  auto enc = tok->Encode("the cat sat on the cat mat", false);
  auto head = tok->Encode("the cat sat on", false);
  ASSERT_TRUE(enc.ok() && head.ok());
  std::vector<int32_t> script(enc->begin(), enc->end());
  for (bool stream : {true, false}) {
    auto engine = ScriptedEngine(script, 2);
    GenerateRequest r = Greedy(stream ? "m1" : "m0", {1, 5}, static_cast<int64_t>(script.size()));
    r.stream = stream;
    r.stop.stop = {"cat"};
    r.stop.min_tokens = static_cast<int64_t>(head->size());
    auto got = RunOne(*engine, r)[0];
    EXPECT_EQ(got.text, "the cat sat on the ") << "stream=" << stream;
    EXPECT_EQ(got.stop_reason, "cat");
  }
}

}  // namespace
}  // namespace mies::engine
