// Batched forward == one sequence at a time, and tensor-parallel ranks (threads with the
// in-process collective) == one rank. Both run on synthetic models, no reference needed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "make_model/synthetic_model.h"
#include "model/llama_model.h"
#include "model_test_util.h"

namespace mies::model {
namespace {

using namespace mies::model::testing;
using ::testing::HasSubstr;

// A scripted workload: three sequences arriving at different steps, mixing prefills and decodes
// in one batch, with interleaved (non-contiguous) block tables.
struct Step {
  struct Item {
    int seq;
    std::vector<int32_t> tokens;
    bool all_logits;
  };
  std::vector<Item> items;
};

std::vector<Step> Script(int32_t vocab) {
  auto ids = [&](int n, uint32_t seed) { return PseudoRandomIds(n, 0, vocab, seed); };
  std::vector<Step> s;
  s.push_back({{{0, ids(21, 1), true}, {1, ids(7, 2), false}}});
  s.push_back({{{1, ids(1, 3), false}, {2, ids(13, 4), true}, {0, ids(1, 5), false}}});
  s.push_back({{{2, ids(1, 6), false}, {0, ids(1, 7), true}, {1, ids(1, 8), false}}});
  s.push_back({{{0, ids(5, 9), true}, {2, ids(1, 10), false}}});  // a second chunk of prefill
  s.push_back({{{1, ids(1, 11), false}, {0, ids(1, 12), false}, {2, ids(1, 13), false}}});
  return s;
}

// Sequence s owns blocks s, s+3, s+6, ... (interleaved).
std::vector<int32_t> TableFor(int seq) {
  std::vector<int32_t> t;
  for (int i = 0; i < 8; ++i) t.push_back(seq + 3 * i);
  return t;
}

// Runs the script; `batched` puts each step's items in one Forward call, otherwise one call per
// item. Returns each sequence's logit rows in order.
std::map<int, std::vector<float>> RunScript(LlamaModel& model, KvCache& cache,
                                            const std::vector<Step>& script, bool batched) {
  std::map<int, std::vector<float>> rows;
  std::map<int, int64_t> pos;
  std::vector<std::vector<int32_t>> tables{TableFor(0), TableFor(1), TableFor(2)};
  for (const Step& step : script) {
    std::vector<SequenceInput> batch;
    for (const auto& it : step.items) {
      batch.push_back({it.tokens, pos[it.seq], tables[it.seq],
                       it.all_logits ? static_cast<int64_t>(it.tokens.size()) : 1});
      pos[it.seq] += static_cast<int64_t>(it.tokens.size());
    }
    auto collect = [&](std::span<const SequenceInput> b, std::span<const Step::Item> items) {
      ForwardOutput out;
      Status s = model.Forward(b, cache, &out);
      EXPECT_TRUE(s.ok()) << s;
      if (!s.ok()) return;
      for (size_t i = 0; i < items.size(); ++i) {
        auto& r = rows[items[i].seq];
        r.insert(r.end(), out.Row(i), out.Row(i) + out.num_rows[i] * out.vocab);
      }
    };
    if (batched) {
      collect(batch, step.items);
    } else {
      for (size_t i = 0; i < batch.size(); ++i) collect({&batch[i], 1}, {&step.items[i], 1});
    }
  }
  return rows;
}

class ModelFixture : public ::testing::Test {
 protected:
  void MakeModel(const std::string& preset) {
    auto spec = tools::PresetSpec(preset);
    ASSERT_TRUE(spec.ok());
    spec->seed = 3;
    spec_ = *spec;
    ASSERT_TRUE(tools::WriteSyntheticModel(spec_, dir_.path()).ok());
  }
  std::unique_ptr<LlamaModel> Load(Collective* c, int rank, int size, int threads = 1,
                                   int moe_ep = 1) {
    ModelOptions opt;
    opt.parallel = {rank, size, moe_ep};
    opt.num_threads = threads;
    auto m = LlamaModel::Load(dir_.path(), opt, c);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }
  TempDir dir_;
  tools::SyntheticModelSpec spec_;
};

// MoE too: a batch groups its tokens by expert, and that grouping must not change any token's
// result.
TEST_F(ModelFixture, BatchedMixedPrefillAndDecodeEqualsOneAtATime) {
  for (const char* preset : {"tiny", "tiny-qwen3-moe", "tiny-qwen2-moe", "tiny-mixtral"}) {
    SCOPED_TRACE(preset);
    MakeModel(preset);
    IdentityCollective one;
    auto model = Load(&one, 0, 1, 2);
    const auto script = Script(static_cast<int32_t>(spec_.vocab_size));
    auto c1 = KvCache::Create(model->CacheShape(4), 24);
    auto c2 = KvCache::Create(model->CacheShape(4), 24);
    ASSERT_TRUE(c1.ok() && c2.ok());
    auto alone = RunScript(*model, **c1, script, false);
    auto batched = RunScript(*model, **c2, script, true);
    ASSERT_EQ(alone.size(), 3u);
    for (const auto& [seq, r] : alone) {
      ASSERT_EQ(batched[seq].size(), r.size()) << "seq " << seq;
      EXPECT_LT(MaxAbsDiff(batched[seq].data(), r.data(), static_cast<int64_t>(r.size())), 1e-5f)
          << "seq " << seq;
    }
  }
}

TEST_F(ModelFixture, ForwardRejectsBadBatchesNamingTheProblem) {
  MakeModel("tiny");
  IdentityCollective one;
  auto model = Load(&one, 0, 1);
  auto cache = KvCache::Create(model->CacheShape(4), 4);
  ASSERT_TRUE(cache.ok());
  ForwardOutput out;
  std::vector<int32_t> toks{1, 2, 3, 4, 5, 6};
  std::vector<int32_t> short_table{0};
  SequenceInput in{toks, 0, short_table, 1};
  EXPECT_THAT(std::string(model->Forward({&in, 1}, **cache, &out).message()),
              HasSubstr("block table has 1 blocks, positions up to 5 need 2"));
  std::vector<int32_t> bad_ids{0, 9};
  in.block_table = bad_ids;
  EXPECT_THAT(std::string(model->Forward({&in, 1}, **cache, &out).message()),
              HasSubstr("block id 9 outside the pool [0, 4)"));
  std::vector<int32_t> big{100000};
  SequenceInput in2{big, 0, short_table, 1};
  EXPECT_THAT(std::string(model->Forward({&in2, 1}, **cache, &out).message()),
              HasSubstr("token id 100000 outside the vocabulary"));
  auto wrong = KvCache::Create({1, 1, 8, 4}, 4);
  ASSERT_TRUE(wrong.ok());
  EXPECT_THAT(std::string(model->Forward({&in2, 1}, **wrong, &out).message()),
              HasSubstr("does not match the model's"));
}

// Runs the script on tp ranks (one thread each, in-process collective) and returns rank 0's
// rows; every rank must hold the same logits after the all-gather.
class TensorParallelTest : public ModelFixture, public ::testing::WithParamInterface<std::string> {
 protected:
  std::map<int, std::vector<float>> Run(int tp, const std::vector<Step>& script, int moe_ep = 1) {
    InProcessGroup group(tp);
    std::vector<std::map<int, std::vector<float>>> per_rank(tp);
    std::vector<std::unique_ptr<Collective>> members;
    for (int r = 0; r < tp; ++r) members.push_back(group.Member(r));
    std::vector<std::thread> threads;
    for (int r = 0; r < tp; ++r) {
      threads.emplace_back([&, r] {
        auto model = Load(members[r].get(), r, tp, 1, moe_ep);
        if (!model) return;
        auto cache = KvCache::Create(model->CacheShape(4), 24);
        ASSERT_TRUE(cache.ok());
        per_rank[r] = RunScript(*model, **cache, script, true);
      });
    }
    for (auto& t : threads) t.join();
    for (int r = 1; r < tp; ++r) EXPECT_EQ(per_rank[r], per_rank[0]) << "rank " << r;
    return per_rank[0];
  }
};

TEST_P(TensorParallelTest, LogitsOfTp2AndTp4EqualTp1) {
  MakeModel(GetParam());
  const auto script = Script(static_cast<int32_t>(spec_.vocab_size));
  auto base = Run(1, script);
  ASSERT_EQ(base.size(), 3u);
  for (int tp : {2, 4}) {
    // MoE models: experts sliced over every rank (moe_ep 1) and split whole (moe_ep = tp).
    for (int moe_ep : spec_.num_experts > 0 ? std::vector<int>{1, tp} : std::vector<int>{1}) {
      auto got = Run(tp, script, moe_ep);
      for (const auto& [seq, r] : base) {
        ASSERT_EQ(got[seq].size(), r.size()) << "tp " << tp << " seq " << seq;
        EXPECT_LT(MaxAbsDiff(got[seq].data(), r.data(), static_cast<int64_t>(r.size())), 1e-5f)
            << "tp " << tp << " moe_ep " << moe_ep << " seq " << seq;
      }
    }
  }
}

// tiny: 8 heads, 2 KV heads (tp 4 replicates each KV head on 2 ranks). tiny-gqa4: one KV head,
// intermediate 150 and vocab 383 (uneven shards). tiny-qwen2: biases split with their rows.
// tiny-qwen3: q/k norms with head_dim 16. The MoE presets: 8 experts (2 per rank at EP 4), an
// expert slice of 40 over 4 ranks, Qwen2-MoE's shared expert, Mixtral's sliding window.
INSTANTIATE_TEST_SUITE_P(Models, TensorParallelTest,
                         ::testing::Values("tiny", "tiny-gqa4", "tiny-qwen2", "tiny-qwen3",
                                           "tiny-qwen3-moe", "tiny-qwen2-moe", "tiny-mixtral"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = std::isalnum(c) ? c : '_';
                           return n;
                         });

TEST_F(ModelFixture, UnevenHeadSplitIsRefusedAtLoad) {
  MakeModel("tiny");  // 8 heads, 2 KV heads
  InProcessGroup group(3);
  auto member = group.Member(0);
  ModelOptions opt;
  opt.parallel = {0, 3};
  auto m = LlamaModel::Load(dir_.path(), opt, member.get());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()),
              HasSubstr("num_attention_heads 8 cannot be split evenly over tp_size 3"));
  // The collective must match the parallel config.
  IdentityCollective one;
  opt.parallel = {1, 2};
  m = LlamaModel::Load(dir_.path(), opt, &one);
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("does not match"));
}

TEST(ShardLayoutTest, KvHeadsReplicateWhenTpExceedsThem) {
  HfConfig c;
  c.num_attention_heads = 32;
  c.num_key_value_heads = 4;
  c.intermediate_size = 5632;
  c.vocab_size = 32001;
  c.head_dim = 64;
  for (int r = 0; r < 8; ++r) {
    auto l = ComputeShardLayout(c, {r, 8});
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l->num_q_heads, 4);
    EXPECT_EQ(l->num_kv_heads, 1);
    EXPECT_EQ(l->kv_head_begin, r / 2);  // ranks 2k and 2k+1 share KV head k
    EXPECT_EQ(l->vocab_begin.back(), 32001);
  }
  auto l2 = ComputeShardLayout(c, {1, 2});
  ASSERT_TRUE(l2.ok());
  EXPECT_EQ(l2->num_kv_heads, 2);
  EXPECT_EQ(l2->kv_head_begin, 2);
  EXPECT_EQ(l2->vocab_local(), 32001 - 16000);
  c.num_key_value_heads = 3;
  c.num_attention_heads = 24;
  EXPECT_THAT(std::string(ComputeShardLayout(c, {0, 2}).status().message()),
              HasSubstr("num_key_value_heads 3 cannot be split over tp_size 2"));
}

}  // namespace
}  // namespace mies::model

namespace mies::model {
namespace {

TEST(KvCacheTest, BlocksFromByteBudgetAndClearErrors) {
  // TinyLlama shape on one rank: 22 layers, 4 KV heads of 64, blocks of 128 tokens:
  // 2 (K,V) * 22 * 128 * 4 * 64 * 4 bytes = 5.5 MiB per block.
  KvCacheShape s{22, 4, 64, 128};
  EXPECT_EQ(s.BytesPerBlock(), 2 * 22 * 128 * 4 * 64 * 4);
  EXPECT_EQ(s.BlocksForBudget(1ll << 30), (1ll << 30) / s.BytesPerBlock());
  EXPECT_EQ(s.BlocksForBudget(s.BytesPerBlock() - 1), 0);
  auto none = KvCache::Create(s, s.BlocksForBudget(1000));
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(std::string(none.status().message()), ::testing::HasSubstr("at least one block"));
  auto bad = KvCache::Create({0, 4, 64, 16}, 4);
  EXPECT_FALSE(bad.ok());
  auto ok = KvCache::Create({2, 1, 8, 4}, 3);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)->num_blocks(), 3);
  EXPECT_NE((*ok)->k(1), (*ok)->v(1));
}

}  // namespace
}  // namespace mies::model
