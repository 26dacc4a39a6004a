#include "engine/engine.h"

#include <algorithm>
#include <random>

#include "common/logging.h"
#include "engine/sampler.h"
#include "grammar/matcher.h"
#include "tokenizer/incremental_detokenizer.h"

namespace mies::engine {

using Clock = std::chrono::steady_clock;

namespace {
// A constrained request's text must be exactly the bytes its grammar accepted, so the
// tokenization clean-up (" ." -> ".") is off for it.
tokenizer::DecodeOptions DetokOptions(const ResolvedRequest& req) {
  tokenizer::DecodeOptions o;
  o.skip_special_tokens = req.skip_special_tokens;
  if (req.constraint) o.clean_up_tokenization_spaces = false;
  return o;
}
}  // namespace

struct Engine::SeqState {
  std::unique_ptr<Sequence> seq;
  int index = 0;  // sample index within best_of
  std::mt19937_64 rng;
  PenaltyState penalties;
  std::unique_ptr<tokenizer::IncrementalDetokenizer> detok;
  std::string text;          // output text so far (stop string removed once hit)
  size_t emitted = 0;        // bytes of `text` already sent (streaming)
  size_t stop_scanned = 0;   // bytes of `text` already searched for stop strings
  std::vector<int32_t> ids;  // generated ids not yet sent (all of them when not streaming)
  std::vector<TokenLogprob> logprobs;  // likewise
  double cumulative_logprob = 0;
  int64_t generated = 0;
  FinishReason finish = FinishReason::kNone;
  std::optional<std::string> stop_reason;
  bool finish_sent = false;
  std::optional<grammar::Matcher> matcher;  // structured output: this sequence's grammar state
};

struct Engine::Group {
  std::string id;
  ResolvedRequest req;
  OutputSink sink;
  Clock::time_point queued;
  std::vector<std::unique_ptr<SeqState>> seqs;
  std::vector<TokenLogprob> prompt_logprobs;
  bool prompt_logprobs_sent = false;
  bool first_token_seen = false;
  double first_token_s = 0;
  size_t max_stop_len = 0;
  bool touched = false;
  bool started = false;      // scheduled at least once (in flight)
  bool id_released = false;  // request_id free for reuse (before the final output)
  Status error;              // set when the request failed on its own (grammar dead end)
};

EngineOptions EngineOptionsFromConfig(const config::Config& config) {
  const config::ScheduleConfig& sc = config.backend.schedule;
  const config::ModelDeployConfig& md = config.backend.model_deploy;
  EngineOptions o;
  o.scheduler.max_batch_size = sc.max_batch_size;
  o.scheduler.max_prefill_batch_size =
      sc.max_prefill_batch_size > 0 ? sc.max_prefill_batch_size : sc.max_batch_size;
  o.scheduler.max_prefill_tokens = sc.max_prefill_tokens;
  o.scheduler.chunk_size = sc.prefill_chunk_size;
  o.scheduler.support_select_batch = sc.support_select_batch;
  o.scheduler.prefill_time_ms_per_req = sc.prefill_time_ms_per_req;
  o.scheduler.decode_time_ms_per_req = sc.decode_time_ms_per_req;
  o.max_queue_delay_us = sc.max_queue_delay_us;
  o.limits.max_seq_len = md.max_seq_len;
  o.limits.max_input_tokens = md.EffectiveMaxInputTokens();
  o.limits.truncation = md.truncation;
  o.limits.max_iter_times = sc.max_iter_times;
  o.limits.max_n = sc.max_n;
  o.limits.max_batch_size = sc.max_batch_size;
  return o;
}

StatusOr<ServingEngine> EngineFromConfig(const config::Config& config,
                                         std::unique_ptr<Executor> executor) {
  const std::string dir = config.ModelWeightPath();
  MIES_ASSIGN_OR_RETURN(model::HfConfig hf, model::LoadHfConfig(dir));
  MIES_ASSIGN_OR_RETURN(model::GenerationDefaults defaults, model::LoadGenerationDefaults(dir, hf));
  MIES_ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tok, tokenizer::Tokenizer::Load(dir));
  ServingEngine out;
  out.tokenizer = std::shared_ptr<const tokenizer::Tokenizer>(std::move(tok));
  MIES_ASSIGN_OR_RETURN(out.engine,
                        Engine::Create(EngineOptionsFromConfig(config), std::move(executor),
                                       out.tokenizer, std::move(defaults), hf.vocab_size));
  return out;
}

StatusOr<std::unique_ptr<Engine>> Engine::Create(
    EngineOptions options, std::unique_ptr<Executor> executor,
    std::shared_ptr<const tokenizer::Tokenizer> tokenizer, model::GenerationDefaults defaults,
    int64_t vocab_size) {
  if (!executor) return InvalidArgument("engine: no executor");
  if (!tokenizer) return InvalidArgument("engine: no tokenizer");
  if (vocab_size <= 0) return InvalidArgument("engine: vocab_size must be > 0, got ", vocab_size);
  if (executor->num_kv_blocks() <= 0 || executor->block_size() <= 0) {
    return InvalidArgument("engine: the executor has ", executor->num_kv_blocks(), " KV blocks of ",
                           executor->block_size(), " tokens");
  }
  const SchedulerOptions& s = options.scheduler;
  if (s.max_batch_size < 1 || s.max_prefill_batch_size < 1 || s.max_prefill_tokens < 1) {
    return InvalidArgument(
        "engine: maxBatchSize, maxPrefillBatchSize and maxPrefillTokens must "
        "be >= 1, got ",
        s.max_batch_size, ", ", s.max_prefill_batch_size, ", ", s.max_prefill_tokens);
  }
  options.limits.vocab_size = vocab_size;
  options.limits.pool_tokens = executor->num_kv_blocks() * executor->block_size();
  if (defaults.top_k && *defaults.top_k > 0) options.limits.top_k_cap = *defaults.top_k;
  return std::unique_ptr<Engine>(
      new Engine(options, std::move(executor), std::move(tokenizer), std::move(defaults)));
}

Engine::Engine(EngineOptions options, std::unique_ptr<Executor> executor,
               std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
               model::GenerationDefaults defaults)
    : options_(options),
      executor_(std::move(executor)),
      tokenizer_(std::move(tokenizer)),
      defaults_(std::move(defaults)),
      blocks_(executor_->num_kv_blocks(), executor_->block_size(), options_.enable_prefix_cache),
      scheduler_(options_.scheduler, &blocks_) {
  for (int64_t id : defaults_.eos_token_ids) eos_ids_.push_back(static_cast<int32_t>(id));
  for (int id : tokenizer_->eos_ids()) eos_ids_.push_back(id);
  std::sort(eos_ids_.begin(), eos_ids_.end());
  eos_ids_.erase(std::unique(eos_ids_.begin(), eos_ids_.end()), eos_ids_.end());
  PublishStats();
  thread_ = std::thread([this] { Loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::unique_ptr<Executor> Engine::Release(std::unique_ptr<Engine> engine) {
  {
    std::lock_guard lock(engine->mu_);
    engine->stop_ = true;
  }
  engine->cv_.notify_all();
  engine->thread_.join();
  std::unique_ptr<Executor> executor = std::move(engine->executor_);
  engine.reset();  // the destructor sees the loop already joined
  return executor;
}

bool Engine::IsEos(int32_t token) const {
  return std::binary_search(eos_ids_.begin(), eos_ids_.end(), token);
}

Status Engine::Submit(GenerateRequest request, OutputSink sink) {
  if (!sink) return InvalidArgument("request ", request.request_id, ": no output sink");
  const uint64_t random_seed = std::random_device{}() * 0x100000000ull ^ std::random_device{}();
  MIES_ASSIGN_OR_RETURN(ResolvedRequest resolved,
                        ResolveRequest(request, defaults_, options_.limits, random_seed));
  auto g = std::make_unique<Group>();
  g->id = request.request_id;
  g->req = std::move(resolved);
  g->sink = std::move(sink);
  g->queued = Clock::now();
  for (const std::string& s : g->req.stop) g->max_stop_len = std::max(g->max_stop_len, s.size());
  {
    std::lock_guard lock(mu_);
    if (stop_) return Unavailable("engine is shutting down");
    if (!live_ids_.insert(g->id).second) {
      return InvalidArgument("request_id '", g->id, "' is already in use by a live request");
    }
    inbox_.push_back(std::move(g));
    idle_ = false;
  }
  cv_.notify_all();
  return OkStatus();
}

void Engine::Cancel(const std::string& request_id) {
  {
    std::lock_guard lock(mu_);
    if (!live_ids_.contains(request_id)) return;
    cancels_.push_back(request_id);
  }
  cv_.notify_all();
}

EngineStats Engine::Stats() const {
  // Asked outside mu_: the cluster executor takes its own lock to answer.
  std::vector<std::string> abnormal = executor_->AbnormalNodes();
  std::lock_guard lock(mu_);
  EngineStats s = stats_;
  s.abnormal_nodes = std::move(abnormal);
  s.waiting += static_cast<int64_t>(inbox_.size());
  if (!executor_->healthy()) {
    s.healthy = false;
    s.unhealthy_reason = "executor unavailable (a rank is gone)";
  }
  return s;
}

EngineCounters Engine::Counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

bool Engine::WaitIdle(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [&] { return idle_ && inbox_.empty(); });
}

void Engine::PublishStats() {
  std::lock_guard lock(mu_);
  stats_.running = scheduler_.num_running();
  stats_.waiting = scheduler_.num_waiting();
  stats_.kv_blocks_total = blocks_.num_blocks();
  stats_.kv_blocks_used = blocks_.num_used();
  stats_.block_size = blocks_.block_size();
}

void Engine::Admit(std::unique_ptr<Group> g) {
  auto s = std::make_unique<SeqState>();
  s->seq = std::make_unique<Sequence>();
  Sequence& seq = *s->seq;
  seq.id = next_seq_id_++;
  seq.arrival = (next_arrival_++) << 16;
  seq.tokens = g->req.prompt;
  seq.prompt_len = static_cast<int64_t>(seq.tokens.size());
  seq.fork_width = g->req.sampling.best_of;
  seq.prompt_logprobs_pending = g->req.sampling.prompt_logprobs >= 0;
  s->rng = SequenceRng(g->req.sampling.seed, 0);
  if (g->req.sampling.repetition_penalty != 1.0) {
    s->penalties.prompt_ids.insert(seq.tokens.begin(), seq.tokens.end());
  }
  s->detok = std::make_unique<tokenizer::IncrementalDetokenizer>(*tokenizer_, DetokOptions(g->req));
  if (g->req.constraint) {
    // EOS and the request's stop ids end a constrained text once its grammar is complete.
    std::vector<int32_t> ends = eos_ids_;
    ends.insert(ends.end(), g->req.stop_token_ids.begin(), g->req.stop_token_ids.end());
    s->matcher.emplace(g->req.constraint, std::move(ends));
  }
  scheduler_.AddWaiting(&seq);
  g->seqs.push_back(std::move(s));
  {
    std::lock_guard lock(mu_);
    stats_.prompt_tokens_total += seq.prompt_len;
  }
  std::string id = g->id;
  groups_.emplace(std::move(id), std::move(g));
}

void Engine::ReleaseId(Group& g) {
  if (g.id_released) return;
  g.id_released = true;
  std::lock_guard lock(mu_);
  live_ids_.erase(g.id);
}

void Engine::EndGroup(Group& g) {
  for (auto& s : g.seqs) scheduler_.Remove(s->seq.get());
  ReleaseId(g);
  const std::string id = g.id;
  touched_.erase(std::remove(touched_.begin(), touched_.end(), &g), touched_.end());
  groups_.erase(id);
}

void Engine::CancelGroup(const std::string& id) {
  auto it = groups_.find(id);
  if (it == groups_.end()) return;
  Group& g = *it->second;
  for (auto& s : g.seqs) {
    if (s->finish == FinishReason::kNone) {
      s->finish = FinishReason::kCancelled;
      if (g.req.stream) {
        s->ids.clear();  // nothing but the final marker after a cancel
        s->logprobs.clear();
        s->emitted = s->text.size();
      }
    }
  }
  Emit(g);
  EndGroup(g);
}

void Engine::FailInFlight(const Status& status) {
  std::vector<std::string> ids;
  for (auto& [id, g] : groups_) {
    if (g->started) ids.push_back(id);
  }
  for (const std::string& id : ids) FailGroup(*groups_[id], status);
}

void Engine::FailGroup(Group& g, const Status& status) {
  MIES_LOG_WARN("request {} failed: {}", g.id, status.ToString());
  RequestOutput out;
  out.request_id = g.id;
  out.finished = true;
  out.error = status;
  for (auto& s : g.seqs) {
    SequenceEvent ev;
    ev.index = s->index;
    ev.finish = FinishReason::kError;
    out.events.push_back(std::move(ev));
  }
  out.usage.prompt_tokens = static_cast<int64_t>(g.req.prompt.size());
  ReleaseId(g);  // a client may reuse the id as soon as it sees the final output
  g.sink(std::move(out));
  EndGroup(g);
}

void Engine::Loop() {
  while (true) {
    std::deque<std::unique_ptr<Group>> inbox;
    std::vector<std::string> cancels;
    {
      std::unique_lock lock(mu_);
      if (!scheduler_.has_work() && inbox_.empty() && cancels_.empty()) {
        idle_ = true;
        idle_cv_.notify_all();
      }
      cv_.wait(lock, [&] {
        return stop_ || !inbox_.empty() || !cancels_.empty() || scheduler_.has_work();
      });
      if (stop_) break;
      inbox.swap(inbox_);
      cancels.swap(cancels_);
    }
    for (auto& g : inbox) Admit(std::move(g));
    for (const std::string& id : cancels) CancelGroup(id);
    if (!scheduler_.has_work()) {
      PublishStats();
      continue;
    }

    // maxQueueDelayMicroseconds: with nothing running, wait a little for more requests so the
    // first prefill batch is fuller, unless the batch is already full.
    if (scheduler_.num_running() == 0 && options_.max_queue_delay_us > 0 &&
        scheduler_.num_waiting() < options_.scheduler.max_prefill_batch_size &&
        scheduler_.waiting_tokens() < options_.scheduler.max_prefill_tokens) {
      Clock::time_point oldest = Clock::time_point::max();
      for (auto& [id, g] : groups_) {
        if (!g->started) oldest = std::min(oldest, g->queued);
      }
      const auto deadline = oldest + std::chrono::microseconds(options_.max_queue_delay_us);
      if (oldest != Clock::time_point::max() && Clock::now() < deadline) {
        std::unique_lock lock(mu_);
        cv_.wait_until(lock, deadline,
                       [&] { return stop_ || !inbox_.empty() || !cancels_.empty(); });
        continue;  // re-evaluate with whatever arrived
      }
    }

    const auto t0 = Clock::now();
    ScheduleOutput step = scheduler_.Schedule();
    if (step.empty()) {
      // Nothing fits right now (should not happen: validation keeps every request within the
      // pool); avoid spinning.
      MIES_LOG_WARN("engine: empty step with {} waiting and {} running", scheduler_.num_waiting(),
                    scheduler_.num_running());
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(10));
      continue;
    }
    for (auto& [id, g] : groups_) {
      if (!g->started) {
        for (auto& s : g->seqs) {
          if (s->seq->running) g->started = true;
        }
      }
    }
    const auto t1 = Clock::now();
    StatusOr<StepResult> result = executor_->Execute(step.plan);
    const auto t2 = Clock::now();
    if (result.ok()) {
      const StepResult& r = *result;
      bool shape_ok = r.first_row.size() == step.items.size() &&
                      r.num_rows.size() == step.items.size() &&
                      r.vocab == options_.limits.vocab_size;
      for (size_t i = 0; shape_ok && i < step.items.size(); ++i) {
        const StepSequence& ss = step.plan.sequences[i];
        const int64_t want = ss.logit_rows();
        if (r.num_rows[i] != want ||
            (want > 0 && (r.first_row[i] < 0 || (r.first_row[i] + want) * r.vocab >
                                                    static_cast<int64_t>(r.logits.size())))) {
          shape_ok = false;
        }
      }
      if (!shape_ok) {
        result = Internal("executor returned logits that do not match the step plan (vocab ",
                          r.vocab, ", expected ", options_.limits.vocab_size, ")");
      }
    }
    if (!result.ok()) {
      FailInFlight(result.status());
      PublishStats();
      continue;
    }
    scheduler_.Complete(step);
    ProcessResult(step, *result);
    // Sequences that finished in this step leave the batch at once; the others of an n > 1
    // request go on (a finished one must not be sampled again: its grammar has ended).
    for (Group* g : touched_) {
      for (auto& s : g->seqs) {
        if (s->finish != FinishReason::kNone) scheduler_.Remove(s->seq.get());
      }
    }
    // Requests that failed on their own in this step (a grammar dead end).
    std::vector<std::string> failed;
    for (auto& [id, g] : groups_) {
      if (!g->error.ok()) failed.push_back(id);
    }
    for (const std::string& id : failed) {
      Group& g = *groups_[id];
      FailGroup(g, g.error);
    }
    for (Group* g : std::vector<Group*>(touched_)) Emit(*g);
    touched_.clear();
    // Groups whose sequences all finished.
    std::vector<std::string> done;
    for (auto& [id, g] : groups_) {
      bool all = !g->seqs.empty();
      for (auto& s : g->seqs) all = all && s->finish_sent;
      if (all) done.push_back(id);
    }
    for (const std::string& id : done) EndGroup(*groups_[id]);
    const auto t3 = Clock::now();
    PublishStats();
    std::lock_guard lock(mu_);
    counters_.steps += 1;
    counters_.prefill_tokens += step.prefill_tokens;
    counters_.decode_tokens += step.decode_tokens;
    counters_.preemptions += step.preempted;
    counters_.forward_seconds += std::chrono::duration<double>(t2 - t1).count();
    counters_.grammar_mask_seconds = grammar_mask_seconds_;
    counters_.step_seconds += std::chrono::duration<double>(t3 - t0).count();
    stats_.preemptions_total += step.preempted;
    stats_.prefix_cache_queries += step.prefix_queries;
    stats_.prefix_cache_hits += step.prefix_hits;
  }
  // Shutting down: whatever is left ends with Unavailable.
  std::deque<std::unique_ptr<Group>> left;
  {
    std::lock_guard lock(mu_);
    left.swap(inbox_);
  }
  for (auto& g : left) Admit(std::move(g));
  for (auto& [id, g] : groups_) g->started = true;
  FailInFlight(Unavailable("engine is shutting down"));
}

void Engine::ProcessResult(const ScheduleOutput& step, const StepResult& r) {
  std::unordered_map<const Sequence*, std::pair<Group*, SeqState*>> owner;
  for (auto& [id, g] : groups_) {
    for (auto& s : g->seqs) owner[s->seq.get()] = {g.get(), s.get()};
  }
  for (size_t i = 0; i < step.items.size(); ++i) {
    const ScheduledSequence& item = step.items[i];
    auto [g, s] = owner.at(item.seq);
    Sequence& seq = *item.seq;
    if (item.all_logits) {
      // Row j scores the token at position start + j + 1.
      for (int64_t j = 0; j < item.count; ++j) {
        const int64_t p = item.start + j;
        if (p + 1 >= seq.prompt_len) break;
        if (p != static_cast<int64_t>(g->prompt_logprobs.size())) continue;  // already scored
        const float* row = r.logits.data() + (r.first_row[i] + j) * r.vocab;
        g->prompt_logprobs.push_back(RawLogprobs({row, static_cast<size_t>(r.vocab)},
                                                 seq.tokens[p + 1],
                                                 g->req.sampling.prompt_logprobs));
      }
    }
    if (!item.sample) continue;
    seq.prompt_logprobs_pending = false;
    const float* row = r.logits.data() + (r.first_row[i] + r.num_rows[i] - 1) * r.vocab;
    if (!g->error.ok() || s->finish != FinishReason::kNone) continue;
    if (seq.fork_width > 1) {
      // First token of an n / best_of request: the other sequences start here, sharing the
      // prompt's blocks, each with its own RNG.
      const int width = seq.fork_width;
      seq.fork_width = 1;
      for (int k = 1; k < width; ++k) {
        auto c = std::make_unique<SeqState>();
        c->seq = std::make_unique<Sequence>();
        c->seq->id = next_seq_id_++;
        c->seq->arrival = seq.arrival + static_cast<uint64_t>(k);
        c->index = k;
        c->rng = SequenceRng(g->req.sampling.seed, k);
        c->penalties = s->penalties;
        c->matcher = s->matcher;  // still at the start: nothing was sampled yet
        c->detok =
            std::make_unique<tokenizer::IncrementalDetokenizer>(*tokenizer_, DetokOptions(g->req));
        scheduler_.Fork(seq, c->seq.get());
        g->seqs.push_back(std::move(c));
      }
      for (int k = 1; k < width; ++k) SampleInto(*g, *g->seqs[g->seqs.size() - width + k], row);
    }
    SampleInto(*g, *s, row);
  }
}

void Engine::SampleInto(Group& g, SeqState& s, const float* row) {
  if (!g.error.ok()) return;
  std::vector<int32_t> masked;
  const bool before_min = s.generated < g.req.min_tokens;
  if (before_min) masked = g.req.stop_token_ids;
  // EOS is masked before min_tokens (unless ignored anyway); under a grammar, where choosing it
  // would end the text, also with ignore_eos: the text then ends at the grammar's own end.
  if (s.matcher ? before_min || g.req.ignore_eos : before_min && !g.req.ignore_eos) {
    masked.insert(masked.end(), eos_ids_.begin(), eos_ids_.end());
  }
  const int64_t vocab = options_.limits.vocab_size;
  std::span<const uint64_t> allowed;
  if (s.matcher) {
    grammar_mask_.resize(grammar::Matcher::BitmaskWords(vocab));
    const auto t0 = Clock::now();
    const int64_t count = s.matcher->FillNextTokenBitmask(grammar_mask_);
    grammar_mask_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
    if (count == 0) {
      g.error = Internal("request ", g.id, ": the ", s.matcher->grammar().kind(),
                         " constraint reached a dead end after ", s.generated,
                         " tokens (no token of the vocabulary continues the text)");
      return;
    }
    // The masks above yield to the grammar when ending is all it allows.
    std::sort(masked.begin(), masked.end());
    masked.erase(std::unique(masked.begin(), masked.end()), masked.end());
    int64_t masked_allowed = 0;
    for (int32_t id : masked) {
      if (id >= 0 && id < vocab && grammar::Matcher::IsSet(grammar_mask_, id)) ++masked_allowed;
    }
    if (masked_allowed == count) masked.clear();
    allowed = grammar_mask_;
  }
  SampleResult res = Sample(g.req.sampling, {row, static_cast<size_t>(vocab)}, s.penalties, masked,
                            g.req.sampling.logprobs, s.rng, scratch_, allowed);
  AppendToken(g, s, res.token, res.logprob, std::move(res.top));
}

void Engine::AppendToken(Group& g, SeqState& s, int32_t token, float logprob,
                         std::vector<TopLogprob> top) {
  s.seq->tokens.push_back(token);
  ++s.generated;
  ++s.penalties.generated[token];
  s.cumulative_logprob += logprob;
  s.ids.push_back(token);
  if (g.req.sampling.logprobs >= 0) s.logprobs.push_back({token, logprob, std::move(top)});
  if (!g.first_token_seen) {
    g.first_token_seen = true;
    g.first_token_s = std::chrono::duration<double>(Clock::now() - g.queued).count();
  }
  {
    std::lock_guard lock(mu_);
    stats_.generation_tokens_total += 1;
  }
  if (!g.touched) {
    g.touched = true;
    touched_.push_back(&g);
  }
  bool grammar_end = false;  // an end token the grammar accepted (it was complete)
  if (s.matcher) {
    const Status st = s.matcher->Accept(token);
    if (!st.ok()) {
      g.error = Internal("request ", g.id, ": ", st.message());
      return;
    }
    grammar_end = s.matcher->ended();
  }
  const bool can_stop = s.generated >= g.req.min_tokens;
  const bool eos = !g.req.ignore_eos && IsEos(token);
  const bool stop_id = std::find(g.req.stop_token_ids.begin(), g.req.stop_token_ids.end(), token) !=
                       g.req.stop_token_ids.end();
  if (grammar_end || (can_stop && (eos || stop_id))) {
    // Stop ids end the sequence and count as output tokens, but add no text.
    Finish(g, s, FinishReason::kStop,
           stop_id ? std::optional<std::string>(std::to_string(token)) : std::nullopt);
    return;
  }
  s.text += s.detok->Feed(token);
  if (!can_stop) {
    s.stop_scanned = s.text.size();  // stop strings before min_tokens do not count
  } else if (CheckStopStrings(g, s)) {
    return;
  }
  if (s.matcher && s.matcher->IsTerminated()) {
    // Nothing but an end token could follow: the grammar's own end, one step early.
    Finish(g, s, FinishReason::kStop, std::nullopt);
    return;
  }
  if (s.generated >= g.req.max_tokens) Finish(g, s, FinishReason::kLength, std::nullopt);
}

bool Engine::CheckStopStrings(Group& g, SeqState& s) {
  if (g.req.stop.empty()) return false;
  // Only text that could still hold a new match: the unscanned part plus the stop length - 1
  // bytes before it, and never text already sent (streaming holds back any possible stop
  // prefix, so no match can start there).
  size_t from = s.stop_scanned >= g.max_stop_len ? s.stop_scanned - (g.max_stop_len - 1) : 0;
  from = std::max(from, s.emitted);
  size_t best = std::string::npos;
  const std::string* which = nullptr;
  for (const std::string& stop : g.req.stop) {
    const size_t pos = s.text.find(stop, from);
    if (pos < best) {
      best = pos;
      which = &stop;
    }
  }
  s.stop_scanned = s.text.size();
  if (which == nullptr) return false;
  s.text.resize(best + (g.req.include_stop_str_in_output ? which->size() : 0));
  s.finish = FinishReason::kStop;
  s.stop_reason = *which;
  return true;
}

void Engine::Finish(Group& g, SeqState& s, FinishReason reason, std::optional<std::string> why) {
  s.finish = reason;
  s.stop_reason = std::move(why);
  // Flush text the detokenizer held back; it may itself complete a stop string.
  s.text += s.detok->Finish();
  if (g.req.min_tokens <= s.generated) CheckStopStrings(g, s);
}

void Engine::Emit(Group& g) {
  g.touched = false;
  bool all_finished = true;
  for (auto& s : g.seqs) all_finished = all_finished && s->finish != FinishReason::kNone;
  if (!g.req.stream && !all_finished) return;

  RequestOutput out;
  out.request_id = g.id;
  out.first_token_s = g.first_token_s;
  if (!g.prompt_logprobs_sent && g.req.sampling.prompt_logprobs >= 0 &&
      static_cast<int64_t>(g.prompt_logprobs.size()) + 1 >= g.seqs[0]->seq->prompt_len) {
    out.prompt_logprobs = std::move(g.prompt_logprobs);
    g.prompt_logprobs_sent = true;
  }
  // Which sequences are returned: all n, or the n best of best_of (by cumulative logprob).
  std::vector<SeqState*> chosen;
  for (auto& s : g.seqs) chosen.push_back(s.get());
  std::sort(chosen.begin(), chosen.end(),
            [](const SeqState* a, const SeqState* b) { return a->index < b->index; });
  if (!g.req.stream && static_cast<int>(chosen.size()) > g.req.sampling.n) {
    std::stable_sort(chosen.begin(), chosen.end(), [](const SeqState* a, const SeqState* b) {
      return a->cumulative_logprob > b->cumulative_logprob;
    });
    chosen.resize(g.req.sampling.n);
  }
  int out_index = 0;
  for (SeqState* s : chosen) {
    const int index = g.req.stream ? s->index : out_index++;
    if (s->finish_sent) continue;
    size_t end = s->text.size();
    if (s->finish == FinishReason::kNone && !g.req.stop.empty()) {
      // Hold back a tail that could still grow into a stop string.
      const size_t max_hold =
          std::min(g.max_stop_len - 1, s->text.size() - std::min(s->emitted, s->text.size()));
      for (size_t k = max_hold; k > 0; --k) {
        const std::string_view tail(s->text.data() + s->text.size() - k, k);
        bool prefix = false;
        for (const std::string& stop : g.req.stop) prefix = prefix || stop.starts_with(tail);
        if (prefix) {
          end = s->text.size() - k;
          break;
        }
      }
    }
    SequenceEvent ev;
    ev.index = index;
    if (end > s->emitted) ev.text_delta = s->text.substr(s->emitted, end - s->emitted);
    s->emitted = std::max(s->emitted, end);
    ev.new_token_ids = std::move(s->ids);
    s->ids.clear();
    ev.logprobs = std::move(s->logprobs);
    s->logprobs.clear();
    ev.finish = s->finish;
    ev.stop_reason = s->stop_reason;
    if (s->finish != FinishReason::kNone) s->finish_sent = true;
    if (ev.new_token_ids.empty() && ev.text_delta.empty() && ev.finish == FinishReason::kNone) {
      continue;
    }
    out.events.push_back(std::move(ev));
  }
  if (!g.req.stream) {
    for (auto& s : g.seqs) s->finish_sent = true;  // the unchosen ones end silently
  }
  out.finished = all_finished;
  if (out.finished) {
    out.usage.prompt_tokens = static_cast<int64_t>(g.req.prompt.size());
    for (SeqState* s : chosen) out.usage.completion_tokens += s->generated;
    out.usage.cached_prompt_tokens = g.seqs[0]->seq->cached_tokens;
  }
  if (out.events.empty() && !out.finished && out.prompt_logprobs.empty()) return;
  if (out.finished) ReleaseId(g);  // a client may reuse the id as soon as it sees this
  g.sink(std::move(out));
}

}  // namespace mies::engine
