// A throw-away MindIE install home for one test: conf/config.json (the repo's shipped config,
// edited by the test), a copy of the stories260K model, logs/ — all with the modes the file
// rules demand. Removed on destruction.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace mies::testing {

class TestHome {
 public:
  TestHome();
  ~TestHome();
  TestHome(const TestHome&) = delete;
  TestHome& operator=(const TestHome&) = delete;

  const std::string& path() const { return path_; }
  std::string ConfigPath() const { return path_ + "/conf/config.json"; }
  // The shipped conf/config.json with the model path pointed at this home's model copy.
  nlohmann::json& config() { return config_; }
  // Writes config() to conf/config.json with mode 0640.
  void WriteConfig();
  // Writes any file (mode given) under the home; returns its path.
  std::string WriteFile(const std::string& relative, const std::string& content, int mode);

  // The built daemon binary.
  static std::string DaemonPath();
  // A TCP port that is free on `ip` right now (bound to port 0 and released).
  static int FreePort(const std::string& ip);
  // Points the three planes at `ip` (service) and `management_ip` (management, metrics) on free
  // ports, so tests running at once never collide. The constructor does this with 127.0.1.1 and
  // 127.0.1.2.
  void UseFreePorts(const std::string& ip, const std::string& management_ip);

 private:
  std::string path_;
  nlohmann::json config_;
};

}  // namespace mies::testing
