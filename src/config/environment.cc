#include "config/environment.h"

#include <cstdlib>
#include <filesystem>

namespace mies::config {

std::optional<std::string> ProcessEnvironment::Get(const std::string& name) const {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::optional<std::string> MapEnvironment::Get(const std::string& name) const {
  auto it = vars_.find(name);
  if (it == vars_.end()) return std::nullopt;
  return it->second;
}

StatusOr<std::string> ResolveHome(const std::string& executable_path, const Environment& env) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const char* name : {"MINDIE_LLM_HOME_PATH", "MIES_INSTALL_PATH"}) {
    if (auto v = env.Get(name); v && !v->empty()) {
      fs::path home = fs::weakly_canonical(*v, ec);
      if (ec || !fs::is_directory(home)) {
        return InvalidArgument("$", name, "=", *v, ": not an existing directory");
      }
      return home.string();
    }
  }
  fs::path exe = fs::weakly_canonical(fs::path(executable_path), ec);
  if (ec) exe = fs::absolute(executable_path);
  return exe.parent_path().parent_path().string();
}

std::string ResolveConfigPath(const std::string& cli_path, const std::string& home,
                              const Environment& env) {
  if (!cli_path.empty()) return cli_path;
  if (auto v = env.Get("MIES_CONFIG_JSON_PATH"); v && !v->empty()) return *v;
  return (std::filesystem::path(home) / "conf" / "config.json").string();
}

}  // namespace mies::config
