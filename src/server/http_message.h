// The server's own view of an HTTP exchange, independent of the HTTP library: what a route
// handler reads (HttpRequest) and what it answers (HttpResponse), plus MindIE's error envelope.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace mies::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query string
  std::string query;   // after '?', may be empty
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string peer;  // "ip:port", for logs
};

// The value of the first header named `name` (case-insensitive); nullopt when there is none.
std::optional<std::string_view> FindHeader(const HttpRequest& request, std::string_view name);

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// How a route family reports errors. MindIE answers {"error": "<msg>", "error_type": "<type>"};
// the OpenAI routes answer in the shape OpenAI client libraries parse
// ({"error": {"message", "type", "param", "code"}}), because the client wins on its own routes.
enum class ErrorStyle { kMindIe, kOpenAi };

// MindIE's error_type for a status: 400 "Bad Request", 404 "NotFoundError", 413 "Payload Too
// Large", 422 "Input Validation Error", 424 "Generation Error", 500 "Incomplete Generation",
// 503 "Service Unavailable".
const char* ErrorTypeForStatus(int status);

HttpResponse ErrorResponse(int status, const std::string& message,
                           ErrorStyle style = ErrorStyle::kMindIe);
HttpResponse JsonResponse(int status, const std::string& body);

// An InvalidArgument that answers 400 instead of 422: requests that are well-formed but ask for
// what cannot be done (a JSON schema keyword the grammar engine lacks, a logit_bias id outside
// the vocabulary), where vLLM and OpenAI answer 400 and their clients expect it.
Status BadRequest(std::string_view message);

// HTTP status for an error Status coming from request validation (InvalidArgument -> 422, or 400
// when made by BadRequest; NotFound -> 404, Unavailable -> 503, OutOfRange -> 413,
// FailedPrecondition -> 424, else 500).
int HttpStatusFor(const Status& status);

}  // namespace mies::server
