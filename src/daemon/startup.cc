#include "daemon/startup.h"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"

namespace mies::daemon {
namespace {

// MINDIE_LOG_LEVEL is either a bare level or "component:level;component:level"; mies is the
// "server" component, later entries win.
std::string LevelForServer(const std::string& spec) {
  std::string level;
  for (absl::string_view part : absl::StrSplit(spec, ';', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(part, ':');
    if (kv.size() == 1) {
      level = std::string(absl::StripAsciiWhitespace(kv[0]));
    } else if (kv.size() == 2 && absl::StripAsciiWhitespace(kv[0]) == "server") {
      level = std::string(absl::StripAsciiWhitespace(kv[1]));
    }
  }
  return level;
}

bool EnvFlag(const config::Environment& env, const std::string& name, bool def) {
  auto v = env.Get(name);
  if (!v) return def;
  std::string lower = absl::AsciiStrToLower(LevelForServer(*v));
  if (lower == "0" || lower == "false") return false;
  if (lower == "1" || lower == "true") return true;
  return def;
}

std::string Timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

}  // namespace

StatusOr<StartupState> LoadStartupState(const StartupOptions& options,
                                        const config::Environment& env) {
  MIES_ASSIGN_OR_RETURN(std::string home, config::ResolveHome(options.executable_path, env));
  std::string path = config::ResolveConfigPath(options.config_file, home, env);
  StartupState state;
  state.expert_parallel = options.expert_parallel;
  MIES_ASSIGN_OR_RETURN(state.config, config::LoadConfigFile(path, home, env));
  config::Config& c = state.config;

  if (c.backend.multi_nodes_infer_enabled) {
    auto table_path = env.Get("RANK_TABLE_FILE");
    if (!table_path || table_path->empty()) {
      return InvalidArgument(
          "BackendConfig.multiNodesInferEnabled is true but $RANK_TABLE_FILE is not set; point "
          "it at the cluster's ranktable.json");
    }
    MIES_ASSIGN_OR_RETURN(state.rank_table, config::LoadRankTableFile(*table_path));
    MIES_ASSIGN_OR_RETURN(state.topology, config::LocateLocalServer(*state.rank_table, env));
    // As MindIE does: the ranktable decides the devices of this node.
    c.backend.npu_device_ids = {state.topology->local_device_ids};
    for (auto& m : c.backend.model_deploy.model_config) {
      m.world_size = static_cast<int>(state.topology->local_device_ids.size());
    }
    if (!env.Get("MIES_CONTAINER_IP")) {
      // Bare metal ($HOST_IP): the node listens on its ranktable address.
      c.server.ip_address = state.topology->local_address;
    }
  }
  const bool model_from_master =
      state.topology && !state.topology->is_master && c.WeightsFromMaster();
  MIES_RETURN_IF_ERROR(config::CheckReferencedFiles(c, model_from_master));
  return state;
}

Status SetUpLogging(StartupState& state, const config::Environment& env) {
  const config::Config& c = state.config;
  LogOptions options;
  std::string level = LevelForServer(env.Get("MINDIE_LOG_LEVEL").value_or(""));
  if (level.empty()) level = c.log.dynamic_log_level;
  if (level.empty()) level = c.log.log_level;
  if (level.empty()) level = "info";
  options.level = level;
  options.max_file_bytes = static_cast<size_t>(c.log.log_file_size_mb) << 20;
  options.max_files = static_cast<size_t>(c.log.log_file_num);
  if (auto rotate = env.Get("MINDIE_LOG_ROTATE")) {
    // "-fs <MB 1..500> -r <files 1..64>"
    std::vector<std::string> words = absl::StrSplit(*rotate, ' ', absl::SkipWhitespace());
    for (size_t i = 0; i + 1 < words.size(); ++i) {
      int v = 0;
      if (!absl::SimpleAtoi(words[i + 1], &v)) continue;
      if (words[i] == "-fs" && v >= 1 && v <= 500) options.max_file_bytes = size_t(v) << 20;
      if (words[i] == "-r" && v >= 1 && v <= 64) options.max_files = size_t(v);
    }
  }
  if (EnvFlag(env, "MINDIE_LOG_TO_FILE", true)) {
    std::string dir = env.Get("MINDIE_LOG_PATH").value_or("");
    if (dir.empty() && !c.log.log_path.empty()) {
      dir = std::filesystem::path(c.Resolve(c.log.log_path)).parent_path().string();
    }
    if (dir.empty()) dir = c.Resolve("logs");
    dir = c.Resolve(dir);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    state.log_file = (std::filesystem::path(dir) /
                      absl::StrCat("mindie-server_", getpid(), "_", Timestamp(), ".log"))
                         .string();
    options.file_path = state.log_file;
  }
  return InitLogging(options);
}

}  // namespace mies::daemon
