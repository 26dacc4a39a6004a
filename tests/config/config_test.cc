#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "shipped_config.h"

namespace mies::config {
namespace {

using ::testing::HasSubstr;

TEST(ConfigTest, ShippedConfigValidates) {
  MapEnvironment env;
  auto config = ParseConfig(ShippedConfig(), env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.port, 1025);
  EXPECT_EQ(config->server.management_port, 1026);
  EXPECT_FALSE(config->server.https_enabled);
  EXPECT_EQ(config->backend.schedule.max_batch_size, 200);
  EXPECT_EQ(config->backend.schedule.max_n, 128);
  ASSERT_EQ(config->backend.model_deploy.model_config.size(), 1u);
  EXPECT_EQ(config->backend.model_deploy.model_config[0].model_name, "stories260K");
  EXPECT_TRUE(config->unknown_keys.empty());
}

TEST(ConfigTest, AllowedOriginsAreReadAndDumped) {
  nlohmann::json doc = ShippedConfig();
  doc["ServerConfig"]["allowedOrigins"] = {"*", "https://ui.example:8443", "http://10.0.0.1",
                                           "http://[::1]:1026"};
  MapEnvironment env;
  auto config = ParseConfig(doc, env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.allowed_origins.size(), 4u);
  EXPECT_EQ(config->ToJson()["ServerConfig"]["allowedOrigins"][1], "https://ui.example:8443");
  EXPECT_TRUE(config->unknown_keys.empty());
  // Absent: nothing besides the management plane's own origin (and no key in the dump).
  auto shipped = ParseConfig(ShippedConfig(), env);
  EXPECT_TRUE(shipped->server.allowed_origins.empty());
  EXPECT_FALSE(shipped->ToJson()["ServerConfig"].contains("allowedOrigins"));
}

// One edit of the shipped config and the message it must produce. `value` null with
// `remove` set deletes the key.
struct BadCase {
  std::string name;
  std::string pointer;  // JSON pointer into the document
  nlohmann::json value;
  bool remove = false;
  std::string expected;  // substring of the error: the field path and the rule
};

std::vector<BadCase> BadCases() {
  using J = nlohmann::json;
  return {
      {"PortTooLow", "/ServerConfig/port", 80, false,
       "ServerConfig.port: value 80 is out of range [1024, 65535]"},
      {"PortWrongType", "/ServerConfig/port", "1025", false,
       "ServerConfig.port: expected an integer in [1024, 65535], got string \"1025\""},
      {"PortMissing", "/ServerConfig/port", J(), true,
       "ServerConfig.port: missing compulsory field"},
      // Floats far outside int64 once reached an undefined double->int cast (found by the
      // config_json fuzzer); they are an ordinary type error now.
      {"PortHugeFloat", "/ServerConfig/port", 3.33333e+85, false,
       "ServerConfig.port: expected an integer in [1024, 65535], got"},
      {"PortTwoPow63Float", "/ServerConfig/port", 9223372036854775808.0, false,
       "ServerConfig.port: expected an integer in [1024, 65535], got"},
      {"PortFraction", "/ServerConfig/port", 1025.5, false,
       "ServerConfig.port: expected an integer in [1024, 65535], got"},
      {"ManagementPortTooHigh", "/ServerConfig/managementPort", 70000, false,
       "ServerConfig.managementPort: value 70000 is out of range [1024, 65535]"},
      {"MetricsPortMissing", "/ServerConfig/metricsPort", J(), true,
       "ServerConfig.metricsPort: missing compulsory field"},
      {"BadIp", "/ServerConfig/ipAddress", "300.1.1.1", false,
       "ServerConfig.ipAddress: \"300.1.1.1\" is not a valid IPv4 or IPv6 address"},
      {"AllZeroIpRefused", "/ServerConfig/ipAddress", "0.0.0.0", false,
       "ServerConfig.ipAddress: \"0.0.0.0\" listens on every interface"},
      {"AllZeroIpv6Refused", "/ServerConfig/managementIpAddress", "::", false,
       "ServerConfig.managementIpAddress: \"::\" listens on every interface"},
      {"MaxLinkNumZero", "/ServerConfig/maxLinkNum", 0, false,
       "ServerConfig.maxLinkNum: value 0 is out of range [1, 4096]"},
      {"MaxLinkNumTooHigh", "/ServerConfig/maxLinkNum", 5000, false,
       "ServerConfig.maxLinkNum: value 5000 is out of range [1, 4096]"},
      {"HttpsNotBool", "/ServerConfig/httpsEnabled", "yes", false,
       "ServerConfig.httpsEnabled: expected true or false, got string \"yes\""},
      {"TlsCaFileTooMany", "/ServerConfig/tlsCaFile", J::array({"a", "b", "c", "d"}), false,
       "ServerConfig.tlsCaFile: has 4 items; expected a list of 1 to 3 strings"},
      {"TlsMinVersion", "/ServerConfig/tlsMinVersion", "1.1", false,
       "ServerConfig.tlsMinVersion: \"1.1\" is not one of \"1.2\", \"1.3\""},
      {"ApiKeyFileNotString", "/ServerConfig/apiKeyFile", true, false,
       "ServerConfig.apiKeyFile: expected a string, got"},
      {"InferModeUnknown", "/ServerConfig/inferMode", "fast", false,
       "ServerConfig.inferMode: \"fast\" is not one of standard, dmi"},
      {"TokenTimeoutZero", "/ServerConfig/tokenTimeout", 0, false,
       "ServerConfig.tokenTimeout: value 0 is out of range [1, 3600]"},
      {"E2eTimeoutTooHigh", "/ServerConfig/e2eTimeout", 70000, false,
       "ServerConfig.e2eTimeout: value 70000 is out of range [1, 65535]"},
      {"MaxRequestLength", "/ServerConfig/maxRequestLength", 101, false,
       "ServerConfig.maxRequestLength: value 101 is out of range [1, 100]"},
      {"MaxJsonDepth", "/ServerConfig/maxJsonDepth", 9, false,
       "ServerConfig.maxJsonDepth: value 9 is out of range [10, 100]"},
      {"AllowedOriginsNotAList", "/ServerConfig/allowedOrigins", "*", false,
       "ServerConfig.allowedOrigins: expected a list of 0 to 64 strings, got string"},
      {"AllowedOriginWithPath", "/ServerConfig/allowedOrigins",
       J::array({"*", "https://ui.example:8443/console"}), false,
       "ServerConfig.allowedOrigins[1]: \"https://ui.example:8443/console\" is not an origin: "
       "expected \"*\" or scheme://host[:port]"},
      {"AllowedOriginScheme", "/ServerConfig/allowedOrigins", J::array({"ftp://a"}), false,
       "ServerConfig.allowedOrigins[0]: \"ftp://a\" is not an origin"},
      {"NpuUsageThreshold", "/ServerConfig/HealthCheckConfig/npuUsageThreshold", 101, false,
       "ServerConfig.HealthCheckConfig.npuUsageThreshold: value 101 is out of range [0, 100]"},
      {"BackendNamePattern", "/BackendConfig/backendName", "Bad-Name", false,
       "BackendConfig.backendName: \"Bad-Name\" must match ^[a-z]+(_[a-z]+)*$"},
      {"ModelInstanceNumber", "/BackendConfig/modelInstanceNumber", 11, false,
       "BackendConfig.modelInstanceNumber: value 11 is out of range [1, 10]"},
      {"TokenizerProcessNumber", "/BackendConfig/tokenizerProcessNumber", 33, false,
       "BackendConfig.tokenizerProcessNumber: value 33 is out of range [1, 32]"},
      {"MultiNodePortEqualsPort", "/BackendConfig/multiNodesInferPort", 1025, false,
       "BackendConfig.multiNodesInferPort: value 1025 equals ServerConfig.port"},
      {"NpuDeviceIdsShape", "/BackendConfig/npuDeviceIds", J::array({0, 1}), false,
       "BackendConfig.npuDeviceIds: expected a list of lists of device ids"},
      {"NpuDeviceIdsDuplicate", "/BackendConfig/npuDeviceIds", J::array({J::array({0, 0})}), false,
       "BackendConfig.npuDeviceIds[0]: device id 0 appears twice"},
      {"NpuDeviceIdsVsWorldSize", "/BackendConfig/npuDeviceIds", J::array({J::array({0, 1})}),
       false,
       "BackendConfig.npuDeviceIds[0]: has 2 devices; rule: equal to "
       "ModelDeployConfig.ModelConfig[0].worldSize (1)"},
      {"NpuDeviceIdsVsInstances", "/BackendConfig/modelInstanceNumber", 2, false,
       "BackendConfig.npuDeviceIds: has 1 device sets; rule: one set per model instance"},
      {"MaxSeqLenZero", "/BackendConfig/ModelDeployConfig/maxSeqLen", 0, false,
       "BackendConfig.ModelDeployConfig.maxSeqLen: value 0 is out of range"},
      {"MaxInputTokenLen", "/BackendConfig/ModelDeployConfig/maxInputTokenLen", 4194305, false,
       "BackendConfig.ModelDeployConfig.maxInputTokenLen: value 4194305 is out of range "
       "[1, 4194304]"},
      {"Truncation", "/BackendConfig/ModelDeployConfig/truncation", 2, false,
       "BackendConfig.ModelDeployConfig.truncation: value 2 is not one of -1"},
      // 2^64-1 once wrapped to -1, a valid value, and was silently accepted.
      {"TruncationBeyondInt64", "/BackendConfig/ModelDeployConfig/truncation",
       J(18446744073709551615u), false,
       "BackendConfig.ModelDeployConfig.truncation: value 18446744073709551615 is not one of -1"},
      {"ModelConfigMissing", "/BackendConfig/ModelDeployConfig/ModelConfig", J(), true,
       "BackendConfig.ModelDeployConfig.ModelConfig: missing compulsory field"},
      {"ModelConfigTwo", "/BackendConfig/ModelDeployConfig/ModelConfig/1",
       ShippedConfig()["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0], false,
       "BackendConfig.ModelDeployConfig.ModelConfig: has 2 entries; templateType Standard needs "
       "exactly 1"},
      {"ModelNamePattern", "/BackendConfig/ModelDeployConfig/ModelConfig/0/modelName", "-bad",
       false, "BackendConfig.ModelDeployConfig.ModelConfig[0].modelName: \"-bad\" must match"},
      {"ModelWeightPathMissing", "/BackendConfig/ModelDeployConfig/ModelConfig/0/modelWeightPath",
       J(), true,
       "BackendConfig.ModelDeployConfig.ModelConfig[0].modelWeightPath: missing compulsory field"},
      {"ModelWeightPathEmpty", "/BackendConfig/ModelDeployConfig/ModelConfig/0/modelWeightPath", "",
       false,
       "BackendConfig.ModelDeployConfig.ModelConfig[0].modelWeightPath: must not be empty (a "
       "slave without the model sets weightSource \"master\")"},
      {"WeightSource", "/BackendConfig/ModelDeployConfig/ModelConfig/0/weightSource", "peer", false,
       "BackendConfig.ModelDeployConfig.ModelConfig[0].weightSource: \"peer\" is not one of "
       "local (every node reads modelWeightPath), master (the slaves fetch the model from the "
       "master)"},
      {"NpuMemSizeZero", "/BackendConfig/ModelDeployConfig/ModelConfig/0/npuMemSize", 0, false,
       "BackendConfig.ModelDeployConfig.ModelConfig[0].npuMemSize: value 0 is not allowed"},
      {"NpuMemSizeMinusTwo", "/BackendConfig/ModelDeployConfig/ModelConfig/0/npuMemSize", -2, false,
       "BackendConfig.ModelDeployConfig.ModelConfig[0].npuMemSize: value -2 is out of range"},
      {"BackendType", "/BackendConfig/ModelDeployConfig/ModelConfig/0/backendType", "cuda", false,
       "BackendConfig.ModelDeployConfig.ModelConfig[0].backendType: \"cuda\" is not one of atb, "
       "torch, ms"},
      {"Dtype", "/BackendConfig/ModelDeployConfig/ModelConfig/0/dtype", "int3", false,
       "BackendConfig.ModelDeployConfig.ModelConfig[0].dtype: \"int3\" is not one of auto, "
       "float32, bfloat16, float16, int8, int4, int4-g128"},
      {"KvCacheReserve", "/BackendConfig/ModelDeployConfig/ModelConfig/0/kvCacheReserve", "eager",
       false,
       "BackendConfig.ModelDeployConfig.ModelConfig[0].kvCacheReserve: \"eager\" is not one of "
       "touch, lock, lazy"},
      {"TpBelowOne", "/BackendConfig/ModelDeployConfig/ModelConfig/0/tp", 0, false,
       "BackendConfig.ModelDeployConfig.ModelConfig[0].tp: tp cannot be smaller than 1."},
      {"WorldSizeZero", "/BackendConfig/ModelDeployConfig/ModelConfig/0/worldSize", 0, false,
       "BackendConfig.ModelDeployConfig.ModelConfig[0].worldSize: value 0 is out of range"},
      {"TemplateType", "/BackendConfig/ScheduleConfig/templateType", "Fancy", false,
       "BackendConfig.ScheduleConfig.templateType: \"Fancy\" is not one of Standard, Mix"},
      {"TemplateName", "/BackendConfig/ScheduleConfig/templateName", "Other", false,
       "BackendConfig.ScheduleConfig.templateName: \"Other\" is not supported"},
      {"CacheBlockSize", "/BackendConfig/ScheduleConfig/cacheBlockSize", 256, false,
       "BackendConfig.ScheduleConfig.cacheBlockSize: value 256 is out of range [1, 128]"},
      {"MaxBatchSize", "/BackendConfig/ScheduleConfig/maxBatchSize", 900000, false,
       "BackendConfig.ScheduleConfig.maxBatchSize: value 900000 is out of range [1, 819200]"},
      {"MaxPrefillBatchSizeOverBatch", "/BackendConfig/ScheduleConfig/maxPrefillBatchSize", 201,
       false,
       "BackendConfig.ScheduleConfig.maxPrefillBatchSize: value 201 exceeds maxBatchSize (200)"},
      {"MaxPrefillTokensBelowInput", "/BackendConfig/ScheduleConfig/maxPrefillTokens", 1000, false,
       "BackendConfig.ScheduleConfig.maxPrefillTokens: value 1000 is smaller than "
       "ModelDeployConfig.maxInputTokenLen (2048)"},
      {"PrefillTimeMsPerReq", "/BackendConfig/ScheduleConfig/prefillTimeMsPerReq", 1001, false,
       "BackendConfig.ScheduleConfig.prefillTimeMsPerReq: value 1001 is out of range [0, 1000]"},
      {"DecodeTimeMsPerReq", "/BackendConfig/ScheduleConfig/decodeTimeMsPerReq", -1, false,
       "BackendConfig.ScheduleConfig.decodeTimeMsPerReq: value -1 is out of range [0, 1000]"},
      {"PrefillPolicyType", "/BackendConfig/ScheduleConfig/prefillPolicyType", 4, false,
       "BackendConfig.ScheduleConfig.prefillPolicyType: value 4 is out of range [0, 3]"},
      {"MaxIterTimesZero", "/BackendConfig/ScheduleConfig/maxIterTimes", 0, false,
       "BackendConfig.ScheduleConfig.maxIterTimes: value 0 is out of range"},
      {"MaxPreemptNeedsCpuMem", "/BackendConfig/ScheduleConfig/maxPreemptCount", 2, false,
       "BackendConfig.ScheduleConfig.maxPreemptCount: value 2 needs "
       "ModelDeployConfig.ModelConfig[0].cpuMemSize > 0"},
      {"MaxQueueDelay", "/BackendConfig/ScheduleConfig/maxQueueDelayMicroseconds", 100, false,
       "BackendConfig.ScheduleConfig.maxQueueDelayMicroseconds: value 100 is out of range "
       "[500, 1000000]"},
      {"SupportSelectBatchType", "/BackendConfig/ScheduleConfig/supportSelectBatch", 1, false,
       "BackendConfig.ScheduleConfig.supportSelectBatch: expected true or false"},
      {"MaxNOverBatch", "/BackendConfig/ScheduleConfig/maxN", 300, false,
       "BackendConfig.ScheduleConfig.maxN: value 300 exceeds maxBatchSize (200)"},
      {"PolicyType", "/BackendConfig/ScheduleConfig/policyType", 2, false,
       "BackendConfig.ScheduleConfig.policyType: value 2 is not one of 0, 4, 5, 6, 7"},
      {"LogLevel", "/LogConfig/dynamicLogLevel", "loud", false,
       "LogConfig.dynamicLogLevel: \"loud\" is not one of debug, info, warn, error, critical"},
      {"LogValidHours", "/LogConfig/dynamicLogLevelValidHours", 200, false,
       "LogConfig.dynamicLogLevelValidHours: value 200 is out of range [1, 168]"},
      {"ServerConfigMissing", "/ServerConfig", J(), true, "ServerConfig: missing compulsory field"},
      {"ScheduleConfigNotObject", "/BackendConfig/ScheduleConfig", 5, false,
       "BackendConfig.ScheduleConfig: expected an object, got number 5"},
  };
}

class BadConfigTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfigTest, NamesFieldValueAndRule) {
  const BadCase& c = GetParam();
  nlohmann::json doc = ShippedConfig();
  nlohmann::json::json_pointer ptr(c.pointer);
  if (c.remove) {
    doc[ptr.parent_pointer()].erase(ptr.back());
  } else {
    doc[ptr] = c.value;
  }
  MapEnvironment env;
  auto config = ParseConfig(doc, env);
  ASSERT_FALSE(config.ok()) << "accepted a config with " << c.pointer << " = " << c.value;
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.expected));
}

INSTANTIATE_TEST_SUITE_P(EveryRule, BadConfigTest, ::testing::ValuesIn(BadCases()),
                         [](const auto& info) { return info.param.name; });

TEST(ConfigTest, ReportsAllErrorsTogether) {
  nlohmann::json doc = ShippedConfig();
  doc["ServerConfig"]["port"] = 1;
  doc["BackendConfig"]["ScheduleConfig"]["maxBatchSize"] = 0;
  doc["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["dtype"] = "fp4";
  MapEnvironment env;
  auto config = ParseConfig(doc, env);
  ASSERT_FALSE(config.ok());
  std::string msg(config.status().message());
  EXPECT_THAT(msg, HasSubstr("ServerConfig.port"));
  EXPECT_THAT(msg, HasSubstr("BackendConfig.ScheduleConfig.maxBatchSize"));
  EXPECT_THAT(msg, HasSubstr("ModelConfig[0].dtype"));
}

TEST(ConfigTest, UnknownAndRemovedKeys) {
  nlohmann::json doc = ShippedConfig();
  doc["ServerConfig"]["somethingNew"] = 1;
  doc["ServerConfig"]["tlsPkPwd"] = "security/pass/key_pwd.txt";  // honoured as password file
  doc["ServerConfig"]["kmcKsfMaster"] = "tools/pmt/master/ksfa";  // removed: ignored
  doc["BackendConfig"]["interNodeKmcKsfStandby"] = "x";
  doc["BackendConfig"]["ScheduleConfig"]["enablePrefixCache"] = true;
  doc["TopLevelThing"] = {{"a", 1}};
  doc["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["custom_flag"] = true;
  MapEnvironment env;
  auto config = ParseConfig(doc, env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->unknown_keys,
              ::testing::UnorderedElementsAre("ServerConfig.somethingNew", "TopLevelThing"));
  EXPECT_EQ(config->server.service_tls.key_password_file, "security/pass/key_pwd.txt");
  EXPECT_EQ(config->backend.model_deploy.model_config[0].extra.at("custom_flag"), "1");
}

// A pass-through key may contain '.', which also separates the parts of a path in messages
// (found by the config_json fuzzer: the key was looked up by the text after its last '.' and
// the parser dereferenced the missing value).
TEST(ConfigTest, PassThroughKeyWithADotKeepsItsWholeName) {
  nlohmann::json doc = ShippedConfig();
  doc["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0]["runner.option"] = 7;
  MapEnvironment env;
  auto config = ParseConfig(doc, env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->backend.model_deploy.model_config[0].extra.at("runner.option"), "7");
}

TEST(ConfigTest, EnvironmentOverridesAddresses) {
  MapEnvironment env(
      {{"MIES_CONTAINER_IP", "127.0.1.5"}, {"MIES_CONTAINER_MANAGEMENT_IP", "127.0.1.6"}});
  auto config = ParseConfig(ShippedConfig(), env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.ip_address, "127.0.1.5");
  EXPECT_EQ(config->server.EffectiveManagementIp(), "127.0.1.6");
}

TEST(ConfigTest, EnvironmentAddressIsValidated) {
  MapEnvironment env({{"MIES_CONTAINER_IP", "not-an-ip"}});
  auto config = ParseConfig(ShippedConfig(), env);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("ServerConfig.ipAddress: \"not-an-ip\" (from $MIES_CONTAINER_IP)"));
}

TEST(ConfigTest, AllZeroAllowedWhenEnabled) {
  nlohmann::json doc = ShippedConfig();
  doc["ServerConfig"]["ipAddress"] = "0.0.0.0";
  doc["ServerConfig"]["allowAllZeroIpListening"] = true;
  MapEnvironment env;
  EXPECT_TRUE(ParseConfig(doc, env).ok());
}

TEST(ConfigTest, HttpsRequiresPlaneMaterialUnlessMerged) {
  nlohmann::json doc = ShippedConfig();
  doc["ServerConfig"]["httpsEnabled"] = true;
  doc["ServerConfig"].erase("managementTlsCert");
  MapEnvironment env;
  auto split = ParseConfig(doc, env);
  ASSERT_FALSE(split.ok());
  EXPECT_THAT(std::string(split.status().message()),
              HasSubstr("ServerConfig.managementTlsCert: missing compulsory field"));
  // One listener for all planes: management material is not needed.
  doc["ServerConfig"]["managementIpAddress"] = "127.0.0.1";
  doc["ServerConfig"]["managementPort"] = 1025;
  doc["ServerConfig"]["metricsPort"] = 1025;
  EXPECT_TRUE(ParseConfig(doc, env).ok());
}

TEST(ConfigTest, MixTemplateAllowsSmallPrefillBudget) {
  nlohmann::json doc = ShippedConfig();
  doc["BackendConfig"]["ScheduleConfig"]["templateType"] = "Mix";
  doc["BackendConfig"]["ScheduleConfig"]["maxPrefillTokens"] = 512;
  MapEnvironment env;
  EXPECT_TRUE(ParseConfig(doc, env).ok());
}

TEST(ConfigTest, LegacyTruncationBoolAndPrefillBatchZero) {
  nlohmann::json doc = ShippedConfig();
  doc["BackendConfig"]["ModelDeployConfig"]["truncation"] = true;
  doc["BackendConfig"]["ScheduleConfig"]["maxPrefillBatchSize"] = 0;
  MapEnvironment env;
  auto config = ParseConfig(doc, env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->backend.model_deploy.truncation, -1);
  EXPECT_EQ(config->backend.schedule.max_prefill_batch_size, 200);
}

TEST(ConfigTest, MultiNodeIgnoresDeviceIdsAndNeedsInterNodeTls) {
  nlohmann::json doc = ShippedConfig();
  doc["BackendConfig"]["multiNodesInferEnabled"] = true;
  doc["BackendConfig"]["npuDeviceIds"] = {{0, 1, 2}};  // overridden by the ranktable
  doc["BackendConfig"]["interNodeTLSEnabled"] = true;
  doc["BackendConfig"].erase("interNodeTlsCert");
  MapEnvironment env;
  auto config = ParseConfig(doc, env);
  ASSERT_FALSE(config.ok());
  std::string msg(config.status().message());
  EXPECT_THAT(msg, HasSubstr("BackendConfig.interNodeTlsCert: missing compulsory field"));
  EXPECT_THAT(msg, ::testing::Not(HasSubstr("npuDeviceIds")));
}

TEST(ConfigTest, ResolvesRelativePathsAgainstHome) {
  MapEnvironment env;
  auto config = ParseConfig(ShippedConfig(), env);
  ASSERT_TRUE(config.ok());
  config->home = "/opt/mies";
  EXPECT_EQ(config->ModelWeightPath(), "/opt/mies/models/stories260K");
  EXPECT_EQ(config->Resolve("/abs/path"), "/abs/path");
}

// apiKeyFile (mies extension): optional, empty = keys off; a path resolved like every other,
// printed in the effective config, and its file checked under the key-file rules (0600, owner,
// no link) with the field in the message.
TEST(ConfigTest, ApiKeyFileIsOptionalResolvedAndChecked) {
  MapEnvironment env;
  auto plain = ParseConfig(ShippedConfig(), env);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->server.api_key_file, "");
  EXPECT_FALSE(plain->ToJson()["ServerConfig"].contains("apiKeyFile"));

  char tmpl[] = "/tmp/mies_config_api_key_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string home = tmpl;
  nlohmann::json doc = ShippedConfig();
  doc["ServerConfig"]["apiKeyFile"] = "conf/api-keys.txt";
  auto config = ParseConfig(doc, env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->unknown_keys.empty());
  config->home = home;
  EXPECT_EQ(config->server.api_key_file, "conf/api-keys.txt");
  const std::string path = home + "/conf/api-keys.txt";
  EXPECT_EQ(config->Resolve(config->server.api_key_file), path);
  EXPECT_EQ(config->ToJson()["ServerConfig"]["apiKeyFile"], "conf/api-keys.txt");
  auto again = ParseConfig(config->ToJson(), env);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->server.api_key_file, "conf/api-keys.txt");

  // (The model directory does not exist here either: only the key file's lines matter.)
  auto check = [&] {
    Status st = CheckReferencedFiles(*config);
    return std::string(st.message());
  };
  EXPECT_THAT(check(), HasSubstr("ServerConfig.apiKeyFile " + path + ": cannot stat"));
  std::filesystem::create_directories(home + "/conf");
  std::ofstream(path) << "sk-1\n";
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  EXPECT_THAT(check(), HasSubstr("ServerConfig.apiKeyFile " + path +
                                 ": mode 0640 is wider than 0600 (rule: permissions no greater "
                                 "than 0600"));
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  EXPECT_THAT(check(), ::testing::Not(HasSubstr("apiKeyFile")));
  const std::string link = home + "/conf/link.txt";
  ASSERT_EQ(symlink(path.c_str(), link.c_str()), 0);
  config->server.api_key_file = link;  // absolute paths stay as they are
  EXPECT_THAT(check(),
              HasSubstr("ServerConfig.apiKeyFile " + link + ": must not be a symbolic link"));
  if (geteuid() == 0) {
    config->server.api_key_file = path;
    ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
    EXPECT_THAT(check(), HasSubstr("ServerConfig.apiKeyFile " + path + ": owner uid 65534"));
  }
  std::filesystem::remove_all(home);
}

// weightSource "master": a slave needs no modelWeightPath; its cache defaults under home.
TEST(ConfigTest, WeightsFromMasterMakeModelWeightPathOptional) {
  MapEnvironment env;
  nlohmann::json doc = ShippedConfig();
  auto& model = doc["BackendConfig"]["ModelDeployConfig"]["ModelConfig"][0];
  model.erase("modelWeightPath");
  model["weightSource"] = "master";
  auto config = ParseConfig(doc, env);
  ASSERT_TRUE(config.ok()) << config.status();
  config->home = "/opt/mies";
  EXPECT_TRUE(config->WeightsFromMaster());
  EXPECT_EQ(config->ModelWeightPath(), "");
  EXPECT_EQ(config->WeightCachePath(), "/opt/mies/cache/weights");
  model["modelWeightPath"] = "";
  model["weightCachePath"] = "/var/cache/mies";
  config = ParseConfig(doc, env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->WeightCachePath(), "/var/cache/mies");
  // A slave that fetches its model has no model directory to check.
  EXPECT_TRUE(CheckReferencedFiles(*config, /*model_from_master=*/true).ok());
  EXPECT_FALSE(CheckReferencedFiles(*config).ok());
  auto again = ParseConfig(config->ToJson(), env);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ToJson(), config->ToJson());
}

TEST(ConfigTest, ConfigPathPrecedence) {
  MapEnvironment env;
  EXPECT_EQ(ResolveConfigPath("", "/home/x", env), "/home/x/conf/config.json");
  env.Set("MIES_CONFIG_JSON_PATH", "/etc/mies.json");
  EXPECT_EQ(ResolveConfigPath("", "/home/x", env), "/etc/mies.json");
  EXPECT_EQ(ResolveConfigPath("/cli.json", "/home/x", env), "/cli.json");
}

TEST(ConfigTest, EffectiveConfigRoundTrips) {
  MapEnvironment env;
  auto config = ParseConfig(ShippedConfig(), env);
  ASSERT_TRUE(config.ok());
  auto again = ParseConfig(config->ToJson(), env);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ToJson(), config->ToJson());
}

}  // namespace
}  // namespace mies::config
