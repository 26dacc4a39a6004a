// ImportPlane: good material lands where config.json names it with MindIE's modes; every refused
// case imports nothing and says why in one line; re-imports replace atomically.
#include "certs/import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "certs/config_planes.h"
#include "config/config.h"
#include "config/environment.h"
#include "test_pki.h"

namespace mies::certs {
namespace {

namespace fs = std::filesystem;
using testing::CertSpec;
using ::testing::HasSubstr;
using testing::SharedPki;
using testing::TempDir;
using testing::WriteFile;

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Every path under `dir` (files and directories), relative.
std::vector<std::string> Tree(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out.push_back(fs::relative(e.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// An install home with the repository's default conf/config.json (edited by `edit`).
config::Config MakeHome(const TempDir& home,
                        const std::function<void(nlohmann::json&)>& edit = nullptr) {
  nlohmann::json doc =
      nlohmann::json::parse(testing::ReadFile(std::string(MIES_SOURCE_DIR) + "/conf/config.json"));
  if (edit) edit(doc);
  WriteFile(home / "conf/config.json", doc.dump(2), 0640);
  config::MapEnvironment env;
  auto c = config::LoadConfigFile(home / "conf/config.json", home.path(), env);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = MakeHome(home_);
    const testing::Pki& pki = SharedPki();
    req_.plane = Plane::kService;
    req_.ca_files = {pki.File("ca.pem")};
    req_.cert_file = pki.File("server.pem");
    req_.key_file = pki.File("server.key.pem");
    req_.crl_files = {pki.File("crl.pem")};
  }

  std::string Home(const std::string& rel) const { return home_ / rel; }

  TempDir home_;
  TempDir src_;  // sources made by a test
  config::Config config_;
  ImportRequest req_;
};

TEST_F(ImportTest, ServicePlaneLandsWhereConfigNamesItWithMindieModes) {
  ImportResult r = ImportPlane(config_, req_);
  ASSERT_TRUE(r.status.ok()) << r.status;
  ASSERT_EQ(r.files.size(), 4u);
  const std::vector<std::pair<std::string, mode_t>> expected = {
      {"security/ca/ca.pem", 0600},
      {"security/certs/server.pem", 0600},
      {"security/keys/server.key.pem", 0400},
      {"security/certs/server_crl.pem", 0600},
  };
  for (const auto& [rel, mode] : expected) {
    EXPECT_EQ(ModeOf(Home(rel)), mode) << rel;
  }
  for (const char* dir : {"security", "security/ca", "security/certs", "security/keys"}) {
    EXPECT_EQ(ModeOf(Home(dir)), 0700u) << dir;
  }
  EXPECT_EQ(testing::ReadFile(Home("security/keys/server.key.pem")),
            testing::ReadFile(req_.key_file));
  EXPECT_EQ(Tree(Home("security")),
            (std::vector<std::string>{"ca", "ca/ca.pem", "certs", "certs/server.pem",
                                      "certs/server_crl.pem", "keys", "keys/server.key.pem"}));
  // What the daemon will do at start-up accepts the result, file rules included.
  EXPECT_TRUE(CheckPlaneMaterial(MaterialFromConfig(config_, Plane::kService)).ok());
}

TEST_F(ImportTest, ManagementAndMetricsCasShareTheServiceCaDirectory) {
  req_.plane = Plane::kManagement;
  ASSERT_TRUE(ImportPlane(config_, req_).status.ok());
  req_.plane = Plane::kMetrics;
  ASSERT_TRUE(ImportPlane(config_, req_).status.ok());
  EXPECT_EQ(ModeOf(Home("security/ca/management_ca.pem")), 0600u);
  EXPECT_EQ(ModeOf(Home("security/ca/metrics_ca.pem")), 0600u);
  EXPECT_EQ(ModeOf(Home("security/keys/management/server.key.pem")), 0400u);
  EXPECT_EQ(ModeOf(Home("security/metrics/certs/server_crl.pem")), 0600u);
  EXPECT_EQ(ModeOf(Home("security/certs/metrics")), 0700u);
}

TEST_F(ImportTest, EncryptedInterNodeKeyBringsItsPasswordFile) {
  const testing::Pki& pki = SharedPki();
  const std::string pass = "node key pass";
  WriteFile(src_ / "node.key.enc.pem", testing::EncryptedKeyPem(pki.node_key.get(), pass));
  WriteFile(src_ / "pass.txt", pass + "\n");
  req_.plane = Plane::kInterNode;
  req_.cert_file = pki.File("node.pem");
  req_.key_file = src_ / "node.key.enc.pem";
  req_.key_password_file = src_ / "pass.txt";
  req_.node_address = "127.0.1.1";
  ImportResult r = ImportPlane(config_, req_);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(ModeOf(Home("security/grpc/keys/server.key.pem")), 0400u);
  EXPECT_EQ(ModeOf(Home("security/grpc/pass/mindie_server_key_pwd.txt")), 0400u);
  EXPECT_EQ(ModeOf(Home("security/grpc/pass")), 0700u);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_THAT(r.notes[0], HasSubstr("\"interNodeTlsPkPwd\": "
                                    "\"security/grpc/pass/mindie_server_key_pwd.txt\""));
  // With the key named in config.json, the daemon's check decrypts it.
  config::Config with_pwd = MakeHome(home_, [](nlohmann::json& d) {
    d["BackendConfig"]["interNodeTlsPkPwd"] = "security/grpc/pass/mindie_server_key_pwd.txt";
  });
  PlaneMaterial m = MaterialFromConfig(with_pwd, Plane::kInterNode);
  m.node_address = "127.0.1.1";
  Status st = CheckPlaneMaterial(m);
  EXPECT_TRUE(st.ok()) << st;
}

TEST_F(ImportTest, DaemonStartupCheckCoversEnabledPlanesOnly) {
  // httpsEnabled is false in the default config: nothing to check, even with no material.
  EXPECT_TRUE(CheckEnabledPlanes(config_).ok());
  config::Config https = MakeHome(home_, [](nlohmann::json& d) {
    d["ServerConfig"]["httpsEnabled"] = true;
    d["ServerConfig"]["managementIpAddress"] = d["ServerConfig"]["ipAddress"];
    d["ServerConfig"]["managementPort"] = d["ServerConfig"]["port"];
    d["ServerConfig"]["metricsPort"] = d["ServerConfig"]["port"];
  });
  EXPECT_EQ(EnabledPlanes(https), std::vector<Plane>{Plane::kService});  // one merged listener
  Status missing = CheckEnabledPlanes(https);
  EXPECT_THAT(std::string(missing.message()),
              HasSubstr("service plane TLS material: error: " + Home("security/ca/ca.pem")));
  ASSERT_TRUE(ImportPlane(https, req_).status.ok());
  EXPECT_TRUE(CheckEnabledPlanes(https).ok());
}

TEST_F(ImportTest, ReimportReplacesReadOnlyFilesAndLeavesNoStagingFiles) {
  ASSERT_TRUE(ImportPlane(config_, req_).status.ok());
  const testing::Pki& pki = SharedPki();
  X509Ptr renewed = testing::MintCert({.cn = "mies server renewed",
                                       .key = pki.server_key.get(),
                                       .issuer = pki.ca.get(),
                                       .issuer_key = pki.ca_key.get()});
  WriteFile(src_ / "renewed.pem", testing::CertPem(renewed.get()));
  req_.cert_file = src_ / "renewed.pem";
  ImportResult r = ImportPlane(config_, req_);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(testing::ReadFile(Home("security/certs/server.pem")),
            testing::ReadFile(src_ / "renewed.pem"));
  EXPECT_EQ(ModeOf(Home("security/keys/server.key.pem")), 0400u);
  for (const std::string& p : Tree(Home("security"))) {
    EXPECT_EQ(fs::path(p).filename().string()[0] == '.', false) << p;
  }
}

TEST_F(ImportTest, RefusedReimportLeavesTheInstalledMaterialUntouched) {
  ASSERT_TRUE(ImportPlane(config_, req_).status.ok());
  const std::string before = testing::ReadFile(Home("security/certs/server.pem"));
  const std::vector<std::string> tree = Tree(Home("security"));
  req_.key_file = SharedPki().File("client.key.pem");
  ASSERT_FALSE(ImportPlane(config_, req_).status.ok());
  EXPECT_EQ(testing::ReadFile(Home("security/certs/server.pem")), before);
  EXPECT_EQ(Tree(Home("security")), tree);
}

TEST_F(ImportTest, MoreCasThanConfigNamesIsRefusedWithTheKeyToEdit) {
  req_.ca_files = {SharedPki().File("ca.pem"), SharedPki().File("foreign-ca.pem")};
  ImportResult r = ImportPlane(config_, req_);
  EXPECT_THAT(std::string(r.status.message()),
              HasSubstr("2 CA files given but " + config_.source_path +
                        " names 1 in ServerConfig.tlsCaFile"));
  EXPECT_TRUE(Tree(Home("security")).empty());
}

// One refusal: how to break the request, and the line that must explain it.
struct Refusal {
  std::string name;
  std::function<void(ImportRequest&, const TempDir&)> mutate;
  std::string expected;
};

class ImportRefusalTest : public ImportTest, public ::testing::WithParamInterface<Refusal> {};

// Writes a server certificate of the test CA with `spec` tweaks into `dir` and uses it.
void ServerCert(ImportRequest& r, const TempDir& dir, CertSpec spec) {
  const testing::Pki& pki = SharedPki();
  if (spec.key == nullptr) spec.key = pki.server_key.get();
  spec.issuer = pki.ca.get();
  spec.issuer_key = pki.ca_key.get();
  X509Ptr cert = testing::MintCert(spec);
  WriteFile(dir / "cert.pem", testing::CertPem(cert.get()));
  r.cert_file = dir / "cert.pem";
}

TEST_P(ImportRefusalTest, ImportsNothingAndSaysWhy) {
  GetParam().mutate(req_, src_);
  ImportResult r = ImportPlane(config_, req_);
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status.message()), HasSubstr("nothing imported"));
  EXPECT_THAT(std::string(r.status.message()), HasSubstr(GetParam().expected));
  EXPECT_EQ(std::string(r.status.message()).find('\n'), std::string::npos);
  EXPECT_TRUE(r.files.empty());
  EXPECT_TRUE(Tree(Home("security")).empty()) << ::testing::PrintToString(Tree(Home("security")));
}

INSTANTIATE_TEST_SUITE_P(
    EachRule, ImportRefusalTest,
    ::testing::Values(
        Refusal{"KeyMismatch",
                [](ImportRequest& r, const TempDir&) {
                  r.key_file = SharedPki().File("client.key.pem");
                },
                "client.key.pem: private key (RSA 3072 bits) does not match the certificate's "
                "public key"},
        Refusal{"Rsa2048",
                [](ImportRequest& r, const TempDir& d) {
                  static EvpPkeyPtr small = testing::GenerateRsa(2048);
                  ServerCert(r, d, {.key = small.get()});
                  WriteFile(d / "small.key.pem", testing::KeyPem(small.get()));
                  r.key_file = d / "small.key.pem";
                },
                "cert.pem: public key is RSA 2048 bits, too short (rule: RSA >= 3072 bits"},
        Refusal{"Expired",
                [](ImportRequest& r, const TempDir& d) {
                  ServerCert(r, d, {.not_before_s = -90L * 86400, .not_after_s = -3600});
                },
                "expired: notAfter"},
        Refusal{"NotYetValid",
                [](ImportRequest& r, const TempDir& d) {
                  ServerCert(r, d, {.not_before_s = 2 * 86400, .not_after_s = 90L * 86400});
                },
                "is not yet valid: notBefore"},
        Refusal{"ForeignCa",
                [](ImportRequest& r, const TempDir&) {
                  r.ca_files = {SharedPki().File("foreign-ca.pem")};
                  r.crl_files.clear();
                },
                "server.pem: certificate (issuer CN=mies test CA,O=mies test) does not verify as "
                "a TLS server: unable to get local issuer certificate"},
        Refusal{"SanMismatch",
                [](ImportRequest& r, const TempDir&) {
                  r.plane = Plane::kInterNode;
                  r.cert_file = SharedPki().File("node.pem");
                  r.key_file = SharedPki().File("node.key.pem");
                  r.node_address = "127.0.1.7";
                },
                "node.pem: subjectAltName [IP:127.0.0.1, IP:127.0.1.1, DNS:localhost] does not "
                "cover 127.0.1.7"},
        Refusal{"CrlOfAnotherCa",
                [](ImportRequest& r, const TempDir& d) {
                  const testing::Pki& pki = SharedPki();
                  WriteFile(d / "crl.pem", testing::MintCrlPem(pki.foreign_ca.get(),
                                                               pki.foreign_ca_key.get(), {}));
                  r.crl_files = {d / "crl.pem"};
                },
                "crl.pem: CRL issuer CN=mies foreign CA,O=mies test is none of the plane's CAs"},
        Refusal{"ExpiredCrl",
                [](ImportRequest& r, const TempDir& d) {
                  const testing::Pki& pki = SharedPki();
                  WriteFile(d / "crl.pem", testing::MintCrlPem(pki.ca.get(), pki.ca_key.get(), {},
                                                               -40L * 86400, -10L * 86400));
                  r.crl_files = {d / "crl.pem"};
                },
                "crl.pem: CRL of CN=mies test CA,O=mies test expired: nextUpdate"},
        Refusal{"RevokedCertificate",
                [](ImportRequest& r, const TempDir& d) {
                  const testing::Pki& pki = SharedPki();
                  WriteFile(d / "crl.pem", testing::MintCrlPem(pki.ca.get(), pki.ca_key.get(),
                                                               {pki.server.get()}));
                  r.crl_files = {d / "crl.pem"};
                },
                "server.pem: certificate CN=mies server,O=mies test is revoked by"},
        Refusal{"WrongKeyPassword",
                [](ImportRequest& r, const TempDir& d) {
                  r.key_file = SharedPki().File("server.key.enc.pem");
                  WriteFile(d / "pass.txt", "guess\n");
                  r.key_password_file = d / "pass.txt";
                },
                "server.key.enc.pem: cannot decrypt the private key: wrong password"},
        Refusal{"GarbagePem",
                [](ImportRequest& r, const TempDir& d) {
                  WriteFile(d / "cert.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n");
                  r.cert_file = d / "cert.pem";
                },
                "cert.pem: does not parse: malformed PEM block: bad end line"},
        Refusal{"MissingSource",
                [](ImportRequest& r, const TempDir& d) { r.key_file = d / "nowhere.key.pem"; },
                "nowhere.key.pem: private key file"}),
    [](const ::testing::TestParamInfo<Refusal>& info) { return info.param.name; });

}  // namespace
}  // namespace mies::certs
