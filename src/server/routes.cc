#include "server/routes.h"

#include <algorithm>

#include "server/adapters.h"

namespace mies::server {

namespace {

constexpr unsigned kService = kServicePlane;
constexpr unsigned kManagement = kManagementPlane;
constexpr unsigned kMetrics = kMetricsPlane;
constexpr unsigned kGeneration = kJsonBody | kGenerates;

std::string Arg(const RouteCall& c) { return std::string(c.path_arg); }

// At most one row matches a method, path and plane.
const Route kRoutes[] = {
    // Metrics plane.
    {"metrics", "GET", kMetrics, "/metrics", 0,
     [](const RouteCall& c) { return HandleMetrics(c.ctx); }},

    // Management plane.
    {"health", "GET", kManagement, "/health", 0,
     [](const RouteCall& c) { return HandleHealth(c.ctx); }},
    {"health_timed", "GET", kManagement, "/health/timed", 0,
     [](const RouteCall& c) { return HandleHealthTimed(c.ctx, ""); }},
    {"health_timed_n", "GET", kManagement, "/health/timed-{*}", 0,
     [](const RouteCall& c) { return HandleHealthTimed(c.ctx, Arg(c)); }},
    {"health_live", "GET", kManagement, "/v2/health/live", 0,
     [](const RouteCall& c) { return HandleV2Health(c.ctx); }},
    {"health_ready", "GET", kManagement, "/v2/health/ready", 0,
     [](const RouteCall& c) { return HandleV2Health(c.ctx); }},
    {"model_ready", "GET", kManagement, "/v2/models/{model}/ready", kModelInPath,
     [](const RouteCall& c) { return HandleModelReady(c.ctx); }},
    {"slot_count", "GET", kManagement, "/v2/models/{model}/getSlotCount", kModelInPath,
     [](const RouteCall& c) { return HandleSlotCount(c.ctx); }},
    {"config", "GET", kManagement, "/v1/config", 0,
     [](const RouteCall& c) { return HandleConfig(c.ctx); }},
    {"status", "GET", kManagement, "/v1/status", 0,
     [](const RouteCall& c) { return HandleStatus(c.ctx, /*v2=*/false); }},
    {"status_v2", "GET", kManagement, "/v2/status", 0,
     [](const RouteCall& c) { return HandleStatus(c.ctx, /*v2=*/true); }},
    {"metrics_json", "GET", kManagement, "/metrics-json", 0,
     [](const RouteCall& c) { return HandleMetricsJson(c.ctx, c.listener_address); }},
    {"stop_service", "GET", kManagement, "/stopService", 0,
     [](const RouteCall& c) { return HandleStopService(c.ctx, c.request.query); }},
    // The console (mies): the cluster's state as JSON, the page and its files.
    {"cluster", "GET", kManagement, "/v1/cluster", 0,
     [](const RouteCall& c) { return HandleCluster(c.ctx); }},
    {"console", "GET", kManagement, "/console", 0,
     [](const RouteCall&) { return HandleConsoleFile(""); }},
    {"console_file", "GET", kManagement, "/console/{*}", 0,
     [](const RouteCall& c) { return HandleConsoleFile(Arg(c)); }},
    // GET / only: POST / is TGI's on the service plane (planes may share one listener).
    {"console_root", "GET", kManagement, "/", 0,
     [](const RouteCall&) { return HandleConsoleRoot(); }},
    // TGI's /info: on the management plane and the service plane.
    {"info", "GET", kManagement | kService, "/info", 0,
     [](const RouteCall& c) { return HandleInfo(c.ctx); }},

    // Service plane, reads.
    {"models", "GET", kService, "/v1/models", 0,
     [](const RouteCall& c) { return HandleModelList(c.ctx); }},
    {"model_card", "GET", kService, "/v1/models/{model}", 0,
     [](const RouteCall& c) { return HandleModelCard(c.ctx, Arg(c)); }},
    {"triton_server", "GET", kService, "/v2", 0,
     [](const RouteCall& c) { return HandleTritonServer(c.ctx); }},
    {"triton_model", "GET", kService, "/v2/models/{model}", kModelInPath,
     [](const RouteCall& c) { return HandleTritonModel(c.ctx); }},
    {"triton_model_config", "GET", kService, "/v2/models/{model}/config", kModelInPath,
     [](const RouteCall& c) { return HandleTritonModelConfig(c.ctx); }},

    // Service plane, JSON bodies.
    {"tgi_root", "POST", kService, "/", kGeneration,
     [](const RouteCall& c) { return HandleTgi(c.ctx, *c.body, TgiRoute::kRoot, c.request.body); }},
    // vLLM's /generate takes `prompt`, TGI's `inputs`.
    {"generate", "POST", kService, "/generate", kGeneration,
     [](const RouteCall& c) {
       if (c.body->contains("prompt")) return HandleVllmGenerate(c.ctx, *c.body, c.request.body);
       return HandleTgi(c.ctx, *c.body, TgiRoute::kGenerate, c.request.body);
     }},
    {"generate_stream", "POST", kService, "/generate_stream", kGeneration,
     [](const RouteCall& c) {
       return HandleTgi(c.ctx, *c.body, TgiRoute::kGenerateStream, c.request.body);
     }},
    {"chat_completions", "POST", kService, "/v1/chat/completions", kGeneration | kOpenAiErrors,
     [](const RouteCall& c) { return HandleChatCompletions(c.ctx, *c.body, c.request.body); }},
    {"completions", "POST", kService, "/v1/completions", kGeneration | kOpenAiErrors,
     [](const RouteCall& c) { return HandleCompletions(c.ctx, *c.body, c.request.body); }},
    {"infer", "POST", kService, "/infer", kGeneration,
     [](const RouteCall& c) { return HandleNativeInfer(c.ctx, *c.body); }},
    {"infer_token", "POST", kService, "/infer_token", kGeneration,
     [](const RouteCall& c) { return HandleNativeInfer(c.ctx, *c.body); }},
    {"tokenizer", "POST", kService, "/v1/tokenizer", kJsonBody,
     [](const RouteCall& c) { return HandleNativeTokenizer(c.ctx, *c.body); }},
    {"tokenize", "POST", kService, "/tokenize", kJsonBody | kOpenAiErrors,
     [](const RouteCall& c) { return HandleTokenize(c.ctx, *c.body); }},
    {"detokenize", "POST", kService, "/detokenize", kJsonBody | kOpenAiErrors,
     [](const RouteCall& c) { return HandleDetokenize(c.ctx, *c.body); }},
    {"triton_infer", "POST", kService, "/v2/models/{model}/infer", kGeneration | kModelInPath,
     [](const RouteCall& c) { return HandleTritonInfer(c.ctx, *c.body); }},
    {"triton_generate", "POST", kService, "/v2/models/{model}/generate", kGeneration | kModelInPath,
     [](const RouteCall& c) { return HandleTritonGenerate(c.ctx, *c.body, /*stream=*/false); }},
    {"triton_generate_stream", "POST", kService, "/v2/models/{model}/generate_stream",
     kGeneration | kModelInPath,
     [](const RouteCall& c) { return HandleTritonGenerate(c.ctx, *c.body, /*stream=*/true); }},
    {"stop_infer", "POST", kService, "/v2/models/{model}/stopInfer", kJsonBody | kModelInPath,
     [](const RouteCall& c) { return HandleStopInfer(c.ctx, *c.body); }},
};

bool IsModelNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

bool MatchPattern(std::string_view pattern, std::string_view path, std::string_view* arg) {
  const size_t open = pattern.find('{');
  if (open == std::string_view::npos) {
    *arg = {};
    return pattern == path;
  }
  const size_t close = pattern.find('}', open);
  const std::string_view prefix = pattern.substr(0, open);
  const std::string_view placeholder = pattern.substr(open, close + 1 - open);
  const std::string_view suffix = pattern.substr(close + 1);
  if (path.size() < prefix.size() + suffix.size() || !path.starts_with(prefix) ||
      !path.ends_with(suffix)) {
    return false;
  }
  const std::string_view middle =
      path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
  if (placeholder == "{model}" &&
      (middle.empty() || !std::all_of(middle.begin(), middle.end(), IsModelNameChar))) {
    return false;
  }
  *arg = middle;
  return true;
}

}  // namespace

std::span<const Route> RouteTable() { return kRoutes; }

const Route* FindRoute(std::string_view method, std::string_view path, unsigned planes,
                       std::string_view* path_arg) {
  for (const Route& route : kRoutes) {
    if ((route.planes & planes) != 0 && route.method == method &&
        MatchPattern(route.pattern, path, path_arg)) {
      return &route;
    }
  }
  return nullptr;
}

bool IsHealthProbePath(std::string_view path) {
  return path == "/health" || path == "/v2/health/live" || path == "/v2/health/ready" ||
         (path.starts_with("/v2/models/") && path.ends_with("/ready"));
}

}  // namespace mies::server
