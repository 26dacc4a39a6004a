#include "server/router.h"

#include <regex>

#include "common/logging.h"
#include "server/adapters.h"

namespace mies::server {

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
