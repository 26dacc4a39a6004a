// The serving engine: queues requests, runs the continuous-batching loop on its own thread
// (schedule a step, execute it, sample, check stops, detokenize, emit outputs), and answers
// Submit/Cancel/Stats from any thread.
//
// Output contract (see request.h): a streaming request gets an output per step in which it
// produced text or finished; a non-streaming one gets a single output at the end holding all
// tokens, text and logprobs of its n sequences (the n best of best_of by cumulative logprob).
// Prompt logprobs (when asked) come in the first output: one entry per prompt token from the
// second on (the first token has no context to be scored in).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "engine/block_manager.h"
#include "engine/request.h"
#include "engine/request_validation.h"
#include "engine/scheduler.h"
#include "engine/step_plan.h"
#include "model/hf_config.h"
#include "tokenizer/tokenizer.h"

namespace mies::engine {

struct EngineOptions {
  SchedulerOptions scheduler;
  RequestLimits limits;  // vocab_size and pool_tokens are filled in by Create
  int64_t max_queue_delay_us = 5000;
  bool enable_prefix_cache = true;
};

// ScheduleConfig / ModelDeployConfig -> engine options (field by field in README.md).
EngineOptions EngineOptionsFromConfig(const config::Config& config);

// Figures for benchmarks and tests (monotonic since start).
struct EngineCounters {
  int64_t steps = 0;
  int64_t prefill_tokens = 0;  // tokens computed in prefill chunks (cache hits excluded)
  int64_t decode_tokens = 0;
  int64_t preemptions = 0;
  double step_seconds = 0;          // whole iterations that ran a step
  double forward_seconds = 0;       // inside Executor::Execute
  double grammar_mask_seconds = 0;  // computing structured-output token masks
};

class Engine;

// The engine serving config.json's model, with the tokenizer it decodes with: the tokenizer and
// generation_config.json defaults are read from modelWeightPath; `executor` runs the steps (in
// this process or on every rank of a cluster).
struct ServingEngine {
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<Engine> engine;
};
StatusOr<ServingEngine> EngineFromConfig(const config::Config& config,
                                         std::unique_ptr<Executor> executor);

class Engine final : public EngineInterface {
 public:
  static StatusOr<std::unique_ptr<Engine>> Create(
      EngineOptions options, std::unique_ptr<Executor> executor,
      std::shared_ptr<const tokenizer::Tokenizer> tokenizer, model::GenerationDefaults defaults,
      int64_t vocab_size);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  Status Submit(GenerateRequest request, OutputSink sink) override;
  void Cancel(const std::string& request_id) override;
  EngineStats Stats() const override;

  // Stops the loop and hands back the executor (a benchmark runs several engines over one
  // loaded model). Requests still running get no further output.
  static std::unique_ptr<Executor> Release(std::unique_ptr<Engine> engine);

  EngineCounters Counters() const;
  // Blocks until no request is queued or running (tests, benchmarks). False on timeout.
  bool WaitIdle(std::chrono::milliseconds timeout) const;
  const EngineOptions& options() const { return options_; }

 private:
  struct SeqState;
  struct Group;

  Engine(EngineOptions options, std::unique_ptr<Executor> executor,
         std::shared_ptr<const tokenizer::Tokenizer> tokenizer, model::GenerationDefaults defaults);
  void Loop();
  void Admit(std::unique_ptr<Group> group);
  void CancelGroup(const std::string& id);
  void FailInFlight(const Status& status);
  void FailGroup(Group& group, const Status& status);
  void EndGroup(Group& group);
  void ReleaseId(Group& group);
  void ProcessResult(const ScheduleOutput& step, const StepResult& result);
  void SampleInto(Group& g, SeqState& s, const float* row);
  void AppendToken(Group& g, SeqState& s, int32_t token, float logprob,
                   std::vector<TopLogprob> top);
  void Finish(Group& g, SeqState& s, FinishReason reason, std::optional<std::string> why);
  bool CheckStopStrings(Group& g, SeqState& s);
  void Emit(Group& g);
  void PublishStats();
  bool IsEos(int32_t token) const;

  const EngineOptions options_;
  std::unique_ptr<Executor> executor_;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
  const model::GenerationDefaults defaults_;
  std::vector<int32_t> eos_ids_;
  BlockManager blocks_;
  Scheduler scheduler_;

  // Loop-thread state.
  std::unordered_map<std::string, std::unique_ptr<Group>> groups_;
  uint64_t next_seq_id_ = 1;
  uint64_t next_arrival_ = 0;
  std::vector<float> scratch_;
  std::vector<uint64_t> grammar_mask_;
  double grammar_mask_seconds_ = 0;
  std::vector<Group*> touched_;

  // Shared with Submit/Cancel/Stats.
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;       // work arrived / stop
  mutable std::condition_variable idle_cv_;  // the engine went idle
  std::deque<std::unique_ptr<Group>> inbox_;
  std::vector<std::string> cancels_;
  std::set<std::string> live_ids_;
  bool stop_ = false;
  bool idle_ = true;
  EngineStats stats_;
  EngineCounters counters_;
  std::thread thread_;
};

}  // namespace mies::engine
