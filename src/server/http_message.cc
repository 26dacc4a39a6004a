#include "server/http_message.h"

#include <nlohmann/json.hpp>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"

namespace mies::server {

using nlohmann::json;

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

std::optional<std::string_view> FindHeader(const HttpRequest& request, std::string_view name) {
  for (const auto& [k, v] : request.headers) {
    if (absl::EqualsIgnoreCase(k, absl::string_view(name.data(), name.size()))) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
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

namespace {
constexpr char kHttpStatusPayload[] = "mies.server/http-status";
}  // namespace

Status BadRequest(std::string_view message) {
  Status s = absl::InvalidArgumentError(std::string(message));
  s.SetPayload(kHttpStatusPayload, absl::Cord("400"));
  return s;
}

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return status.GetPayload(kHttpStatusPayload) ? 400 : 422;
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

}  // namespace mies::server
