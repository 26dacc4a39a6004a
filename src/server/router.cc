#include "server/router.h"

#include <nlohmann/json.hpp>

#include "common/logging.h"
#include "server/adapters.h"
#include "server/api_key_store.h"
#include "server/cors.h"
#include "server/routes.h"

namespace mies::server {

namespace {

// kJsonBody routes: readiness, then the body, then the handler; for generations every error
// answer is also a failed request.
RouteResult CallJsonRoute(const Route& route, RouteCall& call) {
  ServingContext& ctx = call.ctx;
  const ErrorStyle style = route.flags & kOpenAiErrors ? ErrorStyle::kOpenAi : ErrorStyle::kMindIe;
  const bool generates = route.flags & kGenerates;
  if (generates) ctx.metrics->RequestReceived();
  auto finish = [&](RouteResult r) {
    if (generates && r.response && r.response->status >= 400) ctx.metrics->RequestFinished(false);
    return r;
  };
  if (ctx.stopped) return finish(Fail(503, "The service has been stopped.", style));
  if (!ctx.ready) return finish(Fail(503, "The service is not ready.", style));

  auto body = ParseJsonBody(call.request.body, ctx.config ? ctx.config->server.max_json_depth : 10);
  if (!body.ok()) return finish(FailWith(body.status(), style));
  call.body = &*body;
  try {
    return finish(route.handler(call));
  } catch (const std::exception& e) {
    // nlohmann type errors from an unexpected shape end up here: a client error, not a crash.
    MIES_LOG_WARN("request {} {} failed: {}", call.request.method, call.request.path, e.what());
    return finish(Fail(422, std::string("Invalid request: ") + e.what(), style));
  }
}

// Whether a request on a listener of `planes` needs an API key: keys are on, the listener
// serves the service plane, the request is no CORS preflight, and its route (`route`, null for
// an unknown path, which must not let a client probe the table) is served by the service plane.
// Routes only the management or metrics planes serve (health, /metrics) stay open, also where
// the planes share one listener.
bool NeedsApiKey(const ServingContext& ctx, const HttpRequest& req, unsigned planes,
                 const Route* route) {
  if (ctx.api_keys == nullptr || !(planes & kServicePlane) || req.method == "OPTIONS") {
    return false;
  }
  return route == nullptr || (route->planes & kServicePlane);
}

// OpenAI's 401 for a missing or wrong key (never echoing what was sent).
RouteResult Unauthorized(ApiKeyStore::Verdict verdict) {
  const char* message =
      verdict == ApiKeyStore::Verdict::kMissing
          ? "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
          : "Incorrect API key provided.";
  const nlohmann::json body = {{"error",
                                {{"message", message},
                                 {"type", "invalid_request_error"},
                                 {"param", nullptr},
                                 {"code", "invalid_api_key"}}}};
  RouteResult result;
  result.response = JsonResponse(401, body.dump());
  result.response->headers.emplace_back("WWW-Authenticate", "Bearer");
  return result;
}

}  // namespace

RouteResult Router::Handle(const HttpRequest& req, unsigned planes,
                           const std::string& listener_address) {
  if (!(planes & kServicePlane)) return Dispatch(req, planes, listener_address);
  // The service plane: CORS preflights first (no route, no authentication), then the Origin's
  // CORS headers on whatever answers.
  if (req.method == "OPTIONS") return Preflight(*ctx_, req);
  RouteResult r = Dispatch(req, planes, listener_address);
  auto cors = CorsHeaders(*ctx_, req);
  if (!cors.empty()) {
    if (r.response) r.response->headers.insert(r.response->headers.end(), cors.begin(), cors.end());
    if (r.job) r.job->headers = std::move(cors);
  }
  return r;
}

RouteResult Router::Dispatch(const HttpRequest& req, unsigned planes,
                             const std::string& listener_address) {
  ServingContext& ctx = *ctx_;
  if ((planes & kManagementPlane) && req.method == "GET" && IsHealthProbePath(req.path)) {
    if (auto abnormal = AbnormalNodeAnswer(ctx)) return std::move(*abnormal);
  }
  std::string_view arg;
  const Route* route = FindRoute(req.method, req.path, planes, &arg);
  if (NeedsApiKey(ctx, req, planes, route)) {
    const ApiKeyStore::Verdict verdict = ctx.api_keys->Check(FindHeader(req, "Authorization"));
    if (verdict != ApiKeyStore::Verdict::kAccepted) {
      if (ctx.metrics) ctx.metrics->RequestUnauthorized();
      return Unauthorized(verdict);
    }
  }
  if (route == nullptr) return Fail(404, "Route " + req.method + " " + req.path + " not found.");
  if ((route->flags & kModelInPath) && arg != ctx.model.name) {
    return Fail(404, "Model " + std::string(arg) + " not found.");
  }
  RouteCall call{ctx, req, listener_address, arg};
  if (route->flags & kJsonBody) return CallJsonRoute(*route, call);
  return route->handler(call);
}

}  // namespace mies::server
