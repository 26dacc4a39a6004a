// Routing of the three planes' requests to the API adapters. Adapters parse and validate a wire
// format into an engine::GenerateRequest plus a Formatter that turns engine outputs back into
// that format's bytes; the HTTP layer (http_server.cc) submits, waits, streams and cancels. Nothing
// here touches sockets, so every adapter is unit-testable with a fake engine.
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
  // /metrics-json's instance label).
  RouteResult Handle(const HttpRequest& request, unsigned planes,
                     const std::string& listener_address);

  ServingContext& context() { return *ctx_; }

 private:
  ServingContext* ctx_;
};

}  // namespace mies::server
