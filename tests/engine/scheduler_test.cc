// Scheduler decisions on hand-made sequences (no model): budgets, chunking, preemption,
// copy-on-write and the select-batch rule.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <memory>

namespace mies::engine {
namespace {

struct Fixture {
  Fixture(int64_t blocks, int64_t block_size, SchedulerOptions o = {})
      : bm(blocks, block_size), sched(o, &bm) {}
  Sequence* Add(int prompt_len, uint64_t arrival, int first_token = 10) {
    auto s = std::make_unique<Sequence>();
    s->id = arrival + 1;
    s->arrival = arrival << 16;
    for (int i = 0; i < prompt_len; ++i) s->tokens.push_back(first_token + i);
    s->prompt_len = prompt_len;
    seqs.push_back(std::move(s));
    sched.AddWaiting(seqs.back().get());
    return seqs.back().get();
  }
  // Runs a step as the engine would: marks it computed and appends a token to each sampled one.
  ScheduleOutput Step() {
    ScheduleOutput out = sched.Schedule();
    sched.Complete(out);
    for (auto& item : out.items) {
      if (item.sample) item.seq->tokens.push_back(7);
    }
    return out;
  }
  BlockManager bm;
  Scheduler sched;
  std::vector<std::unique_ptr<Sequence>> seqs;
};

TEST(SchedulerTest, PrefillBudgetChunksLongPromptsWhileDecodesKeepRunning) {
  SchedulerOptions o;
  o.max_prefill_tokens = 16;
  Fixture f(64, 4, o);
  Sequence* a = f.Add(6, 0);
  auto s1 = f.Step();
  ASSERT_EQ(s1.items.size(), 1u);
  EXPECT_TRUE(s1.items[0].sample);
  Sequence* b = f.Add(40, 1, 200);  // no tokens in common with a (no prefix-cache hit)
  auto s2 = f.Step();               // a decodes, b gets a 16-token chunk
  ASSERT_EQ(s2.items.size(), 2u);
  EXPECT_EQ(s2.items[0].seq, a);
  EXPECT_EQ(s2.items[0].count, 1);
  EXPECT_EQ(s2.items[1].seq, b);
  EXPECT_EQ(s2.items[1].count, 16);
  EXPECT_FALSE(s2.items[1].sample);
  EXPECT_FALSE(s2.plan.sequences[1].want_logits);
  auto s3 = f.Step();
  EXPECT_EQ(s3.items[1].start, 16);
  EXPECT_EQ(s3.items[1].count, 16);
  auto s4 = f.Step();
  EXPECT_EQ(s4.items[1].count, 8);
  EXPECT_TRUE(s4.items[1].sample);
  EXPECT_EQ(s4.plan.sequences[1].block_table.size(), 10u);  // 40 tokens / 4
}

TEST(SchedulerTest, MaxPrefillBatchSizeAndMaxBatchSizeLimitAdmissions) {
  SchedulerOptions o;
  o.max_prefill_batch_size = 2;
  o.max_batch_size = 3;
  Fixture f(64, 4, o);
  for (int i = 0; i < 5; ++i) f.Add(3, i);
  EXPECT_EQ(f.Step().items.size(), 2u);
  auto s2 = f.Step();  // two decodes + one more admission (batch limit 3)
  EXPECT_EQ(s2.items.size(), 3u);
  EXPECT_EQ(f.sched.num_running(), 3);
  EXPECT_EQ(f.sched.num_waiting(), 2);
}

TEST(SchedulerTest, OutOfBlocksPreemptsTheNewestAndRecomputesItLater) {
  Fixture f(4, 4);  // 16 tokens in all
  Sequence* a = f.Add(7, 0);
  Sequence* b = f.Add(7, 1, 100);
  f.Step();  // both prefilled: 2 blocks each, pool full
  EXPECT_EQ(f.bm.num_available(), 0);
  auto s = f.Step();  // both decode at position 7 (still in block 1)... and 8 next
  EXPECT_EQ(s.items.size(), 2u);
  auto s3 = f.Step();  // position 8 needs a third block for each: b is preempted
  EXPECT_EQ(s3.preempted, 1);
  ASSERT_EQ(s3.items.size(), 1u);
  EXPECT_EQ(s3.items[0].seq, a);
  EXPECT_FALSE(b->running);
  EXPECT_EQ(b->num_computed, 0);
  EXPECT_EQ(b->tokens.size(), 9u);  // prompt + two generated tokens, recomputed later
  f.sched.Remove(a);
  auto s4 = f.Step();
  ASSERT_EQ(s4.items.size(), 1u);
  EXPECT_EQ(s4.items[0].seq, b);
  // Its first block (full, computed, released on preemption) comes back from the prefix cache.
  EXPECT_EQ(s4.items[0].start, 4);
  EXPECT_EQ(s4.items[0].count, 5);
}

TEST(SchedulerTest, ForkedSequencesCopyTheSharedLastBlockBeforeWriting) {
  Fixture f(16, 4);
  Sequence* a = f.Add(6, 0);
  a->fork_width = 2;
  f.Step();
  Sequence child;
  child.id = 99;
  child.arrival = a->arrival + 1;
  f.sched.Fork(*a, &child);
  child.tokens.back() = 8;  // a different sampled token
  EXPECT_EQ(f.bm.ref_count(a->blocks[1]), 2);
  auto s = f.Step();
  ASSERT_EQ(s.items.size(), 2u);
  // The first writer copies the shared partial block; the second then holds the original alone.
  ASSERT_EQ(s.plan.block_copies.size(), 1u);
  EXPECT_EQ(s.plan.block_copies[0].second, a->blocks[1]);
  EXPECT_NE(a->blocks[1], child.blocks[1]);
  EXPECT_EQ(a->blocks[0], child.blocks[0]);  // the full block stays shared
  EXPECT_EQ(f.bm.ref_count(a->blocks[0]), 2);
  f.sched.Remove(&child);
  f.sched.Remove(a);
  EXPECT_EQ(f.bm.num_used(), 0);
}

TEST(SchedulerTest, PrefixCacheHitSkipsCachedBlocks) {
  Fixture f(32, 4);
  Sequence* a = f.Add(13, 0);
  f.Step();
  f.sched.Remove(a);
  Sequence* b = f.Add(13, 1);  // same tokens
  auto s = f.Step();
  ASSERT_EQ(s.items.size(), 1u);
  EXPECT_EQ(s.items[0].start, 12);  // 3 full blocks reused, last token computed
  EXPECT_EQ(b->cached_tokens, 12);
  EXPECT_EQ(s.prefix_hits, 3);
  EXPECT_EQ(s.prefix_queries, 3);
}

TEST(SchedulerTest, SelectBatchAlternatesPrefillAndDecodeByCost) {
  SchedulerOptions o;
  o.support_select_batch = true;
  o.max_batch_size = 4;
  o.prefill_time_ms_per_req = 100;
  o.decode_time_ms_per_req = 50;
  Fixture f(64, 4, o);
  f.Add(3, 0);
  auto s1 = f.Step();  // nothing decoding: prefill
  EXPECT_EQ(s1.prefill_tokens, 3);
  f.Add(3, 1);
  // 1 decode: prefill costs 100 x 1 > waste 0 -> decode (waste += 50 x 3 = 150)
  auto s2 = f.Step();
  EXPECT_EQ(s2.decode_tokens, 1);
  EXPECT_EQ(s2.prefill_tokens, 0);
  auto s3 = f.Step();  // 100 <= 150: prefill only
  EXPECT_EQ(s3.prefill_tokens, 3);
  EXPECT_EQ(s3.decode_tokens, 0);
}

}  // namespace
}  // namespace mies::engine
