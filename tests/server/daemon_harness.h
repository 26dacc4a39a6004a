// What the server's process tests share: the daemon as a child process on a TestHome, shell
// commands, and one set of throw-away TLS material per build tree (RSA 3072 key generation is
// the slow part of the TLS tests, and ctest runs every test case as its own process).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "support/process.h"
#include "support/test_home.h"

namespace mies::server::testing {

// Runs a shell command (stderr joined to stdout); its exit status and output.
std::pair<int, std::string> Shell(const std::string& cmd);
bool HaveCommand(const std::string& name);
std::string ReadFileText(const std::string& path);

// The daemon on `home`'s config (written by the caller), started with the test environment
// (monitor mode on, 1.5 s socket read timeout); `started` once it printed its success line.
struct Daemon {
  explicit Daemon(::mies::testing::TestHome& home,
                  std::map<std::string, std::string> extra_env = {});
  std::unique_ptr<::mies::testing::ChildProcess> process;
  bool started = false;
  std::string ip, mgmt_ip;
  int port = 0, mgmt_port = 0, metrics_port = 0;
};

// scripts/gen-certs.sh output (CA, server for 127.0.1.1/127.0.1.2, client, revoked client,
// CRL, foreign CA and client, encrypted server key), generated once under the build tree and
// reused while fresh (its CRL is valid 30 days). Empty on failure, with the reason in `error`.
std::string TestPkiDir(std::string* error);

// A CRL of the test CA in `pki` that revokes every certificate in `revoked` (paths), written to
// `out` (mode 0600); the exit status and output of openssl.
std::pair<int, std::string> WriteCrl(const std::string& pki,
                                     const std::vector<std::string>& revoked,
                                     const std::string& out);

}  // namespace mies::server::testing
