// The entry point of every HTTP request, whatever the plane: finds the request's row in the route
// table (routes.h), applies what the row asks (the served model's name in the path; for the
// service plane's POST routes: readiness, the JSON body, the request counters) and calls its
// handler. Handlers parse a wire format into an engine::GenerateRequest plus a Formatter, or
// answer at once; the transport (http_server.cc) runs the generation. Nothing here touches
// sockets, so every route is unit-testable with a fake engine.
#pragma once

#include <optional>
#include <string>

#include "server/generation_job.h"
#include "server/http_message.h"
#include "server/serving_context.h"

namespace mies::server {

enum class ServiceAction { kNone, kStopService, kStopServiceForce };

struct RouteResult {
  std::optional<HttpResponse> response;  // answered at once
  std::optional<GenerationJob> job;      // needs the engine
  ServiceAction action = ServiceAction::kNone;
};

// Which planes a listener serves (a bit set: one listener may carry several planes).
enum PlaneBits : unsigned { kServicePlane = 1, kManagementPlane = 2, kMetricsPlane = 4 };

class Router {
 public:
  explicit Router(ServingContext* context) : ctx_(context) {}
  // `planes` is the listener's PlaneBits; `listener_address` is "<ip>:<port>" (for
  // /metrics-json's instance label). No route for the method, path and planes: 404
  // "Route <method> <path> not found.". With API keys on (ServingContext::api_keys), a request
  // on a service-plane listener for a service-plane route or an unknown path, OPTIONS aside,
  // without a valid `Authorization: Bearer <key>` is 401 with `WWW-Authenticate: Bearer` and
  // OpenAI's invalid_api_key body.
  // On the service plane, OPTIONS is a CORS preflight and an allowed Origin gets its CORS
  // headers on the answer (cors.h).
  RouteResult Handle(const HttpRequest& request, unsigned planes,
                     const std::string& listener_address);

  ServingContext& context() { return *ctx_; }

 private:
  // Handle without the service plane's CORS.
  RouteResult Dispatch(const HttpRequest& request, unsigned planes,
                       const std::string& listener_address);

  ServingContext* ctx_;
};

}  // namespace mies::server
