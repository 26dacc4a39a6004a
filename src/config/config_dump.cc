// Config::ToJson: the effective configuration in MindIE's key names. The daemon prints it at
// startup, and it parses back into the same Config (a test pins that down).
#include "config/config.h"
#include "config/tls_planes.h"

namespace mies::config {
namespace {

// Writes the plane's material under its keys; an empty password file is left out.
void PutTls(nlohmann::json& j, const TlsPlaneSpec& spec, const TlsMaterial& t) {
  const TlsPlaneKeys& k = spec.keys;
  if (k.ca_path != nullptr) j[k.ca_path] = t.ca_path;
  j[k.ca_files] = t.ca_files;
  j[k.cert] = t.cert;
  j[k.key] = t.key;
  j[k.crl_path] = t.crl_path;
  j[k.crl_files] = t.crl_files;
  if (!t.key_password_file.empty()) j[k.key_password] = t.key_password_file;
}

}  // namespace

nlohmann::json Config::ToJson() const {
  nlohmann::json j;
  j["Version"] = version;
  j["EnableDynamicAdjustTimeoutConfig"] = enable_dynamic_adjust_timeout;
  j["LogConfig"] = {{"dynamicLogLevel", log.dynamic_log_level},
                    {"dynamicLogLevelValidHours", log.dynamic_log_level_valid_hours},
                    {"dynamicLogLevelValidTime", log.dynamic_log_level_valid_time}};
  if (!log.log_level.empty()) j["LogConfig"]["logLevel"] = log.log_level;
  if (!log.log_path.empty()) j["LogConfig"]["logPath"] = log.log_path;

  const ServerConfig& s = server;
  nlohmann::json sj = {{"ipAddress", s.ip_address},
                       {"port", s.port},
                       {"managementPort", s.management_port},
                       {"metricsPort", s.metrics_port},
                       {"allowAllZeroIpListening", s.allow_all_zero_ip_listening},
                       {"maxLinkNum", s.max_link_num},
                       {"httpsEnabled", s.https_enabled},
                       {"fullTextEnabled", s.full_text_enabled},
                       {"tlsMinVersion", s.tls_min_version},
                       {"inferMode", s.infer_mode},
                       {"interCommTLSEnabled", s.inter_comm_tls_enabled},
                       {"interCommPort", s.inter_comm_port},
                       {"openAiSupport", s.open_ai_support},
                       {"tokenTimeout", s.token_timeout_s},
                       {"e2eTimeout", s.e2e_timeout_s},
                       {"maxRequestLength", s.max_request_length_mb},
                       {"maxJsonDepth", s.max_json_depth},
                       {"distDPServerEnabled", s.dist_dp_server_enabled},
                       {"HealthCheckConfig", {{"npuUsageThreshold", s.npu_usage_threshold}}}};
  if (!s.management_ip_address.empty()) sj["managementIpAddress"] = s.management_ip_address;
  if (!s.api_key_file.empty()) sj["apiKeyFile"] = s.api_key_file;
  if (!s.allowed_origins.empty()) sj["allowedOrigins"] = s.allowed_origins;

  const BackendConfig& b = backend;
  nlohmann::json bj = {{"backendName", b.backend_name},
                       {"modelInstanceNumber", b.model_instance_number},
                       {"npuDeviceIds", b.npu_device_ids},
                       {"tokenizerProcessNumber", b.tokenizer_process_number},
                       {"multiNodesInferEnabled", b.multi_nodes_infer_enabled},
                       {"multiNodesInferPort", b.multi_nodes_infer_port},
                       {"interNodeTLSEnabled", b.inter_node_tls_enabled}};
  for (const TlsPlaneSpec& spec : kTlsPlanes) {
    PutTls(spec.server_field != nullptr ? sj : bj, spec, PlaneTls(*this, spec.plane));
  }

  const ModelDeployConfig& d = b.model_deploy;
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : d.model_config) {
    nlohmann::json mj = {{"modelInstanceType", m.model_instance_type},
                         {"modelName", m.model_name},
                         {"modelWeightPath", m.model_weight_path},
                         {"worldSize", m.world_size},
                         {"cpuMemSize", m.cpu_mem_size_gb},
                         {"npuMemSize", m.npu_mem_size_gb},
                         {"backendType", m.backend_type},
                         {"trustRemoteCode", m.trust_remote_code},
                         {"dtype", m.dtype},
                         {"cpuThreads", m.cpu_threads},
                         {"cpuBindCores", m.cpu_bind_cores},
                         {"kvCacheReserve", m.kv_cache_reserve}};
    // mies keys printed only when set, so a MindIE config's dump stays MindIE's.
    if (m.weight_source != "local") mj["weightSource"] = m.weight_source;
    if (!m.weight_cache_path.empty()) mj["weightCachePath"] = m.weight_cache_path;
    for (const auto& [k, v] : m.extra) mj[k] = v;
    models.push_back(mj);
  }
  bj["ModelDeployConfig"] = {
      {"maxSeqLen", d.max_seq_len}, {"maxInputTokenLen", d.max_input_token_len},
      {"truncation", d.truncation}, {"speculationGamma", d.speculation_gamma},
      {"maxLoras", d.max_loras},    {"maxLoraRank", d.max_lora_rank},
      {"ModelConfig", models}};
  const ScheduleConfig& c = b.schedule;
  bj["ScheduleConfig"] = {{"templateType", c.template_type},
                          {"templateName", c.template_name},
                          {"cacheBlockSize", c.cache_block_size},
                          {"maxPrefillBatchSize", c.max_prefill_batch_size},
                          {"maxPrefillTokens", c.max_prefill_tokens},
                          {"prefillTimeMsPerReq", c.prefill_time_ms_per_req},
                          {"prefillPolicyType", c.prefill_policy_type},
                          {"decodeTimeMsPerReq", c.decode_time_ms_per_req},
                          {"decodePolicyType", c.decode_policy_type},
                          {"maxBatchSize", c.max_batch_size},
                          {"maxIterTimes", c.max_iter_times},
                          {"maxPreemptCount", c.max_preempt_count},
                          {"supportSelectBatch", c.support_select_batch},
                          {"maxQueueDelayMicroseconds", c.max_queue_delay_us},
                          {"maxFirstTokenWaitTime", c.max_first_token_wait_time_ms},
                          {"maxN", c.max_n},
                          {"policyType", c.policy_type},
                          {"prefillChunkSize", c.prefill_chunk_size},
                          {"maxNumPartialPrefills", c.max_num_partial_prefills},
                          {"maxLongPartialPrefills", c.max_long_partial_prefills},
                          {"longPrefillTokenThreshold", c.long_prefill_token_threshold}};
  j["ServerConfig"] = sj;
  j["BackendConfig"] = bj;
  return j;
}

}  // namespace mies::config
