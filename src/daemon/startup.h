// Everything mindieservice_daemon does before it can say "Daemon start success!": find the
// install home and config.json, validate them and every file they name, set up logging, and in
// multi-node mode read the ranktable and find this node's place in the cluster.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "config/config.h"
#include "config/environment.h"
#include "config/ranktable.h"

namespace mies::server {
class ApiKeyStore;  // server/api_key_store.h
}  // namespace mies::server

namespace mies::daemon {

struct StartupOptions {
  std::string executable_path;          // argv[0] or /proc/self/exe
  std::string config_file;              // --config-file, may be empty
  std::optional<bool> expert_parallel;  // --expert-parallel true|false, when given
};

struct StartupState {
  config::Config config;
  std::optional<config::RankTable> rank_table;  // multi-node only
  std::optional<config::Topology> topology;     // multi-node only
  std::string log_file;                         // empty when logging to a file is off
  std::optional<bool> expert_parallel;          // --expert-parallel (MoE models in a cluster)
  // ServerConfig.apiKeyFile's keys, once LoadApiKeys (serving.h) read them; null: keys off.
  std::shared_ptr<server::ApiKeyStore> api_keys;
};

// Loads and validates the configuration (and the ranktable in multi-node mode). Every problem
// is in the returned status, one per line. Does not touch logging.
StatusOr<StartupState> LoadStartupState(const StartupOptions& options,
                                        const config::Environment& env);

// Logging from MINDIE_LOG_* and LogConfig: level MINDIE_LOG_LEVEL (bare or "server:<level>")
// > LogConfig.dynamicLogLevel > LogConfig.logLevel > info; a rotating file under
// $MINDIE_LOG_PATH or <home>/logs unless MINDIE_LOG_TO_FILE is 0/false.
Status SetUpLogging(StartupState& state, const config::Environment& env);

}  // namespace mies::daemon
