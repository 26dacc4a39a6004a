#include "server/daemon_harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace mies::server::testing {

namespace fs = std::filesystem;
using ::mies::testing::ChildProcess;
using ::mies::testing::TestHome;
using namespace std::chrono_literals;

std::pair<int, std::string> Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(("( " + cmd + " ) 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, ""};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  return {WEXITSTATUS(rc), out};
}

bool HaveCommand(const std::string& name) { return Shell("command -v " + name).first == 0; }

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Daemon::Daemon(TestHome& home, std::map<std::string, std::string> extra_env) {
  auto& s = home.config()["ServerConfig"];
  ip = s["ipAddress"];
  mgmt_ip = s["managementIpAddress"];
  port = s["port"];
  mgmt_port = s["managementPort"];
  metrics_port = s["metricsPort"];
  std::map<std::string, std::string> env = {{"MINDIE_LLM_HOME_PATH", home.path()},
                                            {"MIES_SERVICE_MONITOR_MODE", "1"},
                                            {"MIES_HTTP_READ_TIMEOUT_MS", "1500"}};
  for (auto& [k, v] : extra_env) env[k] = v;
  process = std::make_unique<ChildProcess>(TestHome::DaemonPath(), std::vector<std::string>{}, env);
  started = process->WaitForStdout("Daemon start success!", 60s);
}

std::string TestPkiDir(std::string* error) {
  const fs::path dir = fs::path(MIES_BINARY_DIR) / "tests" / "server" / "test-pki";
  std::error_code ec;
  // Fresh: complete (crl.pem is written near the end, key-password.txt last) and under 20 days.
  auto fresh = [&] {
    if (!fs::exists(dir / "key-password.txt", ec) || !fs::exists(dir / "crl.pem", ec)) return false;
    auto age = fs::file_time_type::clock::now() - fs::last_write_time(dir / "crl.pem", ec);
    return !ec && age < std::chrono::hours(24 * 20);
  };
  if (fresh()) return dir.string();
  // One generator at a time (ctest runs test cases at once): the others wait for its result.
  fs::create_directories(dir.parent_path(), ec);
  const std::string lock_path = (dir.parent_path() / "test-pki.lock").string();
  int lock = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
    if (lock >= 0) ::close(lock);
    *error = "cannot lock " + lock_path;
    return "";
  }
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }  // closing releases the lock
  } unlock{lock};
  if (fresh()) return dir.string();
  // Generated beside it and renamed into place: never seen half-written.
  std::string tmpl = (dir.parent_path() / "test-pki.XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    *error = "mkdtemp failed";
    return "";
  }
  auto [rc, out] = Shell(std::string(MIES_SOURCE_DIR) + "/scripts/gen-certs.sh " + tmpl +
                         " --ip 127.0.1.1 --ip 127.0.1.2");
  if (rc != 0) {
    fs::remove_all(tmpl, ec);
    *error = out;
    return "";
  }
  fs::remove_all(dir, ec);  // stale
  if (::rename(tmpl.c_str(), dir.c_str()) != 0) {
    fs::remove_all(tmpl, ec);
    *error = "cannot rename " + tmpl + " to " + dir.string();
    return "";
  }
  return dir.string();
}

std::pair<int, std::string> WriteCrl(const std::string& pki,
                                     const std::vector<std::string>& revoked,
                                     const std::string& out) {
  char tmpl[] = "/tmp/mies_crl_XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return {-1, "mkdtemp failed"};
  const std::string work = tmpl;
  std::ofstream(work + "/index.txt").close();
  std::ofstream(work + "/crlnumber") << "10\n";
  std::ofstream(work + "/ca.cnf") << "[ca]\ndefault_ca = test_ca\n[test_ca]\ndatabase = " << work
                                  << "/index.txt\ncrlnumber = " << work << "/crlnumber\n"
                                  << "certificate = " << pki << "/ca.pem\nprivate_key = " << pki
                                  << "/ca.key.pem\ndefault_md = sha256\ndefault_crl_days = 30\n";
  std::string cmd = "set -e; ";
  for (const auto& cert : revoked) {
    cmd += "openssl ca -config " + work + "/ca.cnf -revoke " + cert + " -batch; ";
  }
  cmd += "openssl ca -config " + work + "/ca.cnf -gencrl -out " + work + "/crl.pem -batch";
  auto result = Shell(cmd);
  if (result.first == 0) {
    std::error_code ec;
    fs::copy_file(work + "/crl.pem", out, fs::copy_options::overwrite_existing, ec);
    if (ec) result = {-1, "cannot write " + out + ": " + ec.message()};
    ::chmod(out.c_str(), 0600);
  }
  std::error_code ec;
  fs::remove_all(work, ec);
  return result;
}

}  // namespace mies::server::testing
