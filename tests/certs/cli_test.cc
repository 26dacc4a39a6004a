// The mies-certs program end to end: import three planes into a fresh install home, `check`
// passes on that tree and fails, naming the file, on a broken one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_pki.h"

namespace mies::certs {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::SharedPki;
using testing::TempDir;
using testing::WriteFile;

struct CliRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CliRun MiesCerts(const std::string& args) {
  std::string cmd = std::string(MIES_BINARY_DIR) + "/src/certs/mies-certs " + args + " 2>&1";
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nlohmann::json doc = nlohmann::json::parse(
        testing::ReadFile(std::string(MIES_SOURCE_DIR) + "/conf/config.json"));
    doc["ServerConfig"]["httpsEnabled"] = true;  // three planes: service, management, metrics
    WriteFile(home_ / "conf/config.json", doc.dump(2), 0640);
  }

  CliRun Import(const std::string& plane, const std::string& extra = "") {
    const testing::Pki& pki = SharedPki();
    return MiesCerts("import --home " + home_.path() + " --plane " + plane + " --ca " +
                     pki.File("ca.pem") + " --cert " + pki.File("server.pem") + " --key " +
                     pki.File("server.key.pem") + " --crl " + pki.File("crl.pem") + " " + extra);
  }

  TempDir home_;
};

TEST_F(CliTest, ImportThenCheckPassesForEveryEnabledPlane) {
  for (const char* plane : {"service", "management", "metrics"}) {
    CliRun r = Import(plane);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_THAT(r.output, HasSubstr(std::string(plane) + " plane: 4 files imported"));
  }
  CliRun check = MiesCerts("check --home " + home_.path());
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("PLANE"));
  EXPECT_THAT(check.output, HasSubstr("SUBJECT"));
  EXPECT_THAT(check.output, HasSubstr("EXPIRY"));
  EXPECT_THAT(check.output, HasSubstr("security/keys/management/server.key.pem"));
  EXPECT_THAT(check.output, HasSubstr("CN=mies server,O=mies test"));
  EXPECT_THAT(check.output, HasSubstr("check passed (3 planes"));
  EXPECT_THAT(check.output, Not(HasSubstr("error")));
}

TEST_F(CliTest, CheckOfABrokenTreeFailsNamingTheFileAndReason) {
  for (const char* plane : {"service", "management", "metrics"}) {
    ASSERT_EQ(Import(plane).exit_code, 0);
  }
  // An expired CRL for the metrics plane and a key readable by others for the management one.
  const testing::Pki& pki = SharedPki();
  const std::string crl = home_ / "security/metrics/certs/server_crl.pem";
  ASSERT_EQ(chmod(crl.c_str(), 0600), 0);
  WriteFile(crl, testing::MintCrlPem(pki.ca.get(), pki.ca_key.get(), {}, -9L * 86400, -86400));
  const std::string key = home_ / "security/keys/management/server.key.pem";
  ASSERT_EQ(chmod(key.c_str(), 0644), 0);

  CliRun check = MiesCerts("check --home " + home_.path());
  EXPECT_EQ(check.exit_code, 1) << check.output;
  EXPECT_THAT(check.output, HasSubstr("metrics: error: " + crl +
                                      ": CRL of CN=mies test CA,O=mies test expired: nextUpdate"));
  EXPECT_THAT(check.output, HasSubstr("management: error: " + key));
  EXPECT_THAT(check.output, HasSubstr("mode 0644 is wider than 0600"));
  EXPECT_THAT(check.output, HasSubstr("check FAILED"));
}

TEST_F(CliTest, CheckOfAnEmptyTreeNamesTheMissingFiles) {
  CliRun check = MiesCerts("check --home " + home_.path() + " --plane service");
  EXPECT_EQ(check.exit_code, 1) << check.output;
  EXPECT_THAT(check.output, HasSubstr(home_ / "security/certs/server.pem"));
  EXPECT_THAT(check.output, HasSubstr("No such file or directory"));
}

TEST_F(CliTest, InstalledBinaryFindsItsHomeFromItsOwnLocation) {
  // bin/mies-certs in an install tree: home is <bin>/.. unless $MINDIE_LLM_HOME_PATH says else.
  std::filesystem::create_directories(home_ / "bin");
  std::filesystem::copy_file(std::string(MIES_BINARY_DIR) + "/src/certs/mies-certs",
                             home_ / "bin/mies-certs");
  const testing::Pki& pki = SharedPki();
  const std::string args = " --plane service --ca " + pki.File("ca.pem") + " --cert " +
                           pki.File("server.pem") + " --key " + pki.File("server.key.pem");
  std::string cmd = "env -u MINDIE_LLM_HOME_PATH -u MIES_INSTALL_PATH -u MIES_CONFIG_JSON_PATH " +
                    (home_ / "bin/mies-certs") + " import" + args + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_EQ(testing::ReadFile(home_ / "security/certs/server.pem"),
            testing::ReadFile(pki.File("server.pem")));

  TempDir other;
  std::filesystem::create_directories(other / "conf");
  std::filesystem::copy_file(home_ / "conf/config.json", other / "conf/config.json");
  cmd = "MINDIE_LLM_HOME_PATH=" + other.path() + " " + (home_ / "bin/mies-certs") + " import" +
        args + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  struct stat st {};
  EXPECT_EQ(stat((other / "security/keys/server.key.pem").c_str(), &st), 0);
}

TEST_F(CliTest, RefusedImportExitsNonZeroAndInstallsNothing) {
  const testing::Pki& pki = SharedPki();
  CliRun r = MiesCerts("import --home " + home_.path() + " --plane service --ca " +
                       pki.File("foreign-ca.pem") + " --cert " + pki.File("server.pem") +
                       " --key " + pki.File("server.key.pem"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("service plane: nothing imported: error: " +
                                  pki.File("server.pem") + ": certificate"));
  struct stat st {};
  EXPECT_NE(stat((home_ / "security").c_str(), &st), 0);

  CliRun bad_plane = Import("grpc");
  EXPECT_EQ(bad_plane.exit_code, 2);
  EXPECT_THAT(bad_plane.output, HasSubstr("unknown plane \"grpc\""));
}

}  // namespace
}  // namespace mies::certs
