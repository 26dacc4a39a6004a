#include "server/generation_stream.h"

#include <algorithm>
#include <mutex>
#include <utility>

namespace mies::server {

// Shared with the engine's sink, which holds it weakly: the sink may outlive the stream.
struct GenerationStream::Inbox {
  std::mutex mu;
  std::deque<engine::RequestOutput> queue;
  bool open = true;  // false: the stream is gone or aborted; the sink drops outputs
  std::function<void()> wake;
};

GenerationStream::GenerationStream(ServingContext& ctx, const GenerationJob& job,
                                   StreamLimits limits, Clock::time_point start)
    : ctx_(ctx),
      engine_id_(job.request.request_id),
      public_id_(job.public_id),
      prompt_tokens_(job.prompt_tokens),
      streaming_(job.formatter != nullptr && job.formatter->stream()),
      limits_(limits),
      start_(start),
      e2e_deadline_(start + limits.e2e_timeout),
      inbox_(std::make_shared<Inbox>()),
      last_token_at_(start),
      last_output_at_(start) {
  if (job.timeout_s && start + std::chrono::seconds(*job.timeout_s) < e2e_deadline_) {
    e2e_deadline_ = start + std::chrono::seconds(*job.timeout_s);
    e2e_reason_ = "client timeout";
  }
  ctx_.registry.Add(public_id_, engine_id_);
}

GenerationStream::~GenerationStream() {
  {
    std::lock_guard lock(inbox_->mu);
    inbox_->open = false;
  }
  ctx_.registry.Remove(public_id_);
}

std::optional<StreamError> GenerationStream::Submit(engine::GenerateRequest request,
                                                    std::function<void()> wake) {
  {
    std::lock_guard lock(inbox_->mu);
    inbox_->wake = std::move(wake);
  }
  std::weak_ptr<Inbox> weak = inbox_;
  Status submitted = ctx_.engine->Submit(std::move(request), [weak](engine::RequestOutput out) {
    auto inbox = weak.lock();
    if (!inbox) return;
    std::lock_guard lock(inbox->mu);
    if (!inbox->open) return;
    inbox->queue.push_back(std::move(out));
    if (inbox->wake) inbox->wake();
  });
  if (submitted.ok()) return std::nullopt;
  ctx_.metrics->RequestFinished(false);
  if (submitted.code() == absl::StatusCode::kUnavailable) {
    return StreamError{503, std::string(submitted.message())};
  }
  return StreamError{424, "Failed to enqueue inferRequest. " + std::string(submitted.message())};
}

std::deque<engine::RequestOutput> GenerationStream::TakeOutputs() {
  std::deque<engine::RequestOutput> batch;
  std::lock_guard lock(inbox_->mu);
  batch.swap(inbox_->queue);
  return batch;
}

bool GenerationStream::Record(const engine::RequestOutput& out, Clock::time_point now) {
  last_output_at_ = now;
  int64_t tokens = 0;
  for (const auto& e : out.events) tokens += static_cast<int64_t>(e.new_token_ids.size());
  if (tokens > 0) {
    if (!got_token_) {
      ttft_s_ = std::chrono::duration<double>(now - start_).count();
      got_token_ = true;
    } else {
      // Tokens that arrive together share the gap since the previous ones.
      double gap =
          std::chrono::duration<double>(now - last_token_at_).count() / static_cast<double>(tokens);
      gaps_s_.insert(gaps_s_.end(), static_cast<size_t>(tokens), gap);
    }
    last_token_at_ = now;
    generated_ += tokens;
  }
  if (out.error.ok()) return true;
  failure_ = StreamError{HttpStatusFor(out.error), std::string(out.error.message())};
  return false;
}

GenerationStream::Clock::time_point GenerationStream::Deadline() const {
  auto token_deadline = (streaming_ ? last_output_at_ : start_) + limits_.token_timeout;
  return std::min(token_deadline, e2e_deadline_);
}

std::optional<StreamError> GenerationStream::Expired(Clock::time_point now) const {
  auto deadline = Deadline();
  if (now < deadline) return std::nullopt;
  const char* reason = deadline == e2e_deadline_ ? e2e_reason_ : "server tokenTimeout";
  return StreamError{500, std::string("Engine callback timeout: ") + reason};
}

void GenerationStream::Cancel() {
  ctx_.engine->Cancel(engine_id_);
  ctx_.metrics->RequestFinished(false);
}

void GenerationStream::Complete(Clock::time_point now) {
  const bool ok = !failure_.has_value();
  ctx_.metrics->RequestFinished(ok);
  if (!ok) return;
  const double e2e = std::chrono::duration<double>(now - start_).count();
  ctx_.metrics->ObserveGeneration(prompt_tokens_, generated_, ttft_s_, gaps_s_, e2e);
}

void GenerationStream::Abort() {
  {
    std::lock_guard lock(inbox_->mu);
    inbox_->open = false;
  }
  ctx_.engine->Cancel(engine_id_);
}

}  // namespace mies::server
