// One generation between the engine and a transport, without sockets: submits the request,
// queues the engine's outputs (handed over from the engine's thread), keeps the deadlines
// (tokenTimeout, e2eTimeout, the request's own timeout), measures the time to the first token and
// the gaps between tokens, and cancels. The transport (http_server.cc) waits until `wake` runs or
// Deadline() passes, takes the queued outputs, writes what the formatter makes of them and ends
// with Complete or Cancel. Every time is passed in, so tests drive the clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/request.h"
#include "server/generation_job.h"
#include "server/serving_context.h"

namespace mies::server {

struct StreamLimits {
  // The wait for the next output when streaming; the wait for the whole answer otherwise.
  std::chrono::seconds token_timeout{600};
  std::chrono::seconds e2e_timeout{600};  // from the start; the request's timeout if shorter
};

// An answer that replaces the generation's: HTTP status and message.
struct StreamError {
  int status = 500;
  std::string message;
};

class GenerationStream {
 public:
  using Clock = std::chrono::steady_clock;

  // Registers the job's public id (for stopInfer) until destruction. Reads the job's ids,
  // prompt length, timeout and whether its formatter streams; the request itself goes to Submit.
  GenerationStream(ServingContext& ctx, const GenerationJob& job, StreamLimits limits,
                   Clock::time_point start);
  ~GenerationStream();
  GenerationStream(const GenerationStream&) = delete;
  GenerationStream& operator=(const GenerationStream&) = delete;

  // Submits to the engine. `wake` runs on the engine's thread after each queued output, under
  // the queue's lock: it may only schedule the transport, not call into this stream. A refusal
  // is counted as a failed request and returned as the answer: 503 when the engine is
  // unavailable, else 424 "Failed to enqueue inferRequest. <why>".
  std::optional<StreamError> Submit(engine::GenerateRequest request, std::function<void()> wake);

  // The outputs queued since the last call, oldest first.
  std::deque<engine::RequestOutput> TakeOutputs();

  // Accounts for one output taken at `now`: its tokens, the time to the first token and the gap
  // before each later token. False when it carries the engine's error: the generation failed
  // and failure() is the answer.
  bool Record(const engine::RequestOutput& output, Clock::time_point now);

  // When the next output is due: the earlier of the token deadline (from the last output when
  // streaming, else from the start) and the end-to-end deadline.
  Clock::time_point Deadline() const;
  // From Deadline() on: 500 "Engine callback timeout: <server tokenTimeout | server e2eTimeout |
  // client timeout>" (the end-to-end deadline's name when both fall together).
  std::optional<StreamError> Expired(Clock::time_point now) const;

  // The client is gone or a deadline passed: the engine drops the request; counted as failed.
  void Cancel();
  // The final output (or the engine's error) was taken: counts the request and, when it
  // succeeded, its token counts and latencies (end to end up to `now`).
  void Complete(Clock::time_point now);
  // Thread-safe, for server shutdown: outputs are no longer queued and the engine drops the
  // request. Nothing is counted.
  void Abort();

  const std::string& engine_id() const { return engine_id_; }
  const std::optional<StreamError>& failure() const { return failure_; }
  int64_t generated_tokens() const { return generated_; }
  double ttft_s() const { return ttft_s_; }                      // 0 before the first token
  const std::vector<double>& gaps_s() const { return gaps_s_; }  // one per token after the first

 private:
  struct Inbox;

  ServingContext& ctx_;
  const std::string engine_id_;
  const std::string public_id_;
  const int64_t prompt_tokens_;
  const bool streaming_;
  const StreamLimits limits_;
  const Clock::time_point start_;
  Clock::time_point e2e_deadline_;
  const char* e2e_reason_ = "server e2eTimeout";
  std::shared_ptr<Inbox> inbox_;

  bool got_token_ = false;
  double ttft_s_ = 0;
  std::vector<double> gaps_s_;
  Clock::time_point last_token_at_;
  Clock::time_point last_output_at_;
  int64_t generated_ = 0;
  std::optional<StreamError> failure_;
};

}  // namespace mies::server
