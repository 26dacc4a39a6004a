// Request-level metrics the endpoint observes (counts, token counts, TTFT, inter-token and
// end-to-end latency histograms) plus the engine's live figures, rendered as Prometheus text
// (names as MindIE, which mirror vLLM's without the "vllm:" prefix) and as MindIE's
// /metrics-json. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "engine/request.h"

namespace mies::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // Prometheus lines for `name` with the label set `labels` ("model_name=\"x\"").
  void Render(const std::string& name, const std::string& help, const std::string& labels,
              std::string* out) const;
  const std::vector<double>& bounds() const { return bounds_; }
  const std::vector<uint64_t>& counts() const { return counts_; }  // per bucket, not cumulative
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // one per bound, plus +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  explicit Metrics(std::string model_name);

  void RequestReceived();
  // A request that ended; `ok` false for errors, timeouts and validation failures.
  void RequestFinished(bool ok);
  // A request refused for a missing or wrong API key (ServerConfig.apiKeyFile).
  void RequestUnauthorized();
  // A generation that produced output: latencies in seconds.
  void ObserveGeneration(int64_t prompt_tokens, int64_t generation_tokens, double ttft_s,
                         const std::vector<double>& inter_token_s, double e2e_s);

  std::string RenderPrometheus(const engine::EngineStats& stats) const;
  // MindIE's /metrics-json: TTFT and TBT averages (ms) over the last `window` requests, queue
  // figures; `instance` is "<ip>:<port>" of the management plane. mies adds a "mies" object
  // for the console: counters, token totals, KV blocks, TTFT and inter-token percentiles (ms)
  // over the same window and the TTFT and inter-token histograms.
  std::string RenderJson(const engine::EngineStats& stats, const std::string& instance) const;

  uint64_t received() const;
  uint64_t unauthorized() const;

 private:
  std::string model_name_;
  mutable std::mutex mu_;
  uint64_t received_ = 0, success_ = 0, failed_ = 0, unauthorized_ = 0;
  Histogram ttft_, tpot_, e2e_, prompt_tokens_, generation_tokens_;
  std::deque<double> recent_ttft_ms_, recent_tbt_ms_;
  size_t window_ = 1000;
  // For average throughput gauges: tokens seen at the previous render and when.
  mutable double last_render_s_ = 0;
  mutable int64_t last_prompt_total_ = 0, last_gen_total_ = 0;
  mutable double prompt_tps_ = 0, gen_tps_ = 0;
};

}  // namespace mies::server
