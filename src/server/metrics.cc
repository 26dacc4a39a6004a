#include "server/metrics.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>
#include <vector>

namespace mies::server {

namespace {

std::string Fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// Bucket bounds as written in the spec ("0.1", not "0.10000000000000001").
std::string Bound(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.12g", v);
  return buf;
}

double NowS() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void Scalar(std::string* out, const std::string& name, const char* type, const char* help,
            const std::string& labels, double value) {
  *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  *out += name + "{" + labels + "} " + Fmt(value) + "\n";
}

// Nearest-rank percentiles (ms) of a window of samples.
nlohmann::json Percentiles(const std::deque<double>& window) {
  nlohmann::json out = {{"count", window.size()}};
  std::vector<double> v(window.begin(), window.end());
  std::sort(v.begin(), v.end());
  for (auto [name, q] : {std::pair{"p50", 0.50}, std::pair{"p90", 0.90}, std::pair{"p99", 0.99}}) {
    if (v.empty()) {
      out[name] = nullptr;
      continue;
    }
    size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    out[name] = v[std::clamp<size_t>(rank, 1, v.size()) - 1];
  }
  return out;
}

nlohmann::json HistogramJson(const Histogram& h) {
  return {{"bounds", h.bounds()}, {"counts", h.counts()}, {"sum", h.sum()}, {"count", h.count()}};
}

const std::vector<double> kTokenBuckets = {10,    50,    100,   200,   500,   1000,  2000,  5000,
                                           10000, 16000, 20000, 32000, 50000, 64000, 128000};

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::Render(const std::string& name, const std::string& help, const std::string& labels,
                       std::string* out) const {
  *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    *out += name + "_bucket{" + labels + ",le=\"" + Bound(bounds_[i]) + "\"} " +
            std::to_string(cumulative) + "\n";
  }
  cumulative += counts_.back();
  *out += name + "_bucket{" + labels + ",le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  *out += name + "_sum{" + labels + "} " + Fmt(sum_) + "\n";
  *out += name + "_count{" + labels + "} " + std::to_string(count_) + "\n";
}

Metrics::Metrics(std::string model_name)
    : model_name_(std::move(model_name)),
      ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}),
      tpot_({0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5}),
      e2e_({1, 2.5, 5, 10, 15, 20, 30, 40, 50, 60}),
      prompt_tokens_(kTokenBuckets),
      generation_tokens_(kTokenBuckets) {
  if (const char* w = std::getenv("DYNAMIC_AVERAGE_WINDOW_SIZE")) {
    int v = std::atoi(w);
    if (v > 0) window_ = static_cast<size_t>(v);
  }
}

void Metrics::RequestReceived() {
  std::lock_guard lock(mu_);
  ++received_;
}

void Metrics::RequestFinished(bool ok) {
  std::lock_guard lock(mu_);
  ++(ok ? success_ : failed_);
}

void Metrics::RequestUnauthorized() {
  std::lock_guard lock(mu_);
  ++unauthorized_;
}

uint64_t Metrics::received() const {
  std::lock_guard lock(mu_);
  return received_;
}

uint64_t Metrics::unauthorized() const {
  std::lock_guard lock(mu_);
  return unauthorized_;
}

void Metrics::ObserveGeneration(int64_t prompt_tokens, int64_t generation_tokens, double ttft_s,
                                const std::vector<double>& inter_token_s, double e2e_s) {
  std::lock_guard lock(mu_);
  prompt_tokens_.Observe(static_cast<double>(prompt_tokens));
  generation_tokens_.Observe(static_cast<double>(generation_tokens));
  if (generation_tokens > 0) {
    ttft_.Observe(ttft_s);
    recent_ttft_ms_.push_back(ttft_s * 1000);
    if (recent_ttft_ms_.size() > window_) recent_ttft_ms_.pop_front();
  }
  for (double t : inter_token_s) {
    tpot_.Observe(t);
    recent_tbt_ms_.push_back(t * 1000);
    if (recent_tbt_ms_.size() > window_) recent_tbt_ms_.pop_front();
  }
  e2e_.Observe(e2e_s);
}

std::string Metrics::RenderPrometheus(const engine::EngineStats& stats) const {
  std::lock_guard lock(mu_);
  const std::string labels = "model_name=\"" + model_name_ + "\"";
  double now = NowS();
  if (last_render_s_ > 0 && now - last_render_s_ > 0.5) {
    double dt = now - last_render_s_;
    prompt_tps_ = static_cast<double>(stats.prompt_tokens_total - last_prompt_total_) / dt;
    gen_tps_ = static_cast<double>(stats.generation_tokens_total - last_gen_total_) / dt;
  }
  if (last_render_s_ == 0 || now - last_render_s_ > 0.5) {
    last_render_s_ = now;
    last_prompt_total_ = stats.prompt_tokens_total;
    last_gen_total_ = stats.generation_tokens_total;
  }
  std::string out;
  Scalar(&out, "request_received_total", "counter", "Number of requests received.", labels,
         static_cast<double>(received_));
  Scalar(&out, "request_success_total", "counter", "Number of requests completed successfully.",
         labels, static_cast<double>(success_));
  Scalar(&out, "request_failed_total", "counter", "Number of failed requests.", labels,
         static_cast<double>(failed_));
  Scalar(&out, "request_unauthorized_total", "counter",
         "Number of requests refused for a missing or wrong API key.", labels,
         static_cast<double>(unauthorized_));
  Scalar(&out, "num_requests_running", "gauge", "Number of requests running in the engine.", labels,
         static_cast<double>(stats.running));
  Scalar(&out, "num_requests_waiting", "gauge", "Number of requests waiting to be scheduled.",
         labels, static_cast<double>(stats.waiting));
  Scalar(&out, "num_requests_swapped", "gauge", "Number of requests swapped to host memory.",
         labels, 0);
  Scalar(&out, "num_preemptions_total", "counter", "Cumulative number of preemptions.", labels,
         static_cast<double>(stats.preemptions_total));
  Scalar(&out, "prompt_tokens_total", "counter", "Number of prefill tokens processed.", labels,
         static_cast<double>(stats.prompt_tokens_total));
  Scalar(&out, "generation_tokens_total", "counter", "Number of generation tokens processed.",
         labels, static_cast<double>(stats.generation_tokens_total));
  Scalar(&out, "avg_prompt_throughput_toks_per_s", "gauge",
         "Average prefill throughput in tokens/s.", labels, prompt_tps_);
  Scalar(&out, "avg_generation_throughput_toks_per_s", "gauge",
         "Average generation throughput in tokens/s.", labels, gen_tps_);
  uint64_t done = success_ + failed_;
  Scalar(&out, "failed_request_perc", "gauge", "Fraction of requests that failed.", labels,
         done ? static_cast<double>(failed_) / static_cast<double>(done) : 0.0);
  Scalar(&out, "npu_cache_usage_perc", "gauge", "Fraction of KV-cache blocks in use.", labels,
         stats.kv_blocks_total ? static_cast<double>(stats.kv_blocks_used) /
                                     static_cast<double>(stats.kv_blocks_total)
                               : 0.0);
  Scalar(&out, "cpu_cache_usage_perc", "gauge", "Fraction of host swap KV blocks in use.", labels,
         0);
  Scalar(&out, "npu_prefix_cache_hit_rate", "gauge", "Prefix-cache block hit rate.", labels,
         stats.prefix_cache_queries ? static_cast<double>(stats.prefix_cache_hits) /
                                          static_cast<double>(stats.prefix_cache_queries)
                                    : 0.0);
  Scalar(&out, "kv_blocks_used", "gauge", "KV-cache blocks in use.", labels,
         static_cast<double>(stats.kv_blocks_used));
  Scalar(&out, "kv_blocks_free", "gauge", "KV-cache blocks free.", labels,
         static_cast<double>(stats.kv_blocks_total - stats.kv_blocks_used));
  ttft_.Render("time_to_first_token_seconds", "Histogram of time to first token in seconds.",
               labels, &out);
  tpot_.Render("time_per_output_token_seconds", "Histogram of time per output token in seconds.",
               labels, &out);
  e2e_.Render("e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.",
              labels, &out);
  prompt_tokens_.Render("request_prompt_tokens", "Number of prefill tokens per request.", labels,
                        &out);
  generation_tokens_.Render("request_generation_tokens", "Number of generation tokens per request.",
                            labels, &out);
  return out;
}

std::string Metrics::RenderJson(const engine::EngineStats& stats,
                                const std::string& instance) const {
  std::lock_guard lock(mu_);
  auto avg = [](const std::deque<double>& d) {
    return d.empty() ? 0.0
                     : std::accumulate(d.begin(), d.end(), 0.0) / static_cast<double>(d.size());
  };
  auto item = [&](const char* name, const std::string& value) {
    return nlohmann::json{
        {"metric",
         nlohmann::json::array({{{"__name__", name}, {"job", "node"}, {"instance", instance}}})},
        {"value", value}};
  };
  nlohmann::json result = nlohmann::json::array();
  result.push_back(item("TTFT", std::to_string(static_cast<int64_t>(avg(recent_ttft_ms_)))));
  result.push_back(item("TBT", std::to_string(static_cast<int64_t>(avg(recent_tbt_ms_)))));
  result.push_back(item("waitingInferRequestNum", std::to_string(stats.waiting)));
  result.push_back(item("processingInferRequestNum", std::to_string(stats.running)));
  result.push_back(
      item("remainBlocks", std::to_string(stats.kv_blocks_total - stats.kv_blocks_used)));
  nlohmann::json mies = {
      {"requests", {{"received", received_}, {"success", success_}, {"failed", failed_}}},
      {"running", stats.running},
      {"waiting", stats.waiting},
      {"kvBlocksUsed", stats.kv_blocks_used},
      {"kvBlocksTotal", stats.kv_blocks_total},
      {"promptTokensTotal", stats.prompt_tokens_total},
      {"generationTokensTotal", stats.generation_tokens_total},
      {"ttftMs", Percentiles(recent_ttft_ms_)},
      {"interTokenMs", Percentiles(recent_tbt_ms_)},
      {"histograms",
       {{"ttftSeconds", HistogramJson(ttft_)}, {"interTokenSeconds", HistogramJson(tpot_)}}}};
  return nlohmann::json{{"resultType", "vector"}, {"result", result}, {"mies", mies}}.dump();
}

}  // namespace mies::server
