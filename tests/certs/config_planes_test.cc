// What the certificate tool and the daemon take from config.json for each plane: the files (as
// absolute paths), the plane names, which planes a configuration turns on, and the config.json
// keys and default password files named in import messages. Expectations are written out per
// plane, so a changed name, key or path fails a test.
#include "certs/config_planes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "certs/import.h"
#include "config/config.h"
#include "config/environment.h"
#include "config/tls_planes.h"
#include "test_pki.h"

namespace mies::certs {
namespace {

using ::testing::HasSubstr;
using testing::SharedPki;
using testing::TempDir;

nlohmann::json ShippedConfig() {
  return nlohmann::json::parse(
      testing::ReadFile(std::string(MIES_SOURCE_DIR) + "/conf/config.json"));
}

// Parses `doc` for an install home; a failure fails the test (and yields defaults).
config::Config Parse(const nlohmann::json& doc, const std::string& home) {
  config::MapEnvironment env;
  auto parsed = config::ParseConfig(doc, env);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  config::Config c = parsed.ok() ? *parsed : config::Config{};
  c.home = home;
  c.source_path = home + "/conf/config.json";
  return c;
}

// A config.json whose every TLS value is distinct: relative paths under the home for the
// service plane, absolute ones for the inter-node plane, a password file for management.
nlohmann::json SampleConfig() {
  nlohmann::json doc = ShippedConfig();
  nlohmann::json& s = doc["ServerConfig"];
  s["tlsCaPath"] = "sec/ca";
  s["tlsCaFile"] = {"root.pem", "second.pem"};
  s["tlsCert"] = "sec/svc/cert.pem";
  s["tlsPk"] = "sec/svc/key.pem";
  s["tlsCrlPath"] = "sec/svc/crl/";
  s["tlsCrlFiles"] = {"a.crl.pem", "b.crl.pem"};
  s["managementTlsCaFile"] = {"m-ca.pem"};
  s["managementTlsCert"] = "sec/m/cert.pem";
  s["managementTlsPk"] = "sec/m/key.pem";
  s["managementTlsCrlPath"] = "sec/m/crl";
  s["managementTlsCrlFiles"] = nlohmann::json::array();
  s["managementTlsPkPwd"] = "sec/m/pwd.txt";
  s["metricsTlsCaFile"] = {"x-ca.pem"};
  s["metricsTlsCert"] = "sec/x/cert.pem";
  s["metricsTlsPk"] = "sec/x/key.pem";
  s["metricsTlsCrlPath"] = "sec/x/crl/";
  s["metricsTlsCrlFiles"] = {"x.crl.pem"};
  nlohmann::json& b = doc["BackendConfig"];
  b["interNodeTlsCaPath"] = "/etc/grpc/ca/";
  b["interNodeTlsCaFiles"] = {"n-ca.pem"};
  b["interNodeTlsCert"] = "/etc/grpc/node.pem";
  b["interNodeTlsPk"] = "/etc/grpc/node.key.pem";
  b["interNodeTlsCrlPath"] = "";
  b["interNodeTlsCrlFiles"] = {"n.crl.pem"};
  b["interNodeTlsPkPwd"] = "/etc/grpc/pwd";
  return doc;
}

void ExpectMaterial(const PlaneMaterial& m, Plane plane, const std::vector<std::string>& ca_files,
                    const std::string& cert, const std::string& key, const std::string& password,
                    const std::vector<std::string>& crl_files) {
  EXPECT_EQ(m.plane, plane);
  EXPECT_EQ(m.ca_files, ca_files);
  EXPECT_EQ(m.cert_file, cert);
  EXPECT_EQ(m.key_file, key);
  EXPECT_EQ(m.key_password_file, password);
  EXPECT_EQ(m.crl_files, crl_files);
  EXPECT_EQ(m.node_address, "");
}

TEST(ConfigPlanes, ServiceMaterialFromConfig) {
  config::Config c = Parse(SampleConfig(), "/opt/mies");
  ExpectMaterial(MaterialFromConfig(c, Plane::kService), Plane::kService,
                 {"/opt/mies/sec/ca/root.pem", "/opt/mies/sec/ca/second.pem"},
                 "/opt/mies/sec/svc/cert.pem", "/opt/mies/sec/svc/key.pem", "",
                 {"/opt/mies/sec/svc/crl/a.crl.pem", "/opt/mies/sec/svc/crl/b.crl.pem"});
}

TEST(ConfigPlanes, ManagementMaterialFromConfig) {
  config::Config c = Parse(SampleConfig(), "/opt/mies");
  ExpectMaterial(MaterialFromConfig(c, Plane::kManagement), Plane::kManagement,
                 {"/opt/mies/sec/ca/m-ca.pem"}, "/opt/mies/sec/m/cert.pem",
                 "/opt/mies/sec/m/key.pem", "/opt/mies/sec/m/pwd.txt", {});
}

TEST(ConfigPlanes, MetricsMaterialFromConfig) {
  config::Config c = Parse(SampleConfig(), "/opt/mies");
  ExpectMaterial(MaterialFromConfig(c, Plane::kMetrics), Plane::kMetrics,
                 {"/opt/mies/sec/ca/x-ca.pem"}, "/opt/mies/sec/x/cert.pem",
                 "/opt/mies/sec/x/key.pem", "", {"/opt/mies/sec/x/crl/x.crl.pem"});
}

TEST(ConfigPlanes, InterNodeMaterialFromConfig) {
  config::Config c = Parse(SampleConfig(), "/opt/mies");
  ExpectMaterial(MaterialFromConfig(c, Plane::kInterNode), Plane::kInterNode,
                 {"/etc/grpc/ca/n-ca.pem"}, "/etc/grpc/node.pem", "/etc/grpc/node.key.pem",
                 "/etc/grpc/pwd", {"/opt/mies/n.crl.pem"});
}

TEST(ConfigPlanes, DefaultMaterialOfEveryPlane) {
  config::Config c = Parse(ShippedConfig(), "/h");
  ExpectMaterial(MaterialFromConfig(c, Plane::kService), Plane::kService, {"/h/security/ca/ca.pem"},
                 "/h/security/certs/server.pem", "/h/security/keys/server.key.pem", "",
                 {"/h/security/certs/server_crl.pem"});
  ExpectMaterial(MaterialFromConfig(c, Plane::kManagement), Plane::kManagement,
                 {"/h/security/ca/management_ca.pem"}, "/h/security/certs/management/server.pem",
                 "/h/security/keys/management/server.key.pem", "",
                 {"/h/security/management/certs/server_crl.pem"});
  ExpectMaterial(MaterialFromConfig(c, Plane::kMetrics), Plane::kMetrics,
                 {"/h/security/ca/metrics_ca.pem"}, "/h/security/certs/metrics/server.pem",
                 "/h/security/keys/metrics/server.key.pem", "",
                 {"/h/security/metrics/certs/server_crl.pem"});
  ExpectMaterial(MaterialFromConfig(c, Plane::kInterNode), Plane::kInterNode,
                 {"/h/security/grpc/ca/ca.pem"}, "/h/security/grpc/certs/server.pem",
                 "/h/security/grpc/keys/server.key.pem", "",
                 {"/h/security/grpc/certs/server_crl.pem"});
}

TEST(ConfigPlanes, NamesOfThePlanes) {
  EXPECT_STREQ(PlaneName(Plane::kService), "service");
  EXPECT_STREQ(PlaneName(Plane::kManagement), "management");
  EXPECT_STREQ(PlaneName(Plane::kMetrics), "metrics");
  EXPECT_STREQ(PlaneName(Plane::kInterNode), "internode");
  EXPECT_EQ((std::vector<Plane>(std::begin(kAllPlanes), std::end(kAllPlanes))),
            (std::vector<Plane>{Plane::kService, Plane::kManagement, Plane::kMetrics,
                                Plane::kInterNode}));
  EXPECT_EQ(ParsePlane("intercomm").status().message(),
            "unknown plane \"intercomm\" (expected service, management, metrics or internode)");
}

// Where an imported password file goes when config.json names none, and the key naming it.
TEST(ConfigPlanes, PasswordDefaultsAndKeys) {
  auto default_file = [](Plane p) {
    return std::string(config::TlsPlaneOf(p).defaults.import_password_file);
  };
  auto key = [](Plane p) {
    const config::TlsPlaneSpec& spec = config::TlsPlaneOf(p);
    return config::KeyPath(spec, spec.keys.key_password);
  };
  EXPECT_EQ(default_file(Plane::kService), "security/pass/key_pwd.txt");
  EXPECT_EQ(default_file(Plane::kManagement), "security/pass/management/key_pwd.txt");
  EXPECT_EQ(default_file(Plane::kMetrics), "security/pass/metrics/key_pwd.txt");
  EXPECT_EQ(default_file(Plane::kInterNode), "security/grpc/pass/mindie_server_key_pwd.txt");
  EXPECT_EQ(key(Plane::kService), "ServerConfig.tlsPkPwd");
  EXPECT_EQ(key(Plane::kManagement), "ServerConfig.managementTlsPkPwd");
  EXPECT_EQ(key(Plane::kMetrics), "ServerConfig.metricsTlsPkPwd");
  EXPECT_EQ(key(Plane::kInterNode), "BackendConfig.interNodeTlsPkPwd");
}

TEST(ConfigPlanes, EnabledPlanesFollowTheSwitches) {
  using P = std::vector<Plane>;
  nlohmann::json doc = ShippedConfig();
  EXPECT_EQ(EnabledPlanes(Parse(doc, "/h")), P{});
  doc["ServerConfig"]["httpsEnabled"] = true;
  EXPECT_EQ(EnabledPlanes(Parse(doc, "/h")),
            (P{Plane::kService, Plane::kManagement, Plane::kMetrics}));
  doc["BackendConfig"]["interNodeTLSEnabled"] = true;
  EXPECT_EQ(EnabledPlanes(Parse(doc, "/h")),
            (P{Plane::kService, Plane::kManagement, Plane::kMetrics}));
  doc["BackendConfig"]["multiNodesInferEnabled"] = true;
  EXPECT_EQ(EnabledPlanes(Parse(doc, "/h")),
            (P{Plane::kService, Plane::kManagement, Plane::kMetrics, Plane::kInterNode}));
  doc["ServerConfig"]["managementIpAddress"] = "127.0.0.1";
  doc["ServerConfig"]["managementPort"] = 1025;
  doc["ServerConfig"]["metricsPort"] = 1025;
  EXPECT_EQ(EnabledPlanes(Parse(doc, "/h")), (P{Plane::kService, Plane::kInterNode}));
  doc["ServerConfig"]["httpsEnabled"] = false;
  EXPECT_EQ(EnabledPlanes(Parse(doc, "/h")), P{Plane::kInterNode});
}

// Import refusals and notes name the plane's config.json keys.
struct PlaneImport {
  Plane plane;
  std::string ca_key, crl_key, password_note;
};

class ImportKeysTest : public ::testing::TestWithParam<PlaneImport> {
 protected:
  void SetUp() override {
    const testing::Pki& pki = SharedPki();
    config_ = Parse(ShippedConfig(), home_.path());
    req_.plane = GetParam().plane;
    const bool node = req_.plane == Plane::kInterNode;
    req_.ca_files = {pki.File("ca.pem")};
    req_.cert_file = pki.File(node ? "node.pem" : "server.pem");
    req_.key_file = pki.File(node ? "node.key.pem" : "server.key.pem");
  }
  TempDir home_;
  config::Config config_;
  ImportRequest req_;
};

TEST_P(ImportKeysTest, TooManyCasNameTheCaKey) {
  req_.ca_files.push_back(SharedPki().File("foreign-ca.pem"));
  ImportResult r = ImportPlane(config_, req_);
  EXPECT_EQ(std::string(r.status.message()),
            std::string(PlaneName(req_.plane)) + " plane: nothing imported: 2 CA files given but " +
                config_.source_path + " names 1 in " + GetParam().ca_key +
                "; list one file name per CA there first");
}

TEST_P(ImportKeysTest, TooManyCrlsNameTheCrlKey) {
  req_.crl_files = {SharedPki().File("crl.pem"), SharedPki().File("crl.pem")};
  ImportResult r = ImportPlane(config_, req_);
  EXPECT_EQ(std::string(r.status.message()),
            std::string(PlaneName(req_.plane)) +
                " plane: nothing imported: 2 CRL files given but " + config_.source_path +
                " names 1 in " + GetParam().crl_key + "; list one file name per CRL there first");
}

TEST_P(ImportKeysTest, PasswordFileNoteNamesTheKeyAndDefault) {
  TempDir src;
  testing::WriteFile(src / "pass.txt", "unused\n");
  req_.key_password_file = src / "pass.txt";
  ImportResult r = ImportPlane(config_, req_);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_THAT(r.notes, ::testing::Contains(GetParam().password_note));
  EXPECT_THAT(r.notes, ::testing::Contains(HasSubstr(GetParam().crl_key + " names ")));
}

INSTANTIATE_TEST_SUITE_P(
    EveryPlane, ImportKeysTest,
    ::testing::Values(
        PlaneImport{Plane::kService, "ServerConfig.tlsCaFile", "ServerConfig.tlsCrlFiles",
                    "config.json names no password file for the service plane: add \"tlsPkPwd\": "
                    "\"security/pass/key_pwd.txt\" to ServerConfig so the daemon can decrypt the "
                    "key"},
        PlaneImport{Plane::kManagement, "ServerConfig.managementTlsCaFile",
                    "ServerConfig.managementTlsCrlFiles",
                    "config.json names no password file for the management plane: add "
                    "\"managementTlsPkPwd\": \"security/pass/management/key_pwd.txt\" to "
                    "ServerConfig so the daemon can decrypt the key"},
        PlaneImport{Plane::kMetrics, "ServerConfig.metricsTlsCaFile",
                    "ServerConfig.metricsTlsCrlFiles",
                    "config.json names no password file for the metrics plane: add "
                    "\"metricsTlsPkPwd\": \"security/pass/metrics/key_pwd.txt\" to ServerConfig "
                    "so the daemon can decrypt the key"},
        PlaneImport{Plane::kInterNode, "BackendConfig.interNodeTlsCaFiles",
                    "BackendConfig.interNodeTlsCrlFiles",
                    "config.json names no password file for the internode plane: add "
                    "\"interNodeTlsPkPwd\": \"security/grpc/pass/mindie_server_key_pwd.txt\" to "
                    "BackendConfig so the daemon can decrypt the key"}),
    [](const auto& info) { return std::string(PlaneName(info.param.plane)); });

}  // namespace
}  // namespace mies::certs
