#include "engine/scheduler.h"

#include <algorithm>

namespace mies::engine {

Scheduler::Scheduler(const SchedulerOptions& options, BlockManager* blocks)
    : options_(options), blocks_(blocks) {}

void Scheduler::AddWaiting(Sequence* seq) {
  seq->running = false;
  auto pos = std::upper_bound(
      waiting_.begin(), waiting_.end(), seq,
      [](const Sequence* a, const Sequence* b) { return a->arrival < b->arrival; });
  waiting_.insert(pos, seq);
}

void Scheduler::Fork(const Sequence& parent, Sequence* child) {
  child->tokens = parent.tokens;
  child->prompt_len = parent.prompt_len;
  child->num_computed = parent.num_computed;
  child->blocks = parent.blocks;
  child->block_keys = parent.block_keys;
  child->admitted_once = true;
  for (int32_t b : child->blocks) blocks_->Retain(b);
  child->running = true;
  running_.push_back(child);
}

void Scheduler::ReleaseBlocks(Sequence* seq) {
  // Released last block first, so a sequence's tail blocks are evicted before its head.
  for (auto it = seq->blocks.rbegin(); it != seq->blocks.rend(); ++it) blocks_->Release(*it);
  seq->blocks.clear();
  seq->block_keys.clear();
  seq->num_computed = 0;
}

void Scheduler::Remove(Sequence* seq) {
  if (seq->running) {
    running_.erase(std::remove(running_.begin(), running_.end(), seq), running_.end());
  } else {
    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), seq), waiting_.end());
  }
  seq->running = false;
  ReleaseBlocks(seq);
}

void Scheduler::Preempt(Sequence* seq) {
  running_.erase(std::remove(running_.begin(), running_.end(), seq), running_.end());
  ReleaseBlocks(seq);
  ++seq->preemptions;
  AddWaiting(seq);
}

int64_t Scheduler::waiting_tokens() const {
  int64_t n = 0;
  for (const Sequence* s : waiting_) n += static_cast<int64_t>(s->tokens.size()) - s->num_computed;
  return n;
}

bool Scheduler::Reserve(Sequence* seq, int64_t count,
                        std::vector<std::pair<int32_t, int32_t>>* copies) {
  const int64_t bs = blocks_->block_size();
  const int64_t end = seq->num_computed + count;
  const int64_t need_total = (end + bs - 1) / bs;
  const int64_t have = static_cast<int64_t>(seq->blocks.size());
  const int64_t first = seq->num_computed / bs;  // the block the step writes first
  // The step writes into `first` when it already exists (a partly filled block). Shared or
  // cached blocks are never written in place: copy first.
  const bool cow = first < have && (blocks_->ref_count(seq->blocks[first]) > 1 ||
                                    blocks_->is_cached(seq->blocks[first]));
  const int64_t need = std::max<int64_t>(0, need_total - have) + (cow ? 1 : 0);
  if (need > blocks_->num_available()) return false;
  if (cow) {
    const int32_t fresh = *blocks_->Allocate();
    copies->emplace_back(seq->blocks[first], fresh);
    blocks_->Release(seq->blocks[first]);
    seq->blocks[first] = fresh;
  }
  for (int64_t i = have; i < need_total; ++i) seq->blocks.push_back(*blocks_->Allocate());
  return true;
}

ScheduleOutput Scheduler::Schedule() {
  ScheduleOutput out;
  out.plan.step_id = next_step_id_++;
  const int64_t chunk_cap = options_.chunk_size > 0 ? options_.chunk_size : INT64_MAX;

  bool allow_decode = true;
  bool allow_prefill = true;
  if (options_.support_select_batch) {
    int64_t decodes = 0;
    bool prefill_pending = !waiting_.empty();
    for (const Sequence* s : running_) {
      if (static_cast<int64_t>(s->tokens.size()) - s->num_computed == 1) {
        ++decodes;
      } else {
        prefill_pending = true;
      }
    }
    // MindIE's rule: prefill when its cost to the waiting decodes is covered by the batch
    // slots the decode steps have been leaving empty.
    if (prefill_pending &&
        (decodes == 0 ||
         static_cast<double>(options_.prefill_time_ms_per_req) * decodes <= decode_waste_ms_)) {
      allow_decode = false;
      decode_waste_ms_ = 0;
    } else {
      allow_prefill = false;
      decode_waste_ms_ += static_cast<double>(options_.decode_time_ms_per_req) *
                          (options_.max_batch_size - decodes);
    }
  }

  int64_t budget = options_.max_prefill_tokens;
  int prefill_seqs = 0;
  auto add = [&](Sequence* seq, int64_t count, bool is_prefill) {
    ScheduledSequence item;
    item.seq = seq;
    item.start = seq->num_computed;
    item.count = count;
    item.sample = item.start + count == static_cast<int64_t>(seq->tokens.size());
    item.all_logits = seq->prompt_logprobs_pending && item.start < seq->prompt_len;
    StepSequence ss;
    ss.seq_id = seq->id;
    ss.tokens.assign(seq->tokens.begin() + item.start, seq->tokens.begin() + item.start + count);
    ss.start_pos = item.start;
    ss.block_table = seq->blocks;
    ss.all_logits = item.all_logits;
    ss.want_logits = item.sample || item.all_logits;
    out.plan.sequences.push_back(std::move(ss));
    out.items.push_back(item);
    if (is_prefill) {
      budget -= count;
      ++prefill_seqs;
      out.prefill_tokens += count;
    } else {
      out.decode_tokens += count;
    }
  };

  for (size_t i = 0; i < running_.size(); ++i) {
    Sequence* seq = running_[i];
    const int64_t remaining = static_cast<int64_t>(seq->tokens.size()) - seq->num_computed;
    const bool decode = remaining == 1;
    if (decode ? !allow_decode : !allow_prefill) continue;
    int64_t count = 1;
    if (!decode) {
      if (budget <= 0 || prefill_seqs >= options_.max_prefill_batch_size) continue;
      count = std::min({remaining, budget, chunk_cap});
    }
    bool scheduled = true;
    while (!Reserve(seq, count, &out.plan.block_copies)) {
      // Out of blocks: recompute the newest running sequence later. The newest is never one
      // already in this step (the loop goes oldest to newest).
      Sequence* victim = running_.back();
      Preempt(victim);
      ++out.preempted;
      if (victim == seq) {
        scheduled = false;
        break;
      }
    }
    if (!scheduled) break;  // seq was the newest: nothing after it is running
    add(seq, count, !decode);
  }

  if (allow_prefill && out.preempted == 0) {
    while (!waiting_.empty() && budget > 0 && prefill_seqs < options_.max_prefill_batch_size) {
      Sequence* seq = waiting_.front();
      if (static_cast<int64_t>(running_.size()) + seq->fork_width > options_.max_batch_size) break;
      const int64_t bs = blocks_->block_size();
      int64_t queries = 0;
      int64_t hits = 0;
      if (seq->blocks.empty() && !seq->prompt_logprobs_pending) {
        // At least the last token is always computed: its logits give the next token.
        const int64_t max_blocks = (static_cast<int64_t>(seq->tokens.size()) - 1) / bs;
        std::vector<uint64_t> keys;
        seq->blocks = blocks_->Match(seq->tokens, max_blocks, &keys);
        seq->block_keys = std::move(keys);
        seq->num_computed = static_cast<int64_t>(seq->blocks.size()) * bs;
        queries = blocks_->prefix_cache_enabled() ? max_blocks : 0;
        hits = static_cast<int64_t>(seq->blocks.size());
      }
      const int64_t remaining = static_cast<int64_t>(seq->tokens.size()) - seq->num_computed;
      const int64_t count = std::min({remaining, budget, chunk_cap});
      if (!Reserve(seq, count, &out.plan.block_copies)) {
        ReleaseBlocks(seq);  // give matched prefix blocks back; retried next step
        break;
      }
      if (!seq->admitted_once) {
        seq->admitted_once = true;
        seq->cached_tokens = seq->num_computed;
      }
      out.prefix_queries += queries;
      out.prefix_hits += hits;
      waiting_.pop_front();
      seq->running = true;
      running_.push_back(seq);
      add(seq, count, true);
    }
  }
  return out;
}

void Scheduler::Complete(const ScheduleOutput& step) {
  const int64_t bs = blocks_->block_size();
  for (const ScheduledSequence& item : step.items) {
    Sequence* seq = item.seq;
    seq->num_computed = item.start + item.count;
    const int64_t full = seq->num_computed / bs;
    for (int64_t b = static_cast<int64_t>(seq->block_keys.size()); b < full; ++b) {
      const uint64_t parent = b == 0 ? 0 : seq->block_keys[b - 1];
      std::span<const int32_t> toks(seq->tokens.data() + b * bs, bs);
      const uint64_t key = BlockManager::BlockKey(parent, toks);
      blocks_->Register(seq->blocks[b], key, parent, toks);
      seq->block_keys.push_back(key);
    }
  }
}

}  // namespace mies::engine
