// mies's typed view of MindIE's config.json (reference: shared/MINDIE-REFERENCE.md section 1).
// Every key MindIE reads is parsed with MindIE's defaults, ranges and cross-field rules; a
// validation failure lists every problem at once, each naming its JSON path, value and rule.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/environment.h"

namespace mies::config {

// TLS material of one plane. Paths are as written in config.json (relative to the install
// home; Config::Resolve makes them absolute). Each plane's keys and defaults are in
// config/tls_planes.h.
struct TlsMaterial {
  std::string ca_path;                 // directory of the CA files
  std::vector<std::string> ca_files;   // names inside ca_path, 1..3
  std::string cert;                    // server/node certificate
  std::string key;                     // private key (PEM; may be encrypted)
  std::string key_password_file;       // optional: password of an encrypted key (mies extension)
  std::string crl_path;                // directory of the CRL files
  std::vector<std::string> crl_files;  // names inside crl_path, 0..3
};

struct ServerConfig {
  std::string ip_address = "127.0.0.1";
  std::string management_ip_address;  // empty: same as ip_address
  int port = 1025;
  int management_port = 1026;
  int metrics_port = 1027;
  bool allow_all_zero_ip_listening = false;
  int max_link_num = 1000;
  bool https_enabled = true;
  bool full_text_enabled = false;
  TlsMaterial service_tls;
  TlsMaterial management_tls;           // CA files live in the service plane's tlsCaPath
  TlsMaterial metrics_tls;              // likewise
  std::string tls_min_version = "1.3";  // mies extension: "1.2" or "1.3"
  // mies extension: the service plane's API keys (server/api_key_store.h), a path as written
  // (Config::Resolve makes it absolute); empty: keys off.
  std::string api_key_file;
  std::string infer_mode = "standard";
  bool inter_comm_tls_enabled = true;
  int inter_comm_port = 1121;
  TlsMaterial inter_comm_tls;
  std::string open_ai_support = "vllm";
  int token_timeout_s = 600;
  int e2e_timeout_s = 600;
  int max_request_length_mb = 40;
  int max_json_depth = 10;
  bool dist_dp_server_enabled = false;
  int npu_usage_threshold = 0;
  // mies extension: origins (scheme://host[:port], or "*") whose browsers may call the service
  // plane (CORS), besides the management plane's own origin (the console's).
  std::vector<std::string> allowed_origins;

  // The three planes share one listener when address and ports all coincide.
  bool PlanesMerged() const;
  const std::string& EffectiveManagementIp() const {
    return management_ip_address.empty() ? ip_address : management_ip_address;
  }
};

struct ModelConfig {
  std::string model_instance_type = "Standard";
  std::string model_name;
  std::string model_weight_path;
  int world_size = 1;
  int cpu_mem_size_gb = 0;
  int npu_mem_size_gb = -1;
  std::string backend_type = "atb";
  bool trust_remote_code = false;
  // mies extensions (documented in README): weight storage type and CPU threads per rank.
  std::string dtype = "auto";   // auto | float32 | bfloat16 | float16 | int8
  int cpu_threads = 0;          // per rank; 0 = the node's cores divided among its ranks
  bool cpu_bind_cores = false;  // pin each rank's threads to its own cores
  // KV pool pages at startup: "touch" (reserve now), "lock" (reserve and mlock), "lazy".
  std::string kv_cache_reserve = "touch";
  // "local": every node reads modelWeightPath (MindIE); "master": the master reads it and the
  // slaves fetch the model from it at join into weightCachePath (src/cluster/model_cache.h).
  std::string weight_source = "local";
  std::string weight_cache_path;  // "" = <home>/cache/weights
  // Any other key, passed through as a string (MindIE casts numbers/bools to int32 text).
  std::map<std::string, std::string> extra;
};

struct ModelDeployConfig {
  int64_t max_seq_len = 2560;
  int64_t max_input_token_len = 2048;
  int truncation = 0;  // -1 keep head, 0 reject, 1 keep tail
  int speculation_gamma = 0;
  int max_loras = 0;
  int max_lora_rank = 0;
  std::vector<ModelConfig> model_config;

  // min(maxInputTokenLen, maxSeqLen - 1)
  int64_t EffectiveMaxInputTokens() const;
};

struct ScheduleConfig {
  std::string template_type = "Standard";
  std::string template_name = "Standard_LLM";
  int cache_block_size = 128;
  int max_prefill_batch_size = 50;
  int64_t max_prefill_tokens = 8192;
  int prefill_time_ms_per_req = 150;
  int prefill_policy_type = 0;
  int decode_time_ms_per_req = 50;
  int decode_policy_type = 0;
  int max_batch_size = 200;
  int64_t max_iter_times = 512;
  int max_preempt_count = 0;
  bool support_select_batch = false;
  int max_queue_delay_us = 5000;
  int max_first_token_wait_time_ms = 2500;
  int max_n = 128;
  int policy_type = 0;
  int64_t prefill_chunk_size = 0;
  int max_num_partial_prefills = 64;
  int max_long_partial_prefills = 8;
  int long_prefill_token_threshold = 1024;
};

struct BackendConfig {
  std::string backend_name = "mindieservice_llm_engine";
  int model_instance_number = 1;
  std::vector<std::vector<int>> npu_device_ids = {{0}};
  int tokenizer_process_number = 8;
  bool multi_nodes_infer_enabled = false;
  int multi_nodes_infer_port = 1120;
  bool inter_node_tls_enabled = true;
  TlsMaterial inter_node_tls;
  ModelDeployConfig model_deploy;
  ScheduleConfig schedule;
};

struct LogConfig {
  std::string dynamic_log_level;
  int dynamic_log_level_valid_hours = 2;
  std::string dynamic_log_level_valid_time;
  // Legacy (MindIE <= 2.0) keys, still honoured when present.
  std::string log_level;
  int log_file_size_mb = 20;
  int log_file_num = 10;
  std::string log_path;
};

struct Config {
  std::string version = "1.0.0";
  ServerConfig server;
  BackendConfig backend;
  LogConfig log;
  bool enable_dynamic_adjust_timeout = false;

  std::string home;                       // install home: base of every relative path
  std::string source_path;                // the config.json this came from
  std::vector<std::string> unknown_keys;  // logged once as warnings

  // Absolute form of a path from config.json (relative ones resolve against `home`).
  std::string Resolve(const std::string& path) const;
  std::string ModelWeightPath() const;
  // ModelConfig[0] weightSource is "master".
  bool WeightsFromMaster() const;
  // ModelConfig[0] weightCachePath, resolved (default <home>/cache/weights).
  std::string WeightCachePath() const;

  // The effective configuration as JSON, in MindIE's key names (printed at startup).
  nlohmann::json ToJson() const;
};

// Parses and validates a config.json document. Environment overrides (MIES_CONTAINER_IP,
// MIES_CONTAINER_MANAGEMENT_IP) are applied before the checks that depend on them. On
// failure the status message holds every error, one per line.
StatusOr<Config> ParseConfig(const nlohmann::json& document, const Environment& env);

// Reads `path` under MindIE's file rules, parses JSON (with a clear error on bad JSON), then
// ParseConfig. `home` becomes Config::home.
StatusOr<Config> LoadConfigFile(const std::string& path, const std::string& home,
                                const Environment& env);

// Checks the files the configuration references (model directory and its config.json, TLS
// material of enabled planes) against MindIE's file rules. Every problem is listed.
// `model_from_master`: a slave that fetches the model from the master (weightSource "master")
// has no model directory to check.
Status CheckReferencedFiles(const Config& config, bool model_from_master = false);

// True for "0.0.0.0", "::", "[::]" and equivalent spellings.
bool IsAllZeroAddress(const std::string& ip);
// IPv4 or IPv6 (IPv6 may be bracketed).
bool IsValidIp(const std::string& ip);

}  // namespace mies::config
