#include "common/logging.h"

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <vector>

namespace mies {

StatusOr<spdlog::level::level_enum> ParseLogLevel(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (lower == "debug" || lower == "trace") return spdlog::level::debug;
  if (lower == "info") return spdlog::level::info;
  if (lower == "warn" || lower == "warning") return spdlog::level::warn;
  if (lower == "error") return spdlog::level::err;
  if (lower == "critical" || lower == "fatal") return spdlog::level::critical;
  return InvalidArgument("log level \"", name,
                         "\" is not one of debug, info, warn, error, critical");
}

Status InitLogging(const LogOptions& options) {
  MIES_ASSIGN_OR_RETURN(spdlog::level::level_enum level, ParseLogLevel(options.level));
  std::vector<spdlog::sink_ptr> sinks;
  if (options.to_stderr) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!options.file_path.empty()) {
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          options.file_path, options.max_file_bytes, options.max_files));
    } catch (const spdlog::spdlog_ex& e) {
      return FailedPrecondition("cannot open log file ", options.file_path, ": ", e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>("mies", sinks.begin(), sinks.end());
  logger->set_level(level);
  logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%P] [%t] [%^%l%$] %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  return OkStatus();
}

}  // namespace mies
