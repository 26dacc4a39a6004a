// Helpers shared by the engine tests: a stories260K engine, scripted and gated executors, and
// an output collector.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "executor/local_executor.h"
#include "model/llama_model.h"
#include "runner/model_runner.h"
#include "tokenizer/tokenizer.h"

namespace mies::engine::testing {

inline std::string Stories260KDir() { return std::string(MIES_SHARED_DIR) + "/models/stories260K"; }
inline bool HaveStories() { return std::filesystem::exists(Stories260KDir() + "/config.json"); }

// A copy of stories260K with the file modes MindIE's model-file rule wants (the shared copy is
// 0444), made once per test binary.
inline const std::string& ModelCopy() {
  static const std::string dir = [] {
    namespace fs = std::filesystem;
    const fs::path d =
        fs::temp_directory_path() / ("mies_engine_model_" + std::to_string(::getpid()));
    fs::create_directories(d);
    fs::permissions(d, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
    for (const auto& e : fs::directory_iterator(Stories260KDir())) {
      const fs::path to = d / e.path().filename();
      fs::copy_file(e.path(), to, fs::copy_options::overwrite_existing);
      fs::permissions(to, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    }
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(
          fs::temp_directory_path() / ("mies_engine_model_" + std::to_string(::getpid())), ec);
    });
    return d.string();
  }();
  return dir;
}

inline std::shared_ptr<const tokenizer::Tokenizer> StoriesTokenizer() {
  static std::shared_ptr<const tokenizer::Tokenizer> tok = [] {
    auto t = tokenizer::Tokenizer::Load(ModelCopy());
    EXPECT_TRUE(t.ok()) << t.status();
    return std::shared_ptr<const tokenizer::Tokenizer>(std::move(t).value());
  }();
  return tok;
}

inline std::unique_ptr<model::LlamaModel> LoadStories() {
  static model::IdentityCollective identity;
  model::ModelOptions mo;
  mo.num_threads = 1;
  auto m = model::LlamaModel::Load(ModelCopy(), mo, &identity);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(m).value() : nullptr;
}

// stories260K on a local executor with a KV pool of num_blocks x block_size tokens.
inline std::unique_ptr<Executor> StoriesExecutor(int64_t num_blocks, int64_t block_size) {
  auto runner = runner::ModelRunner::Create(LoadStories(), num_blocks, block_size);
  EXPECT_TRUE(runner.ok()) << runner.status();
  if (!runner.ok()) return nullptr;
  return std::make_unique<executor::LocalExecutor>(std::move(runner).value());
}

inline model::GenerationDefaults StoriesDefaults() {
  model::GenerationDefaults d;
  d.eos_token_ids = {2};
  return d;
}
inline tokenizer::DecodeOptions SkipSpecial() {
  tokenizer::DecodeOptions o;
  o.skip_special_tokens = true;
  return o;
}

// Options for small tests: no queue delay, roomy limits.
inline EngineOptions TestOptions() {
  EngineOptions o;
  o.max_queue_delay_us = 0;
  o.scheduler.max_batch_size = 64;
  o.scheduler.max_prefill_batch_size = 64;
  o.scheduler.max_prefill_tokens = 4096;
  o.limits.max_seq_len = 512;
  o.limits.max_input_tokens = 511;
  o.limits.max_iter_times = 512;
  o.limits.max_n = 16;
  o.limits.max_batch_size = 64;
  return o;
}

// Wraps an executor: Execute can be gated (one step per Allow) or made to fail.
class ControlledExecutor final : public Executor {
 public:
  explicit ControlledExecutor(std::unique_ptr<Executor> inner) : inner_(std::move(inner)) {}
  StatusOr<StepResult> Execute(const StepPlan& plan) override {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !gated_ || allowed_ > 0; });  // NOLINT
      if (gated_) --allowed_;
      ++started_;
      plans_.push_back(plan);
      cv_.notify_all();
      if (fail_) return Unavailable("rank 1 is gone");
    }
    return inner_->Execute(plan);
  }
  int64_t num_kv_blocks() const override { return inner_->num_kv_blocks(); }
  int64_t block_size() const override { return inner_->block_size(); }
  bool healthy() const override {
    std::lock_guard lock(mu_);
    return !fail_;
  }
  // Turning the gate on forgets steps allowed before.
  void Gate(bool on) {
    std::lock_guard lock(mu_);
    gated_ = on;
    allowed_ = 0;
    cv_.notify_all();
  }
  void Allow(int steps) {
    std::lock_guard lock(mu_);
    allowed_ += steps;
    cv_.notify_all();
  }
  void Fail(bool on) {
    std::lock_guard lock(mu_);
    fail_ = on;
  }
  // Waits until `n` steps have entered Execute.
  bool WaitStarted(int64_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return started_ >= n; });
  }
  int64_t started() const {
    std::lock_guard lock(mu_);
    return started_;
  }
  std::vector<StepPlan> plans() const {
    std::lock_guard lock(mu_);
    return plans_;
  }

 private:
  std::unique_ptr<Executor> inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool gated_ = false;
  bool fail_ = false;
  int64_t allowed_ = 0;
  int64_t started_ = 0;
  std::vector<StepPlan> plans_;
};

// Logits chosen by a function of (position of the next token, last token): a model whose
// output the test fully controls.
class ScriptedExecutor final : public Executor {
 public:
  using Next = std::function<int32_t(int64_t next_pos, int32_t last_token)>;
  ScriptedExecutor(int64_t vocab, int64_t num_blocks, int64_t block_size, Next next)
      : vocab_(vocab), num_blocks_(num_blocks), block_size_(block_size), next_(std::move(next)) {}
  StatusOr<StepResult> Execute(const StepPlan& plan) override {
    StepResult r;
    r.vocab = vocab_;
    for (const StepSequence& s : plan.sequences) {
      const int64_t rows = s.logit_rows();
      r.first_row.push_back(rows ? static_cast<int64_t>(r.logits.size()) / vocab_ : -1);
      r.num_rows.push_back(rows);
      for (int64_t j = static_cast<int64_t>(s.tokens.size()) - rows;
           j < static_cast<int64_t>(s.tokens.size()); ++j) {
        std::vector<float> row(vocab_, 0.0f);
        row[next_(s.start_pos + j + 1, s.tokens[j])] = 30.0f;
        r.logits.insert(r.logits.end(), row.begin(), row.end());
      }
    }
    return r;
  }
  int64_t num_kv_blocks() const override { return num_blocks_; }
  int64_t block_size() const override { return block_size_; }

 private:
  int64_t vocab_, num_blocks_, block_size_;
  Next next_;
};

// Collects a request's outputs.
class Collector {
 public:
  OutputSink Sink() {
    return [this](RequestOutput out) {
      std::lock_guard lock(mu_);
      if (out.finished) done_ = true;
      outputs_.push_back(std::move(out));
      cv_.notify_all();
    };
  }
  bool Wait(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done_; });
  }
  std::vector<RequestOutput> outputs() const {
    std::lock_guard lock(mu_);
    return outputs_;
  }
  // Per sequence index: concatenated ids and text, last finish reason.
  struct Seq {
    std::vector<int32_t> ids;
    std::string text;
    std::vector<TokenLogprob> logprobs;
    FinishReason finish = FinishReason::kNone;
    std::optional<std::string> stop_reason;
  };
  std::map<int, Seq> Sequences() const {
    std::lock_guard lock(mu_);
    std::map<int, Seq> m;
    for (const RequestOutput& o : outputs_) {
      for (const SequenceEvent& e : o.events) {
        Seq& s = m[e.index];
        s.ids.insert(s.ids.end(), e.new_token_ids.begin(), e.new_token_ids.end());
        s.text += e.text_delta;
        s.logprobs.insert(s.logprobs.end(), e.logprobs.begin(), e.logprobs.end());
        if (e.finish != FinishReason::kNone) {
          s.finish = e.finish;
          s.stop_reason = e.stop_reason;
        }
      }
    }
    return m;
  }
  RequestOutput Last() const {
    std::lock_guard lock(mu_);
    return outputs_.back();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RequestOutput> outputs_;
  bool done_ = false;
};

inline GenerateRequest Greedy(std::string id, std::vector<int32_t> prompt, int64_t max_tokens) {
  GenerateRequest r;
  r.request_id = std::move(id);
  r.prompt_ids = std::move(prompt);
  r.sampling.temperature = 0.0;
  r.stop.max_tokens = max_tokens;
  r.stop.ignore_eos = true;
  return r;
}

// Deterministic pseudo-random ids in [lo, hi).
inline std::vector<int32_t> Ids(int n, uint32_t seed, int32_t lo = 3, int32_t hi = 512) {
  std::vector<int32_t> v;
  uint64_t x = seed * 2654435761u + 1;
  for (int i = 0; i < n; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    v.push_back(lo + static_cast<int32_t>((x >> 33) % static_cast<uint64_t>(hi - lo)));
  }
  return v;
}

}  // namespace mies::engine::testing
