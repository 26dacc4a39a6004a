#include "server/router.h"

#include <chrono>
#include <regex>

#include "common/logging.h"
#include "server/adapters.h"

namespace mies::server {

using nlohmann::json;

// --- shared helpers (declared in adapters.h / http_message.h / serving_context.h) ----------

const char* ErrorTypeForStatus(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 404:
      return "NotFoundError";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Input Validation Error";
    case 424:
      return "Generation Error";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return status >= 500 ? "Incomplete Generation" : "Bad Request";
  }
}

HttpResponse JsonResponse(int status, const std::string& body) {
  HttpResponse r;
  r.status = status;
  r.body = body;
  return r;
}

HttpResponse ErrorResponse(int status, const std::string& message, ErrorStyle style) {
  json body;
  if (style == ErrorStyle::kOpenAi) {
    body = {{"error",
             {{"message", message},
              {"type", ErrorTypeForStatus(status)},
              {"param", nullptr},
              {"code", status}}}};
  } else {
    body = {{"error", message}, {"error_type", ErrorTypeForStatus(status)}};
  }
  // Messages may quote client input that is not valid UTF-8; replace rather than throw.
  return JsonResponse(status, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 422;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kOutOfRange:
      return 413;
    case absl::StatusCode::kFailedPrecondition:
      return 424;
    case absl::StatusCode::kDeadlineExceeded:
      return 500;
    default:
      return 500;
  }
}

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

ModelInfo ModelInfo::FromConfig(const config::Config& c, int64_t vocab_size) {
  ModelInfo m;
  const auto& deploy = c.backend.model_deploy;
  const auto& sched = c.backend.schedule;
  if (!deploy.model_config.empty()) {
    const auto& mc = deploy.model_config[0];
    m.name = mc.model_name;
    m.weight_path = c.ModelWeightPath();
    m.instance_type = mc.model_instance_type;
    m.world_size = mc.world_size;
    m.npu_mem_size = mc.npu_mem_size_gb;
    m.cpu_mem_size = mc.cpu_mem_size_gb;
  }
  m.vocab_size = vocab_size;
  m.max_seq_len = deploy.max_seq_len;
  m.max_input_tokens = deploy.EffectiveMaxInputTokens();
  m.max_iter_times = sched.max_iter_times;
  m.max_prefill_tokens = sched.max_prefill_tokens;
  m.max_batch_size = sched.max_batch_size;
  m.max_prefill_batch_size =
      sched.max_prefill_batch_size > 0 ? sched.max_prefill_batch_size : sched.max_batch_size;
  m.max_n = sched.max_n;
  m.cache_block_size = sched.cache_block_size;
  m.prefill_policy_type = sched.prefill_policy_type;
  m.decode_policy_type = sched.decode_policy_type;
  m.max_request_chars = static_cast<int64_t>(c.server.max_request_length_mb) << 20;
  m.native_openai = c.server.open_ai_support != "vllm";
  m.full_text = c.server.full_text_enabled;
  return m;
}

void RequestRegistry::Add(const std::string& public_id, const std::string& engine_id) {
  std::lock_guard lock(mu_);
  ids_[public_id] = engine_id;
}
void RequestRegistry::Remove(const std::string& public_id) {
  std::lock_guard lock(mu_);
  ids_.erase(public_id);
}
std::optional<std::string> RequestRegistry::Find(const std::string& public_id) const {
  std::lock_guard lock(mu_);
  auto it = ids_.find(public_id);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}
size_t RequestRegistry::size() const {
  std::lock_guard lock(mu_);
  return ids_.size();
}

// --- routing --------------------------------------------------------------------------------

namespace {

bool IsOpenAiPath(const std::string& path) {
  return path == "/v1/chat/completions" || path == "/v1/completions" || path == "/tokenize" ||
         path == "/detokenize";
}

RouteResult NotFoundRoute(const HttpRequest& req) {
  return Fail(404, "Route " + req.method + " " + req.path + " not found.");
}

}  // namespace

RouteResult Router::Handle(const HttpRequest& req, unsigned planes,
                           const std::string& listener_address) {
  ServingContext& ctx = *ctx_;
  const std::string& path = req.path;

  if (planes & kMetricsPlane) {
    if (req.method == "GET" && path == "/metrics") {
      if (!ctx.monitor_mode) {
        return Fail(500, "Environment variable MIES_SERVICE_MONITOR_MODE is not set.");
      }
      HttpResponse r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = ctx.metrics->RenderPrometheus(ctx.engine->Stats());
      return Reply(std::move(r));
    }
  }
  if (planes & kManagementPlane) {
    bool matched = false;
    RouteResult r = HandleManagement(ctx, req, listener_address, &matched);
    if (matched) return r;
  }
  if (!(planes & kServicePlane)) return NotFoundRoute(req);

  static const std::regex v2_model(
      R"(^/v2/models/([\w\-.]+)(/(config|infer|generate|generate_stream|stopInfer))?$)");
  static const std::regex v1_model(R"(^/v1/models/([\w\-.]+)$)");
  std::smatch m;

  if (req.method == "GET") {
    if (path == "/v1/models") return HandleModelList(ctx);
    if (std::regex_match(path, m, v1_model)) return HandleModelCard(ctx, m[1]);
    if (path == "/v2") return HandleTritonServer(ctx);
    if (path == "/info") {
      bool matched = false;
      return HandleManagement(ctx, req, listener_address, &matched);
    }
    if (std::regex_match(path, m, v2_model) && (m[3] == "" || m[3] == "config")) {
      if (m[1] != ctx.model.name) return Fail(404, "Model " + m[1].str() + " not found.");
      return m[3] == "config" ? HandleTritonModelConfig(ctx) : HandleTritonModel(ctx);
    }
    return NotFoundRoute(req);
  }
  if (req.method != "POST") return NotFoundRoute(req);

  // Every POST route on the service plane takes a JSON body.
  enum class R {
    kNone,
    kTgiRoot,
    kGenerate,
    kGenerateStream,
    kChat,
    kCompletions,
    kInfer,
    kTokenizer,
    kTokenize,
    kDetokenize,
    kTritonInfer,
    kTritonGenerate,
    kTritonGenerateStream,
    kStopInfer
  } route = R::kNone;
  if (path == "/")
    route = R::kTgiRoot;
  else if (path == "/generate")
    route = R::kGenerate;
  else if (path == "/generate_stream")
    route = R::kGenerateStream;
  else if (path == "/v1/chat/completions")
    route = R::kChat;
  else if (path == "/v1/completions")
    route = R::kCompletions;
  else if (path == "/infer" || path == "/infer_token")
    route = R::kInfer;
  else if (path == "/v1/tokenizer")
    route = R::kTokenizer;
  else if (path == "/tokenize")
    route = R::kTokenize;
  else if (path == "/detokenize")
    route = R::kDetokenize;
  else if (std::regex_match(path, m, v2_model) && m[3] != "" && m[3] != "config") {
    if (m[1] != ctx.model.name) return Fail(404, "Model " + m[1].str() + " not found.");
    route = m[3] == "infer"             ? R::kTritonInfer
            : m[3] == "generate"        ? R::kTritonGenerate
            : m[3] == "generate_stream" ? R::kTritonGenerateStream
                                        : R::kStopInfer;
  }
  if (route == R::kNone) return NotFoundRoute(req);

  const ErrorStyle style = IsOpenAiPath(path) ? ErrorStyle::kOpenAi : ErrorStyle::kMindIe;
  const bool generates = route != R::kTokenizer && route != R::kTokenize &&
                         route != R::kDetokenize && route != R::kStopInfer;
  if (generates) ctx.metrics->RequestReceived();
  auto finish = [&](RouteResult r) {
    if (generates && r.response && r.response->status >= 400) ctx.metrics->RequestFinished(false);
    return r;
  };
  if (ctx.stopped) return finish(Fail(503, "The service has been stopped.", style));
  if (!ctx.ready) return finish(Fail(503, "The service is not ready.", style));

  auto body = ParseJsonBody(req.body, ctx.config ? ctx.config->server.max_json_depth : 10);
  if (!body.ok()) return finish(FailWith(body.status(), style));
  try {
    switch (route) {
      case R::kTgiRoot:
        return finish(HandleTgi(ctx, *body, TgiRoute::kRoot));
      case R::kGenerate:
        if (body->contains("prompt")) return finish(HandleVllmGenerate(ctx, *body));
        return finish(HandleTgi(ctx, *body, TgiRoute::kGenerate));
      case R::kGenerateStream:
        return finish(HandleTgi(ctx, *body, TgiRoute::kGenerateStream));
      case R::kChat:
        return finish(HandleChatCompletions(ctx, *body));
      case R::kCompletions:
        return finish(HandleCompletions(ctx, *body));
      case R::kInfer:
        return finish(HandleNativeInfer(ctx, *body));
      case R::kTokenizer:
        return HandleNativeTokenizer(ctx, *body);
      case R::kTokenize:
        return HandleTokenize(ctx, *body);
      case R::kDetokenize:
        return HandleDetokenize(ctx, *body);
      case R::kTritonInfer:
        return finish(HandleTritonInfer(ctx, *body));
      case R::kTritonGenerate:
        return finish(HandleTritonGenerate(ctx, *body, false));
      case R::kTritonGenerateStream:
        return finish(HandleTritonGenerate(ctx, *body, true));
      case R::kStopInfer:
        return HandleStopInfer(ctx, *body);
      case R::kNone:
        break;
    }
  } catch (const std::exception& e) {
    // nlohmann type errors from an unexpected shape end up here: a client error, not a crash.
    MIES_LOG_WARN("request {} {} failed: {}", req.method, req.path, e.what());
    return finish(Fail(422, std::string("Invalid request: ") + e.what(), style));
  }
  return NotFoundRoute(req);
}

}  // namespace mies::server
