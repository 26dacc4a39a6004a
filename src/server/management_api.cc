// The handlers of the management plane (health, readiness, slots, config, status, stopService,
// /info, /metrics-json) and of the metrics plane (/metrics), shapes as MINDIE-REFERENCE section
// 2.4/5.2. The route table (routes.cc) says which path and plane reaches each.
#include <chrono>
#include <cstdlib>
#include <regex>

#include "server/adapters.h"
#include "server/console_assets.h"

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

}  // namespace

std::optional<RouteResult> AbnormalNodeAnswer(ServingContext& ctx) {
  if (!ctx.ready || ctx.stopped) return std::nullopt;
  const engine::EngineStats stats = ctx.engine->Stats();
  if (stats.abnormal_nodes.empty()) return std::nullopt;
  json body = {{"message", "Abnormal node detected"}, {"no_contact_node", stats.abnormal_nodes}};
  return Reply(JsonResponse(500, body.dump()));
}

RouteResult HandleMetrics(ServingContext& ctx) {
  if (!ctx.monitor_mode) {
    return Fail(500, "Environment variable MIES_SERVICE_MONITOR_MODE is not set.");
  }
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = ctx.metrics->RenderPrometheus(ctx.engine->Stats());
  return Reply(std::move(r));
}

RouteResult HandleHealth(ServingContext& ctx) {
  const engine::EngineStats stats = ctx.engine->Stats();
  if (!ctx.ready || ctx.stopped) return Reply(Empty(503));
  if (!stats.healthy) return Fail(500, "Failed to get health status. " + stats.unhealthy_reason);
  return Reply(Empty(200));
}

RouteResult HandleHealthTimed(ServingContext& ctx, const std::string& wait_s) {
  int seconds = 10;
  if (!wait_s.empty()) {
    if (wait_s.size() > 3) {
      return Fail(404, "Max wait time is 600, input is invalid or too long");
    }
    static const std::regex digits("^[0-9]+$");
    if (!std::regex_match(wait_s, digits)) {
      return Fail(404, "Wait time should be in range of [1, 600], input is not valid");
    }
    seconds = std::stoi(wait_s);
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

RouteResult HandleV2Health(ServingContext& ctx) {
  const engine::EngineStats stats = ctx.engine->Stats();
  if (!ctx.ready || ctx.stopped) return Reply(Empty(503));
  if (!Healthy(ctx, stats)) {
    return Reply(JsonResponse(500, R"({"message":"Service is abnormal"})"));
  }
  return Reply(Empty(200));
}

RouteResult HandleModelReady(ServingContext& ctx) {
  const engine::EngineStats stats = ctx.engine->Stats();
  if (!ctx.ready || ctx.stopped) return Reply(Empty(503));
  if (!stats.healthy) return Fail(500, "Failed to get health status.");
  return Reply(Empty(200));
}

RouteResult HandleSlotCount(ServingContext& ctx) {
  const engine::EngineStats stats = ctx.engine->Stats();
  int64_t processing = stats.running + stats.waiting;
  int64_t free_blocks = std::max<int64_t>(0, stats.kv_blocks_total - stats.kv_blocks_used);
  json body = {{"total_slots", ctx.model.max_batch_size},
               {"free_slots", std::max<int64_t>(0, ctx.model.max_batch_size - processing)},
               {"available_tokens_length", free_blocks * ctx.model.cache_block_size}};
  return Reply(JsonResponse(200, body.dump()));
}

RouteResult HandleInfo(ServingContext& ctx) {
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

RouteResult HandleConfig(ServingContext& ctx) {
  json body = {{"modelName", ctx.model.name},
               {"maxSeqLen", ctx.model.max_seq_len},
               {"npuMemSize", ctx.model.npu_mem_size},
               {"cpuMemSize", ctx.model.cpu_mem_size},
               {"worldSize", ctx.model.world_size},
               {"maxOutputLen", ctx.model.max_iter_times},
               {"cacheBlockSize", ctx.model.cache_block_size}};
  return Reply(JsonResponse(200, body.dump()));
}

RouteResult HandleStatus(ServingContext& ctx, bool v2) {
  const engine::EngineStats stats = ctx.engine->Stats();
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
  // mies extension: what this node runs on (CPU budget, threads, the reserved KV pool).
  const engine::ExecutorResources& res = ctx.resources;
  body["resources"] = {{"cpuBudget", res.cpu_budget},
                       {"localRanks", res.local_ranks},
                       {"threadsPerRank", res.threads_per_rank},
                       {"cpuBindCores", res.pinned},
                       {"kvPoolBytesPerRank", res.kv_pool_bytes_per_rank},
                       {"kvCacheReserve", res.kv_reserve}};
  if (v2) {
    body["resource"]["totalAvailNpuSlotsNum"] = resource["availSlotsNum"];
    body["resource"]["totalAvailNpuBlockNum"] = free_blocks;
    body["resource"]["maxAvailNpuBlockNum"] = free_blocks;
    body["resource"]["dpInstMap"] = json::object();
  }
  return Reply(JsonResponse(200, body.dump()));
}

RouteResult HandleMetricsJson(ServingContext& ctx, const std::string& listener_address) {
  return Reply(JsonResponse(200, ctx.metrics->RenderJson(ctx.engine->Stats(), listener_address)));
}

ClusterSnapshot SingleNodeSnapshot(const ServingContext& ctx, const std::string& address) {
  ClusterSnapshot snap;
  snap.state = "single";
  ClusterNodeView node;
  node.address = address;
  node.role = "master";
  for (int r = 0; r < std::max(1, ctx.layout.world_size); ++r) node.ranks.push_back(r);
  if (ctx.config != nullptr && !ctx.config->backend.npu_device_ids.empty()) {
    for (const auto& group : ctx.config->backend.npu_device_ids) {
      node.device_ids.insert(node.device_ids.end(), group.begin(), group.end());
    }
  } else {
    node.device_ids = node.ranks;
  }
  node.status = ctx.ready && !ctx.stopped ? "healthy" : "joining";
  snap.nodes.push_back(std::move(node));
  return snap;
}

RouteResult HandleCluster(ServingContext& ctx) {
  ClusterSnapshot snap = ctx.cluster_view ? ctx.cluster_view() : SingleNodeSnapshot(ctx, "");
  const ModelLayout& l = ctx.layout;
  json model = {{"name", ctx.model.name},
                {"architecture", l.architecture.empty() ? json(nullptr) : json(l.architecture)},
                {"dtype", l.dtype.empty() ? ctx.model.torch_dtype : l.dtype},
                {"worldSize", l.world_size},
                {"tp", l.tp},
                {"moe", l.moe},
                {"expertParallel", l.moe_ep > 1},
                {"moeEp", l.moe_ep},
                {"kvBlocksPerRank", l.num_kv_blocks},
                {"blockSize", l.block_size},
                {"kvPoolBytesPerRank", ctx.resources.kv_pool_bytes_per_rank},
                {"maxSeqLen", ctx.model.max_seq_len}};
  json nodes = json::array();
  for (const ClusterNodeView& n : snap.nodes) {
    json node = {
        {"address", n.address},
        {"role", n.role},
        {"ranks", n.ranks},
        {"deviceIds", n.device_ids},
        {"status", n.status},
        {"msSinceHeartbeat", n.ms_since_heartbeat < 0 ? json(nullptr) : json(n.ms_since_heartbeat)},
        {"lostReason", n.lost_reason.empty() ? json(nullptr) : json(n.lost_reason)},
        {"rssBytes", n.rss_bytes == 0 ? json(nullptr) : json(n.rss_bytes)},
        {"kvPoolBytes",
         ctx.resources.kv_pool_bytes_per_rank * static_cast<int64_t>(n.ranks.size())}};
    nodes.push_back(std::move(node));
  }
  json events = json::array();
  for (const ClusterEventView& e : snap.events) {
    events.push_back({{"seq", e.seq},
                      {"time", e.unix_ms},
                      {"kind", e.kind},
                      {"error", e.error},
                      {"node", e.node.empty() ? json(nullptr) : json(e.node)},
                      {"message", e.message}});
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  json body = {{"model", model},
               {"state", snap.state},
               {"epoch", snap.epoch},
               {"nodes", nodes},
               {"serviceUrl", ctx.service_url.empty() ? json(nullptr) : json(ctx.service_url)},
               {"events", events},
               {"version", ctx.version},
               {"time", now_ms}};
  HttpResponse r = JsonResponse(200, body.dump());
  r.headers.emplace_back("Cache-Control", "no-cache");
  return Reply(std::move(r));
}

RouteResult HandleConsoleFile(const std::string& name) {
  const EmbeddedFile* file = FindConsoleFile(name);
  if (file == nullptr) return Fail(404, "Route GET /console/" + name + " not found.");
  HttpResponse r;
  r.content_type = std::string(ConsoleContentType(file->name));
  r.body = std::string(file->body);
  r.headers = {{"Cache-Control", "no-cache"}, {"X-Content-Type-Options", "nosniff"}};
  return Reply(std::move(r));
}

RouteResult HandleConsoleRoot() {
  HttpResponse r;
  r.status = 302;
  r.headers = {{"Location", "/console"}, {"Cache-Control", "no-cache"}};
  return Reply(std::move(r));
}

RouteResult HandleStopService(ServingContext& ctx, const std::string& query) {
  if (ctx.stopped.exchange(true)) return Reply(Empty(500));
  RouteResult r = Reply(Empty(200));
  r.action = query.find("mode=Force") != std::string::npos ? ServiceAction::kStopServiceForce
                                                           : ServiceAction::kStopService;
  return r;
}

}  // namespace mies::server
