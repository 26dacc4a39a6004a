// The route table of the three planes: one row per method and path, naming the planes that serve
// it, what the router does before the call (flags) and the handler. The router (router.cc) looks
// a request up here; nothing else decides where a request goes.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "server/http_message.h"
#include "server/router.h"
#include "server/serving_context.h"

namespace mies::server {

// What a handler gets.
struct RouteCall {
  ServingContext& ctx;
  const HttpRequest& request;
  const std::string& listener_address;
  std::string_view path_arg;             // what the pattern's {model} or {*} matched
  const nlohmann::json* body = nullptr;  // kJsonBody routes: the parsed body
};

enum RouteFlags : unsigned {
  // The service plane's POST routes: 503 while stopped or not ready, then the body parsed as
  // JSON (422 on failure); an exception in the handler answers 422 "Invalid request: ...".
  kJsonBody = 1,
  kGenerates = 2,     // counted as a request in the metrics (received; failed on any error)
  kOpenAiErrors = 4,  // errors in the OpenAI shape (ErrorStyle::kOpenAi)
  kModelInPath = 8,   // {model} must name the served model, else 404 "Model <m> not found."
};

struct Route {
  const char* name;    // for logs and tests
  const char* method;  // "GET" or "POST"
  unsigned planes;     // PlaneBits that serve it
  // A literal path, or one with a single placeholder: {model} (one or more of [A-Za-z0-9_.-])
  // or {*} (anything, possibly empty).
  const char* pattern;
  unsigned flags;  // RouteFlags
  RouteResult (*handler)(const RouteCall& call);
};

std::span<const Route> RouteTable();

// The row serving `method` and `path` on a listener of `planes`, with what its placeholder
// matched in `path_arg`; nullptr when none does.
const Route* FindRoute(std::string_view method, std::string_view path, unsigned planes,
                       std::string_view* path_arg);

// Health probes, which answer "Abnormal node detected" while a node of the cluster is
// unreachable: /health, /v2/health/live, /v2/health/ready and every GET /v2/models/.../ready
// (matched by prefix and suffix, so even a path that names no valid model gets that answer).
bool IsHealthProbePath(std::string_view path);

}  // namespace mies::server
