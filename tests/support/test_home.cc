#include "support/test_home.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mies::testing {
namespace fs = std::filesystem;

TestHome::TestHome() {
  char tmpl[] = "/tmp/mies_home_XXXXXX";
  path_ = mkdtemp(tmpl);
  fs::create_directories(path_ + "/conf");
  fs::create_directories(path_ + "/logs");
  std::ifstream in(std::string(MIES_SOURCE_DIR) + "/conf/config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  config_ = nlohmann::json::parse(ss.str());
  // The model: stories260K from shared/ when present.
  fs::path model_src = fs::path(MIES_SHARED_DIR) / "models" / "stories260K";
  fs::path model_dst = fs::path(path_) / "models" / "stories260K";
  fs::create_directories(model_dst);
  if (fs::exists(model_src)) {
    for (const auto& entry : fs::directory_iterator(model_src)) {
      fs::copy_file(entry.path(), model_dst / entry.path().filename());
      chmod((model_dst / entry.path().filename()).c_str(), 0640);
    }
  }
  chmod(model_dst.c_str(), 0750);
  chmod(path_.c_str(), 0750);
  UseFreePorts("127.0.1.1", "127.0.1.2");
  // A 1 GiB KV pool instead of the automatic share of RAM: several daemons run at once in tests.
  config_["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["npuMemSize"] = 1;
  // Pages on first use: dozens of test daemons (and clusters of ranks) run at once, under
  // sanitizers too; touching every rank's 1 GiB up front would cost RAM and seconds for nothing.
  // tests/integration/resources_daemon_test.cc runs the shipped default ("touch").
  config_["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["kvCacheReserve"] = "lazy";
}

int TestHome::FreePort(const std::string& ip) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

void TestHome::UseFreePorts(const std::string& ip, const std::string& management_ip) {
  auto& s = config_["ServerConfig"];
  s["ipAddress"] = ip;
  s["managementIpAddress"] = management_ip;
  s["port"] = FreePort(ip);
  int mgmt = FreePort(management_ip);
  int metrics = FreePort(management_ip);
  while (metrics == mgmt) metrics = FreePort(management_ip);
  s["managementPort"] = mgmt;
  s["metricsPort"] = metrics;
}

TestHome::~TestHome() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void TestHome::WriteConfig() { WriteFile("conf/config.json", config_.dump(2), 0640); }

std::string TestHome::WriteFile(const std::string& relative, const std::string& content, int mode) {
  fs::path p = fs::path(path_) / relative;
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::trunc) << content;
  chmod(p.c_str(), static_cast<mode_t>(mode));
  return p.string();
}

std::string TestHome::DaemonPath() {
  return std::string(MIES_BINARY_DIR) + "/src/daemon/mindieservice_daemon";
}

}  // namespace mies::testing
