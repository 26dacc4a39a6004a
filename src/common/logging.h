// One thin wrapper over spdlog. Library code logs through these calls; the daemon's stdout
// carries only the config dump and the success line, so logs go to stderr and a rotating file.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

#include "common/status.h"

namespace mies {

struct LogOptions {
  std::string level = "info";  // debug | info | warn | error | critical
  bool to_stderr = true;
  std::string file_path;  // empty: no file sink
  size_t max_file_bytes = 20u << 20;
  size_t max_files = 10;
};

// Parses a MindIE level name ("Info", "warning", "debug", ...) case-insensitively.
StatusOr<spdlog::level::level_enum> ParseLogLevel(const std::string& name);

// Replaces the default logger. Safe to call more than once (tests, reconfiguration).
Status InitLogging(const LogOptions& options);

}  // namespace mies

#define MIES_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define MIES_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define MIES_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define MIES_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
