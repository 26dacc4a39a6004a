#include "server/cors.h"

#include <algorithm>
#include <cctype>

#include "server/adapters.h"
#include "server/routes.h"

namespace mies::server {

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::string RequestOrigin(const HttpRequest& request) {
  for (const auto& [name, value] : request.headers) {
    if (EqualsIgnoreCase(name, "Origin")) return value;
  }
  return "";
}

bool OriginAllowed(const std::vector<std::string>& allowed, std::string_view origin) {
  if (origin.empty() || origin == "null") return false;
  return std::any_of(allowed.begin(), allowed.end(),
                     [&](const std::string& a) { return a == "*" || EqualsIgnoreCase(a, origin); });
}

std::vector<std::pair<std::string, std::string>> CorsHeaders(const ServingContext& ctx,
                                                             const HttpRequest& request) {
  const std::string origin = RequestOrigin(request);
  if (!OriginAllowed(ctx.allowed_origins, origin)) return {};
  return {{"Access-Control-Allow-Origin", origin}, {"Vary", "Origin"}};
}

RouteResult Preflight(const ServingContext& ctx, const HttpRequest& request) {
  const std::string origin = RequestOrigin(request);
  std::string_view arg;
  if (FindRoute("POST", request.path, kServicePlane, &arg) == nullptr &&
      FindRoute("GET", request.path, kServicePlane, &arg) == nullptr) {
    return Fail(404, "Route OPTIONS " + request.path + " not found.");
  }
  if (!OriginAllowed(ctx.allowed_origins, origin)) {
    return Fail(403, "Origin " + (origin.empty() ? std::string("(none)") : origin) +
                         " is not allowed; add it to ServerConfig.allowedOrigins");
  }
  HttpResponse r;
  r.status = 204;
  r.headers = {{"Access-Control-Allow-Origin", origin},
               {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
               {"Access-Control-Allow-Headers", "Authorization, Content-Type"},
               {"Access-Control-Max-Age", "600"},
               {"Vary", "Origin"}};
  RouteResult result;
  result.response = std::move(r);
  return result;
}

}  // namespace mies::server
