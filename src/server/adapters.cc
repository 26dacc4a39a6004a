#include "server/adapters.h"

#include <chrono>
#include <span>

namespace mies::server {

RouteResult Reply(HttpResponse response) {
  RouteResult r;
  r.response = std::move(response);
  return r;
}

RouteResult Fail(int status, const std::string& message, ErrorStyle style) {
  return Reply(ErrorResponse(status, message, style));
}

RouteResult FailWith(const Status& status, ErrorStyle style) {
  return Fail(HttpStatusFor(status), std::string(status.message()), style);
}

std::string TokenText(const ServingContext& ctx, int32_t id) {
  const int one[1] = {id};
  std::string s = ctx.tokenizer->Decode(std::span<const int>(one, 1));
  if (s.empty()) {
    if (auto tok = ctx.tokenizer->IdToToken(id)) return *tok;
  }
  return s;
}

StatusOr<std::vector<int32_t>> EncodeText(const ServingContext& ctx, const std::string& text,
                                          bool add_special_tokens) {
  auto ids = ctx.tokenizer->Encode(text, add_special_tokens);
  if (!ids.ok()) return InvalidArgument("Inputs could not be tokenized: ", ids.status().message());
  if (ids->empty()) return InvalidArgument("Inputs tokenize to no tokens");
  return std::vector<int32_t>(ids->begin(), ids->end());
}

const char* OpenAiFinishReason(engine::FinishReason reason) {
  return reason == engine::FinishReason::kLength ? "length" : "stop";
}

const char* MindIeFinishReason(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::kLength:
      return "length";
    case engine::FinishReason::kStop:
      return "eos_token";
    case engine::FinishReason::kNone:
      return "invalid finishReason";
    default:
      return "stop_sequence";
  }
}

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace mies::server
