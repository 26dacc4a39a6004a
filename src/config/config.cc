#include "config/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_check.h"
#include "common/json_depth.h"
#include "config/json_reader.h"
#include "config/tls_planes.h"

namespace mies::config {
namespace {

constexpr int64_t kPortMin = 1024;
constexpr int64_t kPortMax = 65535;

std::string StripBrackets(const std::string& ip) {
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') return ip.substr(1, ip.size() - 2);
  return ip;
}

// Reads one plane's TLS material under the plane's keys, defaulting to MindIE's values. A
// plane without a CA directory key leaves ca_path empty (its CA files are in tlsCaPath).
TlsMaterial ReadTls(JsonReader& r, TlsPlane plane, Presence presence) {
  const TlsPlaneSpec& spec = TlsPlaneOf(plane);
  const TlsPlaneKeys& k = spec.keys;
  const TlsMaterial def = DefaultTlsMaterial(spec);
  TlsMaterial t;
  if (k.ca_path != nullptr) t.ca_path = r.String(k.ca_path, presence, def.ca_path);
  t.ca_files = r.StringList(k.ca_files, presence, def.ca_files, kMinCaFiles, kMaxCaFiles);
  t.cert = r.String(k.cert, presence, def.cert);
  t.key = r.String(k.key, presence, def.key);
  t.crl_path = r.String(k.crl_path, kOptional, def.crl_path);
  t.crl_files = r.StringList(k.crl_files, kOptional, def.crl_files, 0, kMaxCrlFiles);
  // Older deployments name the password file of an encrypted key; it is honoured when present.
  t.key_password_file = r.String(k.key_password, kOptional, "");
  for (const char* removed : k.removed) r.Accept(removed);
  return t;
}

// Compulsory when the plane is on: `switches` holds what the section read so far decides.
Presence TlsPresence(TlsPlane plane, const TlsSwitches& switches) {
  return PlaneOn(TlsPlaneOf(plane), switches) ? kRequired : kOptional;
}

void CheckIp(JsonReader& r, const std::string& key, const std::string& ip, bool allow_all_zero,
             const std::string& source) {
  if (!IsValidIp(ip)) {
    r.Error(key, absl::StrCat("\"", ip, "\"", source, " is not a valid IPv4 or IPv6 address"));
  } else if (IsAllZeroAddress(ip) && !allow_all_zero) {
    r.Error(key, absl::StrCat("\"", ip, "\"", source,
                              " listens on every interface; set "
                              "ServerConfig.allowAllZeroIpListening=true to allow it"));
  }
}

ServerConfig ReadServer(JsonReader r, const Environment& env) {
  ServerConfig s;
  s.ip_address = r.String("ipAddress", kRequired, s.ip_address, 64);
  s.management_ip_address = r.String("managementIpAddress", kOptional, "", 64);
  s.port = static_cast<int>(r.Int("port", kRequired, s.port, kPortMin, kPortMax));
  bool has_mgmt_port = r.Has("managementPort");
  s.management_port =
      static_cast<int>(r.Int("managementPort", kOptional, s.port, kPortMin, kPortMax));
  if (!has_mgmt_port) s.management_port = s.port;
  s.metrics_port =
      static_cast<int>(r.Int("metricsPort", kRequired, s.metrics_port, kPortMin, kPortMax));
  s.allow_all_zero_ip_listening = r.Bool("allowAllZeroIpListening", kRequired, false);
  s.max_link_num = static_cast<int>(r.Int("maxLinkNum", kRequired, s.max_link_num, 1, 4096));
  s.https_enabled = r.Bool("httpsEnabled", kRequired, s.https_enabled);
  s.full_text_enabled = r.Bool("fullTextEnabled", kOptional, false);
  s.tls_min_version = r.String("tlsMinVersion", kOptional, s.tls_min_version, 8);
  if (s.tls_min_version != "1.2" && s.tls_min_version != "1.3") {
    r.Error("tlsMinVersion",
            absl::StrCat("\"", s.tls_min_version, "\" is not one of \"1.2\", \"1.3\""));
  }
  s.api_key_file = r.String("apiKeyFile", kOptional, "");

  // The HTTP planes' material is compulsory as MindIE's code has it (TlsPlaneSwitch): the
  // service plane's whenever HTTPS is on, management/metrics unless the three planes share one
  // listener. Management and metrics CA files live in the service plane's tlsCaPath.
  std::string mgmt_ip_env = env.Get("MIES_CONTAINER_MANAGEMENT_IP").value_or("");
  std::string ip_env = env.Get("MIES_CONTAINER_IP").value_or("");
  std::string eff_ip = ip_env.empty() ? s.ip_address : ip_env;
  std::string eff_mgmt = !mgmt_ip_env.empty()
                             ? mgmt_ip_env
                             : (s.management_ip_address.empty() ? eff_ip : s.management_ip_address);
  const TlsSwitches switches{.https = s.https_enabled,
                             .http_planes_merged = eff_ip == eff_mgmt &&
                                                   s.port == s.management_port &&
                                                   s.port == s.metrics_port};
  for (TlsPlane plane : {TlsPlane::kService, TlsPlane::kManagement, TlsPlane::kMetrics}) {
    TlsMaterial& t = s.*TlsPlaneOf(plane).server_field;
    t = ReadTls(r, plane, TlsPresence(plane, switches));
    if (TlsPlaneOf(plane).keys.ca_path == nullptr) t.ca_path = s.service_tls.ca_path;
  }

  s.infer_mode = r.String("inferMode", kRequired, s.infer_mode);
  if (s.infer_mode != "standard" && s.infer_mode != "dmi") {
    r.Error("inferMode", absl::StrCat("\"", s.infer_mode, "\" is not one of standard, dmi"));
  } else if (s.infer_mode == "dmi") {
    r.Error("inferMode", "\"dmi\" (prefill/decode disaggregation) is not supported by mies yet");
  }
  s.inter_comm_tls_enabled = r.Bool("interCommTLSEnabled", kOptional, true);
  s.inter_comm_port =
      static_cast<int>(r.Int("interCommPort", kOptional, s.inter_comm_port, kPortMin, kPortMax));
  s.inter_comm_tls = ReadTls(r, TlsPlane::kInterComm, TlsPresence(TlsPlane::kInterComm, switches));
  s.open_ai_support = r.String("openAiSupport", kOptional, s.open_ai_support);
  s.token_timeout_s =
      static_cast<int>(r.Int("tokenTimeout", kRequired, s.token_timeout_s, 1, 3600));
  s.e2e_timeout_s = static_cast<int>(r.Int("e2eTimeout", kRequired, s.e2e_timeout_s, 1, 65535));
  s.max_request_length_mb =
      static_cast<int>(r.Int("maxRequestLength", kOptional, s.max_request_length_mb, 1, 100));
  s.max_json_depth = static_cast<int>(r.Int("maxJsonDepth", kOptional, s.max_json_depth, 10, 100));
  s.allowed_origins = r.StringList("allowedOrigins", kOptional, {}, 0, 64);
  {
    // A browser's Origin: scheme, host (a name, an IPv4 address or a bracketed IPv6 one) and an
    // optional port; no path, no trailing slash. "*" allows any origin.
    static const std::regex kOrigin(
        R"(^https?://([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$)");
    for (size_t i = 0; i < s.allowed_origins.size(); ++i) {
      const std::string& o = s.allowed_origins[i];
      if (o != "*" && !std::regex_match(o, kOrigin)) {
        r.Error(absl::StrCat("allowedOrigins[", i, "]"),
                absl::StrCat(
                    "\"", o,
                    "\" is not an origin: expected \"*\" or scheme://host[:port] with "
                    "scheme http or https and no path (e.g. \"https://console.example:8443\")"));
      }
    }
  }
  s.dist_dp_server_enabled = r.Bool("distDPServerEnabled", kOptional, false);
  if (s.dist_dp_server_enabled) {
    r.Error("distDPServerEnabled", "true (distributed DP server) is not supported by mies yet");
  }
  {
    JsonReader health = r.Object("HealthCheckConfig", kOptional);
    s.npu_usage_threshold = static_cast<int>(health.Int("npuUsageThreshold", kOptional, 0, 0, 100));
    health.ReportUnknown();
  }
  // Edge-cloud layer-wise split: parsed so that files carrying it load; must be off.
  if (r.Bool("layerwiseDisaggregated", kOptional, false)) {
    r.Error("layerwiseDisaggregated", "true (edge-cloud layer-wise split) is not supported");
  }
  for (const char* k : {"layerwiseDisaggregatedRoleType", "layerwiseDisaggregatedMasterIpAddress",
                        "layerwiseDisaggregatedSlaveIpAddress", "layerwiseDisaggregatedDataPort",
                        "layerwiseDisaggregatedCrtlPort"}) {
    r.Accept(k);
  }

  // Environment overrides, then address checks on the effective values.
  if (!ip_env.empty()) s.ip_address = ip_env;
  if (!mgmt_ip_env.empty()) s.management_ip_address = mgmt_ip_env;
  std::string ip_source = ip_env.empty() ? "" : " (from $MIES_CONTAINER_IP)";
  CheckIp(r, "ipAddress", s.ip_address, s.allow_all_zero_ip_listening, ip_source);
  if (!s.management_ip_address.empty()) {
    std::string src = mgmt_ip_env.empty() ? "" : " (from $MIES_CONTAINER_MANAGEMENT_IP)";
    CheckIp(r, "managementIpAddress", s.management_ip_address, s.allow_all_zero_ip_listening, src);
  }
  // A plane may share a port only with a plane on the same address that it merges with.
  if (s.EffectiveManagementIp() == s.ip_address && s.management_port != s.port &&
      s.metrics_port == s.port) {
    r.Error("metricsPort", absl::StrCat("value ", s.metrics_port,
                                        " collides with ServerConfig.port on the same address "
                                        "while managementPort (",
                                        s.management_port, ") differs"));
  }
  r.ReportUnknown();
  return s;
}

ModelConfig ReadModel(JsonReader r) {
  ModelConfig m;
  static const std::set<std::string> kTypes = {"Standard", "StandardMock", "TargetModel",
                                               "AssistantModel"};
  m.model_instance_type = r.String("modelInstanceType", kOptional, m.model_instance_type);
  if (!kTypes.count(m.model_instance_type)) {
    r.Error("modelInstanceType",
            absl::StrCat("\"", m.model_instance_type,
                         "\" is not one of Standard, StandardMock, TargetModel, AssistantModel"));
  } else if (m.model_instance_type != "Standard") {
    r.Error("modelInstanceType", absl::StrCat("\"", m.model_instance_type,
                                              "\" is not supported by mies yet (use Standard)"));
  }
  m.model_name = r.String("modelName", kRequired, "", 256);
  static const std::regex kName("^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,254}[a-zA-Z0-9])?$");
  if (r.Has("modelName") && !std::regex_match(m.model_name, kName)) {
    r.Error("modelName",
            absl::StrCat("\"", m.model_name,
                         "\" must match ^[a-zA-Z0-9_.-]{1,256}$ and start and end with a letter "
                         "or digit"));
  }
  m.weight_source = r.String("weightSource", kOptional, m.weight_source);
  if (m.weight_source != "local" && m.weight_source != "master") {
    r.Error("weightSource",
            absl::StrCat("\"", m.weight_source,
                         "\" is not one of local (every node reads modelWeightPath), master (the "
                         "slaves fetch the model from the master)"));
  }
  m.weight_cache_path = r.String("weightCachePath", kOptional, "");
  // With weights from the master a slave needs no modelWeightPath (only the master reads it).
  const bool from_master = m.weight_source == "master";
  m.model_weight_path = r.String("modelWeightPath", from_master ? kOptional : kRequired, "");
  if (r.Has("modelWeightPath") && m.model_weight_path.empty() && !from_master) {
    r.Error("modelWeightPath",
            "must not be empty (a slave without the model sets weightSource \"master\")");
  }
  m.world_size = static_cast<int>(r.Int("worldSize", kRequired, m.world_size, 1, 1 << 20));
  m.cpu_mem_size_gb = static_cast<int>(r.Int("cpuMemSize", kRequired, 0, 0, INT32_MAX));
  m.npu_mem_size_gb = static_cast<int>(r.Int("npuMemSize", kRequired, -1, -1, INT32_MAX));
  if (m.npu_mem_size_gb == 0) {
    r.Error("npuMemSize", "value 0 is not allowed; use -1 (automatic) or a size in GB");
  }
  m.backend_type = r.String("backendType", kRequired, m.backend_type);
  if (m.backend_type != "atb" && m.backend_type != "torch" && m.backend_type != "ms") {
    r.Error("backendType", absl::StrCat("\"", m.backend_type, "\" is not one of atb, torch, ms"));
  }
  m.trust_remote_code = r.Bool("trustRemoteCode", kRequired, false);
  m.dtype = r.String("dtype", kOptional, m.dtype);
  static const std::set<std::string> kDtypes = {"auto", "float32", "bfloat16", "float16",
                                                "int8", "int4",    "int4-g128"};
  if (!kDtypes.count(m.dtype)) {
    r.Error("dtype", absl::StrCat("\"", m.dtype,
                                  "\" is not one of auto, float32, bfloat16, float16, int8, int4, "
                                  "int4-g128"));
  }
  m.cpu_threads = static_cast<int>(r.Int("cpuThreads", kOptional, 0, 0, 1024));
  m.cpu_bind_cores = r.Bool("cpuBindCores", kOptional, false);
  m.kv_cache_reserve = r.String("kvCacheReserve", kOptional, m.kv_cache_reserve);
  if (m.kv_cache_reserve != "touch" && m.kv_cache_reserve != "lock" &&
      m.kv_cache_reserve != "lazy") {
    r.Error("kvCacheReserve",
            absl::StrCat("\"", m.kv_cache_reserve, "\" is not one of touch, lock, lazy"));
  }
  for (const char* k : {"tp", "dp", "sp", "cp", "moe_tp", "moe_ep"}) {
    if (!r.Has(k)) continue;
    int64_t v = r.Int(k, kOptional, 1, INT32_MIN, INT32_MAX);
    if (v < 1 && std::string(k) != "dp") r.Error(k, absl::StrCat(k, " cannot be smaller than 1."));
    m.extra[k] = std::to_string(v);
  }
  // Pass-through keys (MindIE hands them to the model runner as strings).
  for (const auto& key : r.UnknownNames()) {
    const nlohmann::json* v = r.Raw(key);
    if (v == nullptr) continue;
    if (v->is_string()) {
      m.extra[key] = v->get<std::string>();
    } else if (v->is_boolean()) {
      m.extra[key] = v->get<bool>() ? "1" : "0";
    } else if (v->is_number()) {
      // Integers in int32 range as MindIE writes them; any other number keeps its JSON text
      // (casting it to int32 would be undefined behaviour or silently truncate).
      double d = v->get<double>();
      if (d >= INT32_MIN && d <= INT32_MAX && d == std::trunc(d)) {
        m.extra[key] = std::to_string(static_cast<int32_t>(d));
      } else {
        m.extra[key] = v->dump();
      }
    } else if (v->is_object() || v->is_array()) {
      m.extra[key] = v->dump();
    } else {
      r.Error(key, absl::StrCat("pass-through value must be a string, number, boolean or "
                                "object, got ",
                                DescribeValue(*v)));
    }
  }
  return m;
}

ModelDeployConfig ReadModelDeploy(JsonReader& r, ErrorList* errors) {
  ModelDeployConfig d;
  d.max_seq_len = r.Int("maxSeqLen", kRequired, d.max_seq_len, 1, INT32_MAX);
  d.max_input_token_len = r.Int("maxInputTokenLen", kRequired, d.max_input_token_len, 1, 4194304);
  if (const nlohmann::json* t = r.Raw("truncation")) {
    if (t->is_boolean()) {
      d.truncation = t->get<bool>() ? -1 : 0;
    } else if (t->is_number_integer()) {
      // Above INT64_MAX, get<int64_t>() would wrap (2^64-1 to -1, a valid value).
      const bool huge = t->is_number_unsigned() && t->get<uint64_t>() > uint64_t{INT64_MAX};
      const int64_t v = huge ? INT64_MAX : t->get<int64_t>();
      if (huge || v < -1 || v > 1) {
        r.Error("truncation", absl::StrCat("value ", t->dump(),
                                           " is not one of -1 (keep the head), 0 (reject), "
                                           "1 (keep the tail)"));
      } else {
        d.truncation = static_cast<int>(v);
      }
    } else {
      r.Error("truncation",
              absl::StrCat("expected -1, 0, 1, true or false, got ", DescribeValue(*t)));
    }
  }
  d.speculation_gamma = static_cast<int>(r.Int("speculationGamma", kOptional, 0, 0, 64));
  if (d.speculation_gamma > 0) {
    r.Error("speculationGamma", "speculative decoding is not supported by mies yet; use 0");
  }
  d.max_loras =
      static_cast<int>(std::max<int64_t>(0, r.Int("maxLoras", kOptional, 0, INT32_MIN, INT32_MAX)));
  d.max_lora_rank = static_cast<int>(
      std::max<int64_t>(0, r.Int("maxLoraRank", kOptional, 0, INT32_MIN, INT32_MAX)));
  if (r.Has("LoraModules")) {
    r.Error("LoraModules", "LoRA adapters are not supported by mies yet");
  }
  const nlohmann::json* models = r.Raw("ModelConfig");
  if (models == nullptr) {
    if (r.present()) r.Error("ModelConfig", "missing compulsory field");
  } else if (!models->is_array()) {
    r.Error("ModelConfig",
            absl::StrCat("expected a list of objects, got ", DescribeValue(*models)));
  } else {
    for (size_t i = 0; i < models->size(); ++i) {
      const auto& item = (*models)[i];
      std::string key = absl::StrCat("ModelConfig[", i, "]");
      if (!item.is_object()) {
        r.Error(key, absl::StrCat("expected an object, got ", DescribeValue(item)));
        continue;
      }
      d.model_config.push_back(ReadModel(JsonReader(&item, r.PathOf(key), errors)));
    }
  }
  r.ReportUnknown();
  return d;
}

ScheduleConfig ReadSchedule(JsonReader r) {
  ScheduleConfig s;
  s.template_type = r.String("templateType", kRequired, s.template_type);
  if (s.template_type != "Standard" && s.template_type != "Mix") {
    r.Error("templateType", absl::StrCat("\"", s.template_type, "\" is not one of Standard, Mix"));
  }
  s.template_name = r.String("templateName", kRequired, s.template_name);
  if (s.template_name != "Standard_LLM") {
    r.Error("templateName", absl::StrCat("\"", s.template_name,
                                         "\" is not supported (the only value is Standard_LLM)"));
  }
  s.cache_block_size =
      static_cast<int>(r.Int("cacheBlockSize", kRequired, s.cache_block_size, 1, 128));
  s.max_batch_size =
      static_cast<int>(r.Int("maxBatchSize", kRequired, s.max_batch_size, 1, 819200));
  s.max_prefill_batch_size = static_cast<int>(
      r.Int("maxPrefillBatchSize", kRequired, s.max_prefill_batch_size, 0, 819200));
  if (s.max_prefill_batch_size == 0) s.max_prefill_batch_size = s.max_batch_size;
  s.max_prefill_tokens = r.Int("maxPrefillTokens", kRequired, s.max_prefill_tokens, 1, 4194304);
  s.prefill_time_ms_per_req =
      static_cast<int>(r.Int("prefillTimeMsPerReq", kRequired, s.prefill_time_ms_per_req, 0, 1000));
  s.prefill_policy_type = static_cast<int>(r.Int("prefillPolicyType", kRequired, 0, 0, 3));
  s.decode_time_ms_per_req =
      static_cast<int>(r.Int("decodeTimeMsPerReq", kRequired, s.decode_time_ms_per_req, 0, 1000));
  s.decode_policy_type = static_cast<int>(r.Int("decodePolicyType", kRequired, 0, 0, 3));
  s.max_iter_times = r.Int("maxIterTimes", kRequired, s.max_iter_times, 1, INT32_MAX);
  s.max_preempt_count = static_cast<int>(r.Int("maxPreemptCount", kRequired, 0, 0, 819200));
  s.support_select_batch = r.Bool("supportSelectBatch", kRequired, false);
  s.max_queue_delay_us = static_cast<int>(
      r.Int("maxQueueDelayMicroseconds", kRequired, s.max_queue_delay_us, 500, 1000000));
  s.max_first_token_wait_time_ms = static_cast<int>(
      r.Int("maxFirstTokenWaitTime", kOptional, s.max_first_token_wait_time_ms, 0, 3600000));
  bool has_max_n = r.Has("maxN");
  s.max_n = static_cast<int>(r.Int("maxN", kOptional, 128, 1, 8192));
  if (!has_max_n) s.max_n = std::min(128, s.max_batch_size);
  s.policy_type = static_cast<int>(r.Int("policyType", kOptional, 0, 0, 7));
  if (s.policy_type != 0 && (s.policy_type < 4 || s.policy_type > 7)) {
    r.Error("policyType", absl::StrCat("value ", s.policy_type, " is not one of 0, 4, 5, 6, 7"));
  }
  s.prefill_chunk_size = r.Int("prefillChunkSize", kOptional, 0, 0, 4194304);
  s.max_num_partial_prefills =
      static_cast<int>(r.Int("maxNumPartialPrefills", kOptional, 64, 1, 64));
  s.max_long_partial_prefills = static_cast<int>(
      r.Int("maxLongPartialPrefills", kOptional, 8, 1, s.max_num_partial_prefills));
  s.long_prefill_token_threshold =
      static_cast<int>(r.Int("longPrefillTokenThreshold", kOptional, 1024, 1, 8192));
  // SplitFuse / SLO tuning keys: parsed for type, no effect on the CPU scheduler.
  r.Bool("splitType", kOptional, false);
  r.Bool("splitStartType", kOptional, false);
  r.Int("splitChunkTokens", kOptional, 512, 1, 4194304);
  r.Int("splitStartBatchSize", kOptional, 16, 0, 819200);
  r.Int("stageSelectPolicy", kOptional, 0, 0, 2);
  r.Bool("dynamicBatchSizeEnable", kOptional, false);
  r.Int("prefillExpectedTime", kOptional, 1500, 1, 10000);
  r.Int("decodeExpectedTime", kOptional, 50, 1, 10000);
  r.Bool("bufferResponseEnabled", kOptional, false);
  if (r.Bool("distributedEnable", kOptional, false)) {
    r.Error("distributedEnable", "true is not supported by mies yet");
  }
  r.Accept("enableSplit");  // deprecated in MindIE: warn-and-ignore there, ignore here
  r.Accept("enablePrefixCache");
  r.Accept("layerwiseDisaggregated");

  if (s.max_prefill_batch_size > s.max_batch_size) {
    r.Error("maxPrefillBatchSize",
            absl::StrCat("value ", s.max_prefill_batch_size, " exceeds maxBatchSize (",
                         s.max_batch_size, "); rule: [1, maxBatchSize], 0 means maxBatchSize"));
  }
  if (s.max_preempt_count > s.max_batch_size) {
    r.Error("maxPreemptCount", absl::StrCat("value ", s.max_preempt_count,
                                            " exceeds maxBatchSize (", s.max_batch_size, ")"));
  }
  if (s.max_n > s.max_batch_size) {
    r.Error("maxN",
            absl::StrCat("value ", s.max_n, " exceeds maxBatchSize (", s.max_batch_size, ")"));
  }
  r.ReportUnknown();
  return s;
}

BackendConfig ReadBackend(JsonReader r, const ServerConfig& server, ErrorList* errors) {
  BackendConfig b;
  b.backend_name = r.String("backendName", kRequired, b.backend_name, 50);
  static const std::regex kBackendName("^[a-z]+(_[a-z]+)*$");
  if (!std::regex_match(b.backend_name, kBackendName)) {
    r.Error("backendName", absl::StrCat("\"", b.backend_name, "\" must match ^[a-z]+(_[a-z]+)*$"));
  }
  b.model_instance_number = static_cast<int>(r.Int("modelInstanceNumber", kRequired, 1, 1, 10));
  b.tokenizer_process_number =
      static_cast<int>(r.Int("tokenizerProcessNumber", kRequired, 8, 1, 32));
  b.multi_nodes_infer_enabled = r.Bool("multiNodesInferEnabled", kOptional, false);
  b.multi_nodes_infer_port =
      static_cast<int>(r.Int("multiNodesInferPort", kOptional, 1120, kPortMin, kPortMax));
  if (b.multi_nodes_infer_port == server.port) {
    r.Error("multiNodesInferPort",
            absl::StrCat("value ", b.multi_nodes_infer_port,
                         " equals ServerConfig.port; the endpoint port cannot be equal to "
                         "multiNodesInferPort"));
  }
  b.inter_node_tls_enabled = r.Bool("interNodeTLSEnabled", kOptional, true);
  b.inter_node_tls = ReadTls(
      r, TlsPlane::kInterNode,
      TlsPresence(TlsPlane::kInterNode,
                  {.inter_node_tls = b.inter_node_tls_enabled && b.multi_nodes_infer_enabled}));
  if (r.Has("kvPoolConfig")) {
    JsonReader kv = r.Object("kvPoolConfig", kOptional);
    std::string backend = kv.String("backend", kOptional, "");
    if (!backend.empty()) {
      kv.Error("backend", absl::StrCat("\"", backend,
                                       "\": KV-cache pooling is not supported by "
                                       "mies yet; use \"\""));
    }
    kv.String("configPath", kOptional, "", 500);
    kv.Bool("asyncWrite", kOptional, false);
    kv.ReportUnknown();
  }
  r.Accept("layerwiseDisaggregated");

  // npuDeviceIds: list of lists of non-negative ints, no duplicates within a set.
  if (const nlohmann::json* ids = r.Raw("npuDeviceIds")) {
    b.npu_device_ids.clear();
    bool ok = ids->is_array();
    for (size_t i = 0; ok && i < ids->size(); ++i) {
      const auto& set = (*ids)[i];
      if (!set.is_array()) {
        ok = false;
        break;
      }
      std::vector<int> devices;
      std::set<int> seen;
      for (const auto& d : set) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > 1023) {
          ok = false;
          break;
        }
        int id = static_cast<int>(d.get<int64_t>());
        if (!seen.insert(id).second) {
          r.Error(absl::StrCat("npuDeviceIds[", i, "]"),
                  absl::StrCat("device id ", id, " appears twice"));
        }
        devices.push_back(id);
      }
      b.npu_device_ids.push_back(devices);
    }
    if (!ok) {
      r.Error("npuDeviceIds", absl::StrCat("expected a list of lists of device ids >= 0, got ",
                                           DescribeValue(*ids)));
    }
  } else {
    r.Error("npuDeviceIds", "missing compulsory field");
  }

  JsonReader deploy = r.Object("ModelDeployConfig", kRequired);
  b.model_deploy = ReadModelDeploy(deploy, errors);
  b.schedule = ReadSchedule(r.Object("ScheduleConfig", kRequired));

  // Cross-field rules.
  const auto& d = b.model_deploy;
  const auto& s = b.schedule;
  if (s.template_type == "Standard" && d.model_config.size() != 1 && deploy.Has("ModelConfig")) {
    deploy.Error("ModelConfig", absl::StrCat("has ", d.model_config.size(),
                                             " entries; templateType Standard needs exactly 1"));
  }
  if (s.template_type != "Mix" && s.max_prefill_tokens < d.max_input_token_len) {
    r.Error(
        "ScheduleConfig.maxPrefillTokens",
        absl::StrCat("value ", s.max_prefill_tokens,
                     " is smaller than ModelDeployConfig.maxInputTokenLen (", d.max_input_token_len,
                     "); rule: maxPrefillTokens >= maxInputTokenLen "
                     "unless templateType is Mix"));
  }
  if (!b.multi_nodes_infer_enabled) {
    if (static_cast<int>(b.npu_device_ids.size()) != b.model_instance_number) {
      r.Error("npuDeviceIds",
              absl::StrCat("has ", b.npu_device_ids.size(),
                           " device sets; rule: one set per model instance (modelInstanceNumber = ",
                           b.model_instance_number, ")"));
    }
    for (size_t m = 0; m < d.model_config.size(); ++m) {
      for (size_t i = 0; i < b.npu_device_ids.size(); ++i) {
        if (static_cast<int>(b.npu_device_ids[i].size()) != d.model_config[m].world_size) {
          r.Error(absl::StrCat("npuDeviceIds[", i, "]"),
                  absl::StrCat("has ", b.npu_device_ids[i].size(),
                               " devices; rule: equal to ModelDeployConfig.ModelConfig[", m,
                               "].worldSize (", d.model_config[m].world_size, ")"));
        }
      }
    }
  } else if (b.model_instance_number != 1) {
    r.Error("modelInstanceNumber", absl::StrCat("value ", b.model_instance_number,
                                                " must be 1 when multiNodesInferEnabled is true"));
  }
  for (size_t m = 0; m < d.model_config.size(); ++m) {
    if (s.max_preempt_count > 0 && d.model_config[m].cpu_mem_size_gb == 0) {
      r.Error("ScheduleConfig.maxPreemptCount",
              absl::StrCat("value ", s.max_preempt_count, " needs ModelDeployConfig.ModelConfig[",
                           m, "].cpuMemSize > 0"));
    }
  }
  r.ReportUnknown();
  return b;
}

LogConfig ReadLog(JsonReader r) {
  LogConfig l;
  l.dynamic_log_level = r.String("dynamicLogLevel", kOptional, "", 64);
  l.dynamic_log_level_valid_hours =
      static_cast<int>(r.Int("dynamicLogLevelValidHours", kOptional, 2, 1, 168));
  l.dynamic_log_level_valid_time = r.String("dynamicLogLevelValidTime", kOptional, "", 32);
  l.log_level = r.String("logLevel", kOptional, "", 32);
  l.log_file_size_mb = static_cast<int>(r.Int("logFileSize", kOptional, 20, 1, 500));
  l.log_file_num = static_cast<int>(r.Int("logFileNum", kOptional, 10, 1, 64));
  l.log_path = r.String("logPath", kOptional, "");
  static const std::set<std::string> kLevels = {"",        "debug", "info",    "warn",
                                                "warning", "error", "critical"};
  for (auto [key, value] :
       {std::pair{"dynamicLogLevel", l.dynamic_log_level}, std::pair{"logLevel", l.log_level}}) {
    std::string lower = value;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!kLevels.count(lower)) {
      r.Error(key,
              absl::StrCat("\"", value, "\" is not one of debug, info, warn, error, critical"));
    }
  }
  r.ReportUnknown();
  return l;
}

void CheckFileInto(const std::string& path, mode_t mode, const std::string& what,
                   std::vector<std::string>* errors) {
  Status st = CheckInputFile(path, RuleFromEnv(mode), what);
  if (!st.ok()) errors->push_back(std::string(st.message()));
}

void CheckTlsFiles(const Config& c, const TlsMaterial& t, const std::string& plane,
                   std::vector<std::string>* errors) {
  for (const auto& ca : t.ca_files) {
    CheckFileInto(c.Resolve((std::filesystem::path(t.ca_path) / ca).string()), kConfigFileMode,
                  plane + " CA certificate", errors);
  }
  CheckFileInto(c.Resolve(t.cert), kConfigFileMode, plane + " certificate", errors);
  CheckFileInto(c.Resolve(t.key), kPrivateKeyMode, plane + " private key", errors);
  if (!t.key_password_file.empty()) {
    CheckFileInto(c.Resolve(t.key_password_file), kPrivateKeyMode, plane + " key password file",
                  errors);
  }
  for (const auto& crl : t.crl_files) {
    CheckFileInto(c.Resolve((std::filesystem::path(t.crl_path) / crl).string()), kConfigFileMode,
                  plane + " CRL", errors);
  }
}

}  // namespace

bool IsValidIp(const std::string& ip) {
  std::string bare = StripBrackets(ip);
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, bare.c_str(), buf) == 1 || inet_pton(AF_INET6, bare.c_str(), buf) == 1;
}

bool IsAllZeroAddress(const std::string& ip) {
  std::string bare = StripBrackets(ip);
  unsigned char buf[sizeof(struct in6_addr)] = {};
  if (inet_pton(AF_INET, bare.c_str(), buf) == 1) {
    return buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 0;
  }
  if (inet_pton(AF_INET6, bare.c_str(), buf) == 1) {
    for (unsigned char b : buf) {
      if (b != 0) return false;
    }
    return true;
  }
  return false;
}

bool ServerConfig::PlanesMerged() const {
  return EffectiveManagementIp() == ip_address && port == management_port && port == metrics_port;
}

int64_t ModelDeployConfig::EffectiveMaxInputTokens() const {
  return std::min(max_input_token_len, max_seq_len - 1);
}

std::string Config::Resolve(const std::string& path) const {
  if (path.empty()) return path;
  std::filesystem::path p(path);
  if (p.is_absolute()) return p.string();
  return (std::filesystem::path(home) / p).lexically_normal().string();
}

std::string Config::ModelWeightPath() const {
  if (backend.model_deploy.model_config.empty()) return "";
  return Resolve(backend.model_deploy.model_config[0].model_weight_path);
}

bool Config::WeightsFromMaster() const {
  return !backend.model_deploy.model_config.empty() &&
         backend.model_deploy.model_config[0].weight_source == "master";
}

std::string Config::WeightCachePath() const {
  if (backend.model_deploy.model_config.empty()) return "";
  const std::string& p = backend.model_deploy.model_config[0].weight_cache_path;
  return Resolve(p.empty() ? "cache/weights" : p);
}

StatusOr<Config> ParseConfig(const nlohmann::json& document, const Environment& env) {
  if (!document.is_object()) {
    return InvalidArgument("config: the top level must be a JSON object, got ",
                           DescribeValue(document));
  }
  ErrorList errors;
  JsonReader top(&document, "", &errors);
  Config c;
  c.version = top.String("Version", kOptional, c.version);
  c.enable_dynamic_adjust_timeout = top.Bool("EnableDynamicAdjustTimeoutConfig", kOptional, false);
  c.server = ReadServer(top.Object("ServerConfig", kRequired), env);
  c.backend = ReadBackend(top.Object("BackendConfig", kRequired), c.server, &errors);
  c.log = ReadLog(top.Object("LogConfig", kOptional));

  for (const auto& key : top.UnknownKeys()) errors.AddUnknown(key);
  c.unknown_keys = errors.unknown();
  if (!errors.empty()) {
    return InvalidArgument(absl::StrJoin(errors.errors(), "\n"));
  }
  return c;
}

StatusOr<Config> LoadConfigFile(const std::string& path, const std::string& home,
                                const Environment& env) {
  MIES_ASSIGN_OR_RETURN(std::string text,
                        ReadCheckedFile(path, RuleFromEnv(kConfigFileMode), "config file"));
  MIES_RETURN_IF_ERROR(CheckJsonTextDepth(text, "config file " + path));
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return InvalidArgument("config file ", path,
                           ": is not valid JSON (Json file is invalid. Please check json format!)");
  }
  auto parsed = ParseConfig(doc, env);
  if (!parsed.ok()) {
    return absl::Status(parsed.status().code(),
                        absl::StrCat("config file ", path, ":\n", parsed.status().message()));
  }
  parsed->home = home;
  parsed->source_path = path;
  return parsed;
}

Status CheckReferencedFiles(const Config& c, bool model_from_master) {
  std::vector<std::string> errors;
  for (size_t i = 0; i < c.backend.model_deploy.model_config.size(); ++i) {
    const auto& m = c.backend.model_deploy.model_config[i];
    if (model_from_master) continue;  // fetched at join into the weight cache (its own rules)
    std::string dir = c.Resolve(m.model_weight_path);
    std::string field =
        absl::StrCat("BackendConfig.ModelDeployConfig.ModelConfig[", i, "].modelWeightPath");
    struct stat st {};
    if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      errors.push_back(absl::StrCat(field, ": \"", dir, "\" is not an existing directory"));
      continue;
    }
    if (PermissionChecksEnabled()) {
      if (st.st_uid != geteuid()) {
        errors.push_back(absl::StrCat(field, ": directory ", dir, " is owned by uid ", st.st_uid,
                                      ", not the running user uid ", geteuid()));
      } else if ((st.st_mode & 07777 & ~kModelDirMode) != 0) {
        errors.push_back(absl::StrCat(field, ": directory ", dir, " has mode ",
                                      ModeString(st.st_mode), ", wider than ",
                                      ModeString(kModelDirMode)));
      }
    }
    CheckFileInto((std::filesystem::path(dir) / "config.json").string(), kModelDirMode,
                  "model config", &errors);
  }
  if (!c.server.api_key_file.empty()) {
    // The key file's rules (its content is checked when the keys are loaded).
    CheckFileInto(c.Resolve(c.server.api_key_file), kPrivateKeyMode, "ServerConfig.apiKeyFile",
                  &errors);
  }
  const TlsSwitches switches = SwitchesOf(c);
  for (const TlsPlaneSpec& plane : kTlsPlanes) {
    if (PlaneOn(plane, switches)) {
      CheckTlsFiles(c, PlaneTls(c, plane.plane), plane.description, &errors);
    }
  }
  if (!errors.empty()) return FailedPrecondition(absl::StrJoin(errors, "\n"));
  return OkStatus();
}

}  // namespace mies::config
