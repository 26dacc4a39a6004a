// HTTPS on the real daemon: client certificates against the plane's CA, CRLs (and a CRL
// replaced on disk revoking a client without a restart, on each of the three planes), TLS 1.3 by
// default, and maxLinkNum on a TLS listener (extra connections are closed without an answer, as
// MindIE does; the held ones keep working).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "server/daemon_harness.h"
#include "server/http_client.h"
#include "server/tls_client.h"
#include "support/test_home.h"

namespace mies::server::testing {
namespace {

using ::mies::testing::TestHome;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

class ServerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveCommand("curl") || !HaveCommand("openssl")) GTEST_SKIP() << "curl/openssl missing";
    std::string error;
    pki_ = TestPkiDir(&error);
    ASSERT_FALSE(pki_.empty()) << error;
  }

  // Service material (encrypted key + password file, as older deployments) and, unless the
  // planes share one listener, the management and metrics material at config.json's default
  // places; every plane with the test CRL.
  void InstallMaterial(TestHome& home, bool merged_planes) {
    auto copy = [&](const std::string& from, const std::string& to, int mode) {
      home.WriteFile(to, ReadFileText(pki_ + "/" + from), mode);
    };
    copy("ca.pem", "security/ca/ca.pem", 0600);
    copy("server.pem", "security/certs/server.pem", 0600);
    copy("server.key.enc.pem", "security/keys/server.key.pem", 0400);
    copy("key-password.txt", "security/keys/server.pwd", 0400);
    copy("crl.pem", "security/certs/server_crl.pem", 0600);
    auto& s = home.config()["ServerConfig"];
    s["httpsEnabled"] = true;
    s["tlsPkPwd"] = "security/keys/server.pwd";
    if (merged_planes) {
      s["managementIpAddress"] = s["ipAddress"];
      s["managementPort"] = s["port"];
      s["metricsPort"] = s["port"];
    } else {
      for (std::string plane : {"management", "metrics"}) {
        copy("ca.pem", "security/ca/" + plane + "_ca.pem", 0600);
        copy("server.pem", "security/certs/" + plane + "/server.pem", 0600);
        copy("server.key.pem", "security/keys/" + plane + "/server.key.pem", 0400);
        copy("crl.pem", "security/" + plane + "/certs/server_crl.pem", 0600);
      }
    }
    home.WriteConfig();
  }

  // curl's HTTP status for `url` with the named client certificate ("" for none); "000" when
  // the TLS handshake or the connection failed.
  std::string Curl(const std::string& url, const std::string& client,
                   const std::string& extra = "") {
    std::string cmd = "curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert " + pki_ +
                      "/ca.pem " + extra + " ";
    if (!client.empty()) {
      cmd += "--cert " + pki_ + "/" + client + ".pem --key " + pki_ + "/" + client + ".key.pem ";
    }
    return Shell(cmd + url).second;
  }

  std::string pki_;
};

TEST_F(ServerTlsTest, ClientCertificatesAndCrlAreEnforced) {
  TestHome home;
  InstallMaterial(home, /*merged_planes=*/true);
  Daemon d(home);
  ASSERT_TRUE(d.started) << d.process->Stdout() << d.process->Stderr();
  std::string url = "https://" + d.ip + ":" + std::to_string(d.port) + "/v1/models";
  EXPECT_EQ(Curl(url, "client"), "200");
  EXPECT_NE(Curl(url, ""), "200");                         // no certificate
  EXPECT_NE(Curl(url, "revoked-client"), "200");           // listed in the CRL
  EXPECT_NE(Curl(url, "foreign-client"), "200");           // another CA
  EXPECT_NE(Curl(url, "client", "--tls-max 1.2"), "200");  // TLS below 1.3 by default
  // Still serving the good client after all refusals; management and metrics on the merged
  // listener.
  EXPECT_EQ(Curl(url, "client"), "200");
  EXPECT_EQ(Curl("https://" + d.ip + ":" + std::to_string(d.port) + "/health", "client"), "200");
}

TEST_F(ServerTlsTest, ConnectionsBeyondMaxLinkNumAreClosedWithoutAnAnswer) {
  TestHome home;
  home.config()["ServerConfig"]["maxLinkNum"] = 8;
  InstallMaterial(home, /*merged_planes=*/true);
  Daemon d(home);
  ASSERT_TRUE(d.started) << d.process->Stdout() << d.process->Stderr();
  // 8 + 20 TCP connections at once, before any handshake.
  std::vector<int> fds;
  for (int i = 0; i < 28; ++i) fds.push_back(Connect(d.ip, d.port));
  std::this_thread::sleep_for(200ms);
  std::vector<int> held;
  int refused = 0;
  for (int fd : fds) {
    if (fd < 0) {
      ++refused;
      continue;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 2) == 0) {
      held.push_back(fd);  // the server waits for our ClientHello
      continue;
    }
    // Closed by the server: end of stream (or a reset), and not a byte of TLS or HTTP.
    char buf[64];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    EXPECT_LE(n, 0) << "an over-limit connection got bytes";
    ++refused;
    close(fd);
  }
  EXPECT_EQ(held.size(), 8u);
  EXPECT_EQ(refused, 20);
  // The held connections handshake and are served (within the 1.5 s read timeout of the test
  // daemon, which also bounds a handshake).
  TlsClientFiles client{pki_ + "/ca.pem", pki_ + "/client.pem", pki_ + "/client.key.pem"};
  int served = 0;
  for (int fd : held) {
    std::string error;
    std::string raw = TlsExchange(
        fd, client, "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 10s, &error);
    if (Parse(raw).status == 200) {
      ++served;
    } else {
      ADD_FAILURE() << "held connection not served: " << error << raw;
    }
    close(fd);
  }
  EXPECT_EQ(served, 8);
  // Slots are free again.
  EXPECT_EQ(Curl("https://" + d.ip + ":" + std::to_string(d.port) + "/v1/models", "client"), "200");
}

TEST_F(ServerTlsTest, ReplacedCrlRevokesAClientWithoutRestartOnEveryPlane) {
  TestHome home;
  InstallMaterial(home, /*merged_planes=*/false);
  Daemon d(home);
  ASSERT_TRUE(d.started) << d.process->Stdout() << d.process->Stderr();
  struct PlaneUrl {
    std::string crl;  // the plane's CRL file in the home
    std::string url;
  };
  const std::vector<PlaneUrl> planes = {
      {home.path() + "/security/certs/server_crl.pem",
       "https://" + d.ip + ":" + std::to_string(d.port) + "/v1/models"},
      {home.path() + "/security/management/certs/server_crl.pem",
       "https://" + d.mgmt_ip + ":" + std::to_string(d.mgmt_port) + "/health"},
      {home.path() + "/security/metrics/certs/server_crl.pem",
       "https://" + d.mgmt_ip + ":" + std::to_string(d.metrics_port) + "/metrics"},
  };
  for (const auto& p : planes) {
    EXPECT_EQ(Curl(p.url, "client"), "200") << p.url;
    EXPECT_NE(Curl(p.url, "revoked-client"), "200") << p.url;
  }

  // A broken replacement is refused and the previous CRL stays in force.
  home.WriteFile("security/certs/server_crl.pem", "-----BEGIN X509 CRL-----\ngarbage\n", 0600);
  std::this_thread::sleep_for(1100ms);  // past the 1 s check interval
  EXPECT_EQ(Curl(planes[0].url, "client"), "200");
  EXPECT_NE(Curl(planes[0].url, "revoked-client"), "200");
  bool logged = false;
  for (int i = 0; i < 20 && !logged; ++i) {
    logged = d.process->Stderr().find("TLS CRL file " + planes[0].crl) != std::string::npos;
    if (!logged) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(logged) << d.process->Stderr();
  EXPECT_THAT(d.process->Stderr(), HasSubstr("the previous CRLs stay in force"));

  // A new CRL that also revokes `client`: its next handshake is refused on every plane, while
  // another certificate of the CA (node.pem has clientAuth) is still served. No restart.
  for (const auto& p : planes) {
    auto [rc, out] = WriteCrl(pki_, {pki_ + "/revoked-client.pem", pki_ + "/client.pem"}, p.crl);
    ASSERT_EQ(rc, 0) << out;
  }
  for (const auto& p : planes) {
    std::string code;
    auto until = Clock::now() + 5s;
    do {
      code = Curl(p.url, "client");
      if (code != "200") break;
      std::this_thread::sleep_for(200ms);
    } while (Clock::now() < until);
    EXPECT_NE(code, "200") << p.url << " still serves the revoked client";
    EXPECT_NE(Curl(p.url, "client"), "200") << p.url;
    EXPECT_EQ(Curl(p.url, "node"), "200") << p.url;
  }
  EXPECT_FALSE(d.process->WaitForExit(0ms).has_value()) << "the daemon restarted or exited";
  EXPECT_THAT(d.process->Stderr(), HasSubstr("reloaded CRL files"));
}

}  // namespace
}  // namespace mies::server::testing
