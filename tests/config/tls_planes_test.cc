// The TLS keys of every plane in config.json: which key fills which field, what is compulsory
// when, the defaults, the names in the effective-config dump and in file-check messages. The
// expectations are written out here key by key (not taken from the plane table), so a changed
// key name, default or rule fails a test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "config/config.h"
#include "shipped_config.h"

namespace mies::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Parses `doc` with an empty environment; a failure fails the test (and yields defaults).
Config MustParse(const nlohmann::json& doc) {
  MapEnvironment env;
  auto config = ParseConfig(doc, env);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : Config{};
}

// One plane's keys as MindIE names them. `ca_path` empty: the plane's CA files live in the
// service plane's tlsCaPath.
struct PlaneKeys {
  std::string plane;
  std::string section;
  std::string ca_path, ca_files, cert, key, crl_path, crl_files, password;
  std::vector<std::string> removed;  // KMC keys: accepted and ignored
  std::function<const TlsMaterial&(const Config&)> material;
};

std::vector<PlaneKeys> AllPlaneKeys() {
  return {
      {"service",
       "ServerConfig",
       "tlsCaPath",
       "tlsCaFile",
       "tlsCert",
       "tlsPk",
       "tlsCrlPath",
       "tlsCrlFiles",
       "tlsPkPwd",
       {"kmcKsfMaster", "kmcKsfStandby"},
       [](const Config& c) -> const TlsMaterial& { return c.server.service_tls; }},
      {"management",
       "ServerConfig",
       "",
       "managementTlsCaFile",
       "managementTlsCert",
       "managementTlsPk",
       "managementTlsCrlPath",
       "managementTlsCrlFiles",
       "managementTlsPkPwd",
       {"managementKmcKsfMaster", "managementKmcKsfStandby"},
       [](const Config& c) -> const TlsMaterial& { return c.server.management_tls; }},
      {"metrics",
       "ServerConfig",
       "",
       "metricsTlsCaFile",
       "metricsTlsCert",
       "metricsTlsPk",
       "metricsTlsCrlPath",
       "metricsTlsCrlFiles",
       "metricsTlsPkPwd",
       {"metricsKmcKsfMaster", "metricsKmcKsfStandby"},
       [](const Config& c) -> const TlsMaterial& { return c.server.metrics_tls; }},
      {"internode",
       "BackendConfig",
       "interNodeTlsCaPath",
       "interNodeTlsCaFiles",
       "interNodeTlsCert",
       "interNodeTlsPk",
       "interNodeTlsCrlPath",
       "interNodeTlsCrlFiles",
       "interNodeTlsPkPwd",
       {"interNodeKmcKsfMaster", "interNodeKmcKsfStandby"},
       [](const Config& c) -> const TlsMaterial& { return c.backend.inter_node_tls; }},
      {"intercomm",
       "ServerConfig",
       "interCommTlsCaPath",
       "interCommTlsCaFiles",
       "interCommTlsCert",
       "interCommPk",
       "interCommTlsCrlPath",
       "interCommTlsCrlFiles",
       "interCommPkPwd",
       {"interCommKmcKsfMaster", "interCommKmcKsfStandby"},
       [](const Config& c) -> const TlsMaterial& { return c.server.inter_comm_tls; }},
  };
}

const PlaneKeys& Keys(const std::string& plane) {
  static const std::vector<PlaneKeys> all = AllPlaneKeys();
  for (const PlaneKeys& k : all) {
    if (k.plane == plane) return k;
  }
  throw std::out_of_range(plane);
}

// The shipped config with every TLS key of every plane removed.
nlohmann::json WithoutTlsKeys() {
  nlohmann::json doc = ShippedConfig();
  for (const PlaneKeys& k : AllPlaneKeys()) {
    for (const std::string& key :
         {k.ca_path, k.ca_files, k.cert, k.key, k.crl_path, k.crl_files, k.password}) {
      if (!key.empty()) doc[k.section].erase(key);
    }
  }
  return doc;
}

std::string V(const std::string& key) { return "v/" + key; }

// The shipped config with every TLS key of every plane set to a value naming the key.
nlohmann::json WithEveryTlsKey() {
  nlohmann::json doc = WithoutTlsKeys();
  for (const PlaneKeys& k : AllPlaneKeys()) {
    nlohmann::json& s = doc[k.section];
    if (!k.ca_path.empty()) s[k.ca_path] = V(k.ca_path);
    s[k.ca_files] = {V(k.ca_files)};
    s[k.cert] = V(k.cert);
    s[k.key] = V(k.key);
    s[k.crl_path] = V(k.crl_path);
    s[k.crl_files] = {V(k.crl_files)};
    s[k.password] = V(k.password);
    for (const std::string& removed : k.removed) s[removed] = "ignored";
  }
  return doc;
}

TEST(TlsPlaneKeys, EveryKeyOfEveryPlaneFillsItsField) {
  const Config config = MustParse(WithEveryTlsKey());
  EXPECT_THAT(config.unknown_keys, ::testing::IsEmpty());
  for (const PlaneKeys& k : AllPlaneKeys()) {
    SCOPED_TRACE(k.plane);
    const TlsMaterial& t = k.material(config);
    EXPECT_EQ(t.ca_path, V(k.ca_path.empty() ? "tlsCaPath" : k.ca_path));
    EXPECT_EQ(t.ca_files, std::vector<std::string>{V(k.ca_files)});
    EXPECT_EQ(t.cert, V(k.cert));
    EXPECT_EQ(t.key, V(k.key));
    EXPECT_EQ(t.crl_path, V(k.crl_path));
    EXPECT_EQ(t.crl_files, std::vector<std::string>{V(k.crl_files)});
    EXPECT_EQ(t.key_password_file, V(k.password));
  }
}

// The management and metrics planes have no CA directory key of their own.
TEST(TlsPlaneKeys, ManagementAndMetricsCaPathKeysAreUnknown) {
  nlohmann::json doc = ShippedConfig();
  doc["ServerConfig"]["managementTlsCaPath"] = "x/";
  doc["ServerConfig"]["metricsTlsCaPath"] = "y/";
  const Config config = MustParse(doc);
  EXPECT_THAT(config.unknown_keys,
              ::testing::UnorderedElementsAre("ServerConfig.managementTlsCaPath",
                                              "ServerConfig.metricsTlsCaPath"));
  EXPECT_EQ(config.server.management_tls.ca_path, "security/ca/");
}

TEST(TlsPlaneKeys, DefaultsOfEveryPlane) {
  const Config config = MustParse(WithoutTlsKeys());
  struct Expected {
    std::string plane, ca_path, ca_file, cert, key, crl_path;
  };
  const Expected expected[] = {
      {"service", "security/ca/", "ca.pem", "security/certs/server.pem",
       "security/keys/server.key.pem", "security/certs/"},
      {"management", "security/ca/", "management_ca.pem", "security/certs/management/server.pem",
       "security/keys/management/server.key.pem", "security/management/certs/"},
      {"metrics", "security/ca/", "metrics_ca.pem", "security/certs/metrics/server.pem",
       "security/keys/metrics/server.key.pem", "security/metrics/certs/"},
      {"internode", "security/grpc/ca/", "ca.pem", "security/grpc/certs/server.pem",
       "security/grpc/keys/server.key.pem", "security/grpc/certs/"},
      {"intercomm", "security/grpc/ca/", "ca.pem", "security/grpc/certs/server.pem",
       "security/grpc/keys/server.key.pem", "security/grpc/certs/"},
  };
  for (const Expected& e : expected) {
    SCOPED_TRACE(e.plane);
    const TlsMaterial& t = Keys(e.plane).material(config);
    EXPECT_EQ(t.ca_path, e.ca_path);
    EXPECT_EQ(t.ca_files, std::vector<std::string>{e.ca_file});
    EXPECT_EQ(t.cert, e.cert);
    EXPECT_EQ(t.key, e.key);
    EXPECT_EQ(t.crl_path, e.crl_path);
    EXPECT_EQ(t.crl_files, std::vector<std::string>{"server_crl.pem"});
    EXPECT_EQ(t.key_password_file, "");
  }
}

TEST(TlsPlaneKeys, DumpWritesEveryPlaneKeyBack) {
  const nlohmann::json dump = MustParse(WithEveryTlsKey()).ToJson();
  for (const PlaneKeys& k : AllPlaneKeys()) {
    SCOPED_TRACE(k.plane);
    const nlohmann::json& s = dump.at(k.section);
    if (!k.ca_path.empty()) {
      EXPECT_EQ(s.at(k.ca_path), V(k.ca_path));
    }
    EXPECT_EQ(s.at(k.ca_files), nlohmann::json::array({V(k.ca_files)}));
    EXPECT_EQ(s.at(k.cert), V(k.cert));
    EXPECT_EQ(s.at(k.key), V(k.key));
    EXPECT_EQ(s.at(k.crl_path), V(k.crl_path));
    EXPECT_EQ(s.at(k.crl_files), nlohmann::json::array({V(k.crl_files)}));
    EXPECT_EQ(s.at(k.password), V(k.password));
    for (const std::string& removed : k.removed) EXPECT_FALSE(s.contains(removed)) << removed;
  }
  EXPECT_FALSE(dump["ServerConfig"].contains("managementTlsCaPath"));
  EXPECT_FALSE(dump["ServerConfig"].contains("metricsTlsCaPath"));
  EXPECT_EQ(MustParse(dump).ToJson(), dump);
}

TEST(TlsPlaneKeys, DumpLeavesOutEmptyPasswordKeys) {
  const nlohmann::json dump = MustParse(ShippedConfig()).ToJson();
  for (const PlaneKeys& k : AllPlaneKeys()) {
    EXPECT_FALSE(dump.at(k.section).contains(k.password)) << k.password;
  }
}

// The effective configuration the daemon prints at start-up (ToJson().dump(2)) for the shipped
// config.json, against tests/config/testdata/shipped_config_dump.json. On a difference the
// actual text is written next to the test binary for diffing.
TEST(TlsPlaneKeys, ShippedConfigDumpIsUnchanged) {
  const std::string actual = MustParse(ShippedConfig()).ToJson().dump(2) + "\n";
  std::ifstream in(std::string(MIES_SOURCE_DIR) +
                   "/tests/config/testdata/shipped_config_dump.json");
  std::stringstream golden;
  golden << in.rdbuf();
  if (actual != golden.str()) {
    const std::string out = std::string(MIES_BINARY_DIR) + "/tests/config/shipped_config_dump.json";
    std::ofstream(out) << actual;
    ADD_FAILURE() << "the dump differs from the golden file; actual dump: " << out;
  }
}

// The shipped config with HTTPS on three listeners and inter-node TLS on: every plane but
// inter-comm needs its material.
nlohmann::json EveryPlaneOn() {
  nlohmann::json doc = ShippedConfig();
  doc["ServerConfig"]["httpsEnabled"] = true;
  doc["BackendConfig"]["multiNodesInferEnabled"] = true;
  doc["BackendConfig"]["interNodeTLSEnabled"] = true;
  return doc;
}

struct MissingKey {
  std::string plane;
  std::string key;
};

class TlsPlaneRequiredKeyTest : public ::testing::TestWithParam<MissingKey> {};

TEST_P(TlsPlaneRequiredKeyTest, MissingKeyIsNamed) {
  const PlaneKeys& k = Keys(GetParam().plane);
  nlohmann::json doc = EveryPlaneOn();
  MustParse(doc);
  ASSERT_TRUE(doc[k.section].contains(GetParam().key));
  doc[k.section].erase(GetParam().key);
  MapEnvironment env;
  auto config = ParseConfig(doc, env);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(std::string(config.status().message()),
            k.section + "." + GetParam().key + ": missing compulsory field");
}

INSTANTIATE_TEST_SUITE_P(
    EveryPlane, TlsPlaneRequiredKeyTest,
    ::testing::Values(
        MissingKey{"service", "tlsCaPath"}, MissingKey{"service", "tlsCaFile"},
        MissingKey{"service", "tlsCert"}, MissingKey{"service", "tlsPk"},
        MissingKey{"management", "managementTlsCaFile"},
        MissingKey{"management", "managementTlsCert"}, MissingKey{"management", "managementTlsPk"},
        MissingKey{"metrics", "metricsTlsCaFile"}, MissingKey{"metrics", "metricsTlsCert"},
        MissingKey{"metrics", "metricsTlsPk"}, MissingKey{"internode", "interNodeTlsCaPath"},
        MissingKey{"internode", "interNodeTlsCaFiles"}, MissingKey{"internode", "interNodeTlsCert"},
        MissingKey{"internode", "interNodeTlsPk"}),
    [](const auto& info) { return info.param.plane + "_" + info.param.key; });

TEST(TlsPlaneKeys, CrlKeysAndInterCommMaterialAreNeverCompulsory) {
  nlohmann::json doc = EveryPlaneOn();
  doc["ServerConfig"]["interCommTLSEnabled"] = true;
  for (const PlaneKeys& k : AllPlaneKeys()) {
    doc[k.section].erase(k.crl_path);
    doc[k.section].erase(k.crl_files);
  }
  const PlaneKeys& ic = Keys("intercomm");
  for (const std::string& key : {ic.ca_path, ic.ca_files, ic.cert, ic.key}) {
    doc["ServerConfig"].erase(key);
  }
  MustParse(doc);
}

TEST(TlsPlaneKeys, PlaneMaterialIsCompulsoryOnlyWhenThePlaneIsOn) {
  auto erase_required = [](nlohmann::json& doc) {
    for (const PlaneKeys& k : AllPlaneKeys()) {
      for (const std::string& key : {k.ca_path, k.ca_files, k.cert, k.key}) {
        if (!key.empty()) doc[k.section].erase(key);
      }
    }
  };
  nlohmann::json off = ShippedConfig();  // HTTPS off, single node
  erase_required(off);
  MustParse(off);

  nlohmann::json merged = EveryPlaneOn();  // one listener: only service material
  merged["ServerConfig"]["managementIpAddress"] = "127.0.0.1";
  merged["ServerConfig"]["managementPort"] = 1025;
  merged["ServerConfig"]["metricsPort"] = 1025;
  merged["BackendConfig"]["interNodeTLSEnabled"] = false;
  erase_required(merged);
  MapEnvironment env;
  auto st = ParseConfig(merged, env);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(std::string(st.status().message()),
            "ServerConfig.tlsCaPath: missing compulsory field\n"
            "ServerConfig.tlsCaFile: missing compulsory field\n"
            "ServerConfig.tlsCert: missing compulsory field\n"
            "ServerConfig.tlsPk: missing compulsory field");

  nlohmann::json tls_single_node = ShippedConfig();  // interNodeTLSEnabled without multi-node
  tls_single_node["BackendConfig"]["interNodeTLSEnabled"] = true;
  erase_required(tls_single_node);
  MustParse(tls_single_node);
}

// CheckReferencedFiles names each plane's files in its messages.
TEST(TlsPlaneKeys, ReferencedFileMessagesNameThePlane) {
  Config config = MustParse(EveryPlaneOn());
  config.home = "/nonexistent/mies-home";
  Status st = CheckReferencedFiles(config);
  ASSERT_FALSE(st.ok());
  const std::string msg(st.message());
  const std::string h = "/nonexistent/mies-home/";
  for (const std::string& line : {
           "service plane CA certificate " + h + "security/ca/ca.pem: ",
           "service plane certificate " + h + "security/certs/server.pem: ",
           "service plane private key " + h + "security/keys/server.key.pem: ",
           "service plane CRL " + h + "security/certs/server_crl.pem: ",
           "management plane CA certificate " + h + "security/ca/management_ca.pem: ",
           "management plane certificate " + h + "security/certs/management/server.pem: ",
           "management plane private key " + h + "security/keys/management/server.key.pem: ",
           "management plane CRL " + h + "security/management/certs/server_crl.pem: ",
           "metrics plane CA certificate " + h + "security/ca/metrics_ca.pem: ",
           "metrics plane certificate " + h + "security/certs/metrics/server.pem: ",
           "metrics plane private key " + h + "security/keys/metrics/server.key.pem: ",
           "metrics plane CRL " + h + "security/metrics/certs/server_crl.pem: ",
           "inter-node CA certificate " + h + "security/grpc/ca/ca.pem: ",
           "inter-node certificate " + h + "security/grpc/certs/server.pem: ",
           "inter-node private key " + h + "security/grpc/keys/server.key.pem: ",
           "inter-node CRL " + h + "security/grpc/certs/server_crl.pem: ",
       }) {
    EXPECT_THAT(msg, HasSubstr(line));
  }
  EXPECT_THAT(msg, Not(HasSubstr("key password file")));
  EXPECT_THAT(msg, Not(HasSubstr("inter-comm")));
}

}  // namespace
}  // namespace mies::config
