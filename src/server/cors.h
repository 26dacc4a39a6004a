// CORS on the service plane, so the console (served by the management plane, another origin)
// can call the inference APIs from a browser. A request whose Origin is allowed
// (ServingContext::allowed_origins: the management plane's own origin, plus
// ServerConfig.allowedOrigins, "*" for any) gets Access-Control-Allow-Origin: <origin> and
// Vary: Origin on its answer, streamed or not; OPTIONS preflights on the service plane are
// answered here (204), before any route or authentication.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/http_message.h"
#include "server/router.h"
#include "server/serving_context.h"

namespace mies::server {

// The request's Origin header ("" when absent).
std::string RequestOrigin(const HttpRequest& request);

// True when `origin` is one of `allowed` (exact, case-insensitive) or `allowed` holds "*".
bool OriginAllowed(const std::vector<std::string>& allowed, std::string_view origin);

// The headers an answer to `request` carries on the service plane: empty unless its Origin is
// allowed.
std::vector<std::pair<std::string, std::string>> CorsHeaders(const ServingContext& ctx,
                                                             const HttpRequest& request);

// OPTIONS <path> on the service plane: 204 with the allowed methods and headers when the
// Origin is allowed and some route serves the path; 403 naming allowedOrigins when the Origin
// is not allowed; 404 when no route serves the path.
RouteResult Preflight(const ServingContext& ctx, const HttpRequest& request);

}  // namespace mies::server
