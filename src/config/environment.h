// Environment variables and install-home resolution, behind a small interface so tests can
// give each case its own environment without touching the process's.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "common/status.h"

namespace mies::config {

class Environment {
 public:
  virtual ~Environment() = default;
  virtual std::optional<std::string> Get(const std::string& name) const = 0;
};

// Reads the process environment.
class ProcessEnvironment : public Environment {
 public:
  std::optional<std::string> Get(const std::string& name) const override;
};

// A fixed map, for tests.
class MapEnvironment : public Environment {
 public:
  MapEnvironment() = default;
  MapEnvironment(std::initializer_list<std::pair<const std::string, std::string>> vars)
      : vars_(vars) {}
  std::optional<std::string> Get(const std::string& name) const override;
  void Set(const std::string& name, const std::string& value) { vars_[name] = value; }

 private:
  std::map<std::string, std::string> vars_;
};

// Install home: $MINDIE_LLM_HOME_PATH, else $MIES_INSTALL_PATH (old name), else the parent
// of the directory holding the executable. Canonicalised.
StatusOr<std::string> ResolveHome(const std::string& executable_path, const Environment& env);

// --config-file > $MIES_CONFIG_JSON_PATH > <home>/conf/config.json.
std::string ResolveConfigPath(const std::string& cli_path, const std::string& home,
                              const Environment& env);

}  // namespace mies::config
