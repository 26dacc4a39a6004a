// The entry point of every HTTP request, whatever the plane: finds the request's row in the route
// table (routes.h), applies what the row asks (the served model's name in the path; for the
// service plane's POST routes: readiness, the JSON body, the request counters) and calls its
// handler. Handlers parse a wire format into an engine::GenerateRequest plus a Formatter, or
// answer at once; the transport (http_server.cc) runs the generation. Nothing here touches
// sockets, so every route is unit-testable with a fake engine.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "engine/request.h"
#include "server/http_message.h"
#include "server/serving_context.h"

namespace mies::server {

// Turns a request's engine outputs into response bytes, in one API's framing.
class Formatter {
 public:
  virtual ~Formatter() = default;
  virtual bool stream() const = 0;
  virtual ErrorStyle error_style() const { return ErrorStyle::kMindIe; }
  // Stream: the bytes to send now for this output (may be empty). Non-stream: accumulates.
  virtual std::string OnOutput(const engine::RequestOutput& output) = 0;
  // After the final output. Stream: trailing bytes (e.g. "data: [DONE]\n\n"); non-stream: the
  // whole JSON body.
  virtual std::string Finish() = 0;
  // Content type of a streamed body.
  virtual std::string stream_content_type() const { return "text/event-stream"; }
};

struct GenerationJob {
  engine::GenerateRequest request;
  std::unique_ptr<Formatter> formatter;
  std::string public_id;         // id clients may pass to stopInfer
  std::optional<int> timeout_s;  // the request's own `timeout` parameter
  int64_t prompt_tokens = 0;
};

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
  // "Route <method> <path> not found.".
  RouteResult Handle(const HttpRequest& request, unsigned planes,
                     const std::string& listener_address);

  ServingContext& context() { return *ctx_; }

 private:
  ServingContext* ctx_;
};

}  // namespace mies::server
