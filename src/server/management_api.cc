// Management plane (health, readiness, slots, config, status, stopService, /info,
// /metrics-json) and the metrics plane (/metrics), shapes as MINDIE-REFERENCE section 2.4/5.2.
#include <cstdlib>
#include <regex>

#include "server/adapters.h"

namespace mies::server {

using nlohmann::json;

namespace {

// A synthetic one-token generation whose success answers {"status":"healthy"}.
class HealthProbeFormatter : public Formatter {
 public:
  bool stream() const override { return false; }
  std::string OnOutput(const engine::RequestOutput&) override { return ""; }
  std::string Finish() override { return R"({"status":"healthy"})"; }
};

HttpResponse Empty(int status) {
  HttpResponse r;
  r.status = status;
  return r;
}

bool Healthy(const ServingContext& ctx, const engine::EngineStats& stats) {
  return ctx.ready && stats.healthy;
}

RouteResult HealthTimed(ServingContext& ctx, const std::string& suffix) {
  int seconds = 10;
  if (!suffix.empty()) {
    if (suffix.size() > 3) {
      return Fail(404, "Max wait time is 600, input is invalid or too long");
    }
    static const std::regex digits("^[0-9]+$");
    if (!std::regex_match(suffix, digits)) {
      return Fail(404, "Wait time should be in range of [1, 600], input is not valid");
    }
    seconds = std::stoi(suffix);
    if (seconds < 1 || seconds > 600) {
      return Fail(404, "Wait time should be in range of [1, 600], input is not valid");
    }
  }
  if (ctx.stopped) return Reply(JsonResponse(200, R"({"status":"healthy"})"));
  GenerationJob job;
  job.request.request_id = ctx.NewRequestId();
  int32_t probe = ctx.tokenizer->bos_id().value_or(0);
  job.request.prompt_ids = {probe};
  job.request.stop.max_tokens = 1;
  job.request.stop.ignore_eos = true;
  job.public_id = job.request.request_id;
  job.timeout_s = seconds;
  job.prompt_tokens = 1;
  job.formatter = std::make_unique<HealthProbeFormatter>();
  RouteResult r;
  r.job = std::move(job);
  return r;
}

}  // namespace

RouteResult HandleManagement(ServingContext& ctx, const HttpRequest& req,
                             const std::string& listener_address, bool* matched) {
  *matched = true;
  const std::string& path = req.path;
  const engine::EngineStats stats = ctx.engine->Stats();
  if (req.method != "GET") {
    *matched = false;
    return {};
  }
  // MindIE's answer on every health route while a node of the cluster is unreachable.
  const bool health_route = path == "/health" || path == "/v2/health/live" ||
                            path == "/v2/health/ready" ||
                            (path.rfind("/v2/models/", 0) == 0 && path.size() > 6 &&
                             path.compare(path.size() - 6, 6, "/ready") == 0);
  if (health_route && ctx.ready && !ctx.stopped && !stats.abnormal_nodes.empty()) {
    nlohmann::json body = {{"message", "Abnormal node detected"},
                           {"no_contact_node", stats.abnormal_nodes}};
    return Reply(JsonResponse(500, body.dump()));
  }
  if (path == "/health") {
    if (!ctx.ready || ctx.stopped) return Reply(Empty(503));
    if (!stats.healthy) return Fail(500, "Failed to get health status. " + stats.unhealthy_reason);
    return Reply(Empty(200));
  }
  if (path == "/health/timed") return HealthTimed(ctx, "");
  if (path.rfind("/health/timed-", 0) == 0) return HealthTimed(ctx, path.substr(14));
  if (path == "/v2/health/live" || path == "/v2/health/ready") {
    if (!ctx.ready || ctx.stopped) return Reply(Empty(503));
    if (!Healthy(ctx, stats)) {
      return Reply(JsonResponse(500, R"({"message":"Service is abnormal"})"));
    }
    return Reply(Empty(200));
  }
  static const std::regex model_route(R"(^/v2/models/([\w\-.]+)/(ready|getSlotCount)$)");
  std::smatch m;
  if (std::regex_match(path, m, model_route)) {
    if (m[1] != ctx.model.name) {
      return Fail(404, "Model " + m[1].str() + " not found.", ErrorStyle::kMindIe);
    }
    if (m[2] == "ready") {
      if (!ctx.ready || ctx.stopped) return Reply(Empty(503));
      if (!stats.healthy) return Fail(500, "Failed to get health status.");
      return Reply(Empty(200));
    }
    int64_t processing = stats.running + stats.waiting;
    int64_t free_blocks = std::max<int64_t>(0, stats.kv_blocks_total - stats.kv_blocks_used);
    json body = {{"total_slots", ctx.model.max_batch_size},
                 {"free_slots", std::max<int64_t>(0, ctx.model.max_batch_size - processing)},
                 {"available_tokens_length", free_blocks * ctx.model.cache_block_size}};
    return Reply(JsonResponse(200, body.dump()));
  }
  if (path == "/info") {
    if (!ctx.ready) return Reply(Empty(503));
    json body = {{"docker_label", nullptr},
                 {"max_batch_total_tokens", ctx.model.max_prefill_tokens},
                 {"max_best_of", 1},
                 {"max_concurrent_requests", ctx.model.max_batch_size},
                 {"max_stop_sequences", nullptr},
                 {"max_waiting_tokens", nullptr},
                 {"sha", nullptr},
                 {"validation_workers", nullptr},
                 {"version", ctx.version},
                 {"waiting_served_ratio", nullptr},
                 {"models", json::array({{{"model_device_type", "cpu"},
                                          {"model_dtype", ctx.model.torch_dtype},
                                          {"model_id", ctx.model.name},
                                          {"model_pipeline_tag", "text-generation"},
                                          {"model_sha", nullptr},
                                          {"max_total_tokens", ctx.model.max_seq_len}}})},
                 {"max_input_length", ctx.model.max_input_tokens}};
    return Reply(JsonResponse(200, body.dump()));
  }
  if (path == "/v1/config") {
    json body = {{"modelName", ctx.model.name},
                 {"maxSeqLen", ctx.model.max_seq_len},
                 {"npuMemSize", ctx.model.npu_mem_size},
                 {"cpuMemSize", ctx.model.cpu_mem_size},
                 {"worldSize", ctx.model.world_size},
                 {"maxOutputLen", ctx.model.max_iter_times},
                 {"cacheBlockSize", ctx.model.cache_block_size}};
    return Reply(JsonResponse(200, body.dump()));
  }
  if (path == "/v1/status" || path == "/v2/status") {
    if (!ctx.ready) return Reply(Empty(503));
    int64_t free_blocks = std::max<int64_t>(0, stats.kv_blocks_total - stats.kv_blocks_used);
    int64_t processing = stats.running + stats.waiting;
    json resource = {{"availSlotsNum", std::max<int64_t>(0, ctx.model.max_batch_size - processing)},
                     {"availBlockNum", free_blocks},
                     {"waitingRequestNum", stats.waiting},
                     {"runningRequestNum", stats.running},
                     {"swappedRequestNum", 0},
                     {"freeNpuBlockNums", free_blocks},
                     {"freeCpuBlockNums", 0},
                     {"totalNpuBlockNums", stats.kv_blocks_total},
                     {"totalCpuBlockNums", 0}};
    json body = {{"service", {{"roleStatus", "RoleReady"}, {"currentRole", "none"}}},
                 {"resource", resource},
                 {"linkStatus", {{"peers", json::array()}}}};
    if (path == "/v2/status") {
      body["resource"]["totalAvailNpuSlotsNum"] = resource["availSlotsNum"];
      body["resource"]["totalAvailNpuBlockNum"] = free_blocks;
      body["resource"]["maxAvailNpuBlockNum"] = free_blocks;
      body["resource"]["dpInstMap"] = json::object();
    }
    return Reply(JsonResponse(200, body.dump()));
  }
  if (path == "/metrics-json") {
    return Reply(JsonResponse(200, ctx.metrics->RenderJson(stats, listener_address)));
  }
  if (path == "/stopService") {
    if (ctx.stopped.exchange(true)) return Reply(Empty(500));
    RouteResult r = Reply(Empty(200));
    r.action = req.query.find("mode=Force") != std::string::npos ? ServiceAction::kStopServiceForce
                                                                 : ServiceAction::kStopService;
    return r;
  }
  *matched = false;
  return {};
}

}  // namespace mies::server
