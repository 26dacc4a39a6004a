// The handlers the route table (routes.cc) calls, one per route or route family, and the helpers
// they share (adapters.cc). Internal to mies_server_api; the router is the public face.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/generation_params.h"
#include "server/http_message.h"
#include "server/request_parsing.h"
#include "server/router.h"
#include "server/serving_context.h"

namespace mies::server {

// --- shared helpers -------------------------------------------------------------------------
RouteResult Reply(HttpResponse response);
RouteResult Fail(int status, const std::string& message, ErrorStyle style = ErrorStyle::kMindIe);
RouteResult FailWith(const Status& status, ErrorStyle style = ErrorStyle::kMindIe);
// The text of one token, as clients see it in logprobs and token lists.
std::string TokenText(const ServingContext& ctx, int32_t id);
// Encodes a prompt text (422 on bad UTF-8 or an empty result).
StatusOr<std::vector<int32_t>> EncodeText(const ServingContext& ctx, const std::string& text,
                                          bool add_special_tokens);
// "length" | "stop" (OpenAI vocabulary) and "length" | "eos_token" | "stop_sequence" (MindIE's).
const char* OpenAiFinishReason(engine::FinishReason reason);
const char* MindIeFinishReason(engine::FinishReason reason);
int64_t UnixNow();

// --- OpenAI / vLLM (openai_api.cc) ----------------------------------------------------------
// `body_text`: the body as sent, read again where key order matters (JSON schemas, the tools
// and messages a chat template prints); empty: `body` alone.
RouteResult HandleChatCompletions(ServingContext& ctx, const nlohmann::json& body,
                                  std::string_view body_text = {});
RouteResult HandleCompletions(ServingContext& ctx, const nlohmann::json& body,
                              std::string_view body_text = {});
RouteResult HandleModelList(ServingContext& ctx);
RouteResult HandleModelCard(ServingContext& ctx, const std::string& model);
RouteResult HandleTokenize(ServingContext& ctx, const nlohmann::json& body);
RouteResult HandleDetokenize(ServingContext& ctx, const nlohmann::json& body);

// --- TGI, vLLM /generate, MindIE native, Triton (text_apis.cc) ------------------------------
enum class TgiRoute { kRoot, kGenerate, kGenerateStream };
RouteResult HandleTgi(ServingContext& ctx, const nlohmann::json& body, TgiRoute route,
                      std::string_view body_text = {});
RouteResult HandleVllmGenerate(ServingContext& ctx, const nlohmann::json& body,
                               std::string_view body_text = {});
RouteResult HandleNativeInfer(ServingContext& ctx, const nlohmann::json& body);
RouteResult HandleNativeTokenizer(ServingContext& ctx, const nlohmann::json& body);
RouteResult HandleTritonGenerate(ServingContext& ctx, const nlohmann::json& body, bool stream);
RouteResult HandleTritonInfer(ServingContext& ctx, const nlohmann::json& body);
RouteResult HandleStopInfer(ServingContext& ctx, const nlohmann::json& body);
RouteResult HandleTritonServer(ServingContext& ctx);
RouteResult HandleTritonModel(ServingContext& ctx);
RouteResult HandleTritonModelConfig(ServingContext& ctx);

// --- management and metrics planes (management_api.cc) --------------------------------------
// MindIE's answer to every health probe while a node of the cluster is unreachable; nullopt when
// none is (or the service is not ready or stopped).
std::optional<RouteResult> AbnormalNodeAnswer(ServingContext& ctx);
RouteResult HandleMetrics(ServingContext& ctx);
RouteResult HandleHealth(ServingContext& ctx);
// /health/timed[-N]: a one-token generation that must finish within N (default 10) seconds.
RouteResult HandleHealthTimed(ServingContext& ctx, const std::string& wait_s);
RouteResult HandleV2Health(ServingContext& ctx);
RouteResult HandleModelReady(ServingContext& ctx);
RouteResult HandleSlotCount(ServingContext& ctx);
RouteResult HandleInfo(ServingContext& ctx);
RouteResult HandleConfig(ServingContext& ctx);
RouteResult HandleStatus(ServingContext& ctx, bool v2);
RouteResult HandleMetricsJson(ServingContext& ctx, const std::string& listener_address);
RouteResult HandleStopService(ServingContext& ctx, const std::string& query);
// The console: GET /v1/cluster (model, layout, nodes, state, events, service URL), its files
// (console_assets.h; "" is the page) and GET / redirecting to /console.
RouteResult HandleCluster(ServingContext& ctx);
RouteResult HandleConsoleFile(const std::string& name);
RouteResult HandleConsoleRoot();
// The one-node snapshot of a server that is not a cluster's master (state "single").
ClusterSnapshot SingleNodeSnapshot(const ServingContext& ctx, const std::string& address);

}  // namespace mies::server
