#include "common/file_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace mies {
namespace {

using ::testing::HasSubstr;

class FileCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mies_file_check_XXXXXX";
    dir_ = mkdtemp(tmpl);
    unsetenv("MINDIE_CHECK_INPUTFILES_PERMISSION");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    chmod(path.c_str(), mode);
    return path;
  }

  std::string Check(const std::string& path, mode_t max_mode = 0640) {
    Status st = CheckInputFile(path, RuleFromEnv(max_mode), "config file");
    return st.ok() ? "ok" : std::string(st.message());
  }

  std::string dir_;
};

TEST_F(FileCheckTest, AcceptsPrivateRegularFile) {
  EXPECT_EQ(Check(Write("a.json", "{}", 0640)), "ok");
  EXPECT_EQ(Check(Write("b.json", "{}", 0400)), "ok");
}

TEST_F(FileCheckTest, RefusesWorldReadableMode) {
  std::string path = Write("a.json", "{}", 0644);
  EXPECT_THAT(Check(path), HasSubstr(path + ": mode 0644 is wider than 0640"));
}

TEST_F(FileCheckTest, KeyRuleIsStricter) {
  std::string path = Write("k.pem", "x", 0640);
  EXPECT_THAT(Check(path, kPrivateKeyMode), HasSubstr("mode 0640 is wider than 0600"));
}

TEST_F(FileCheckTest, RefusesSymlink) {
  std::string target = Write("a.json", "{}", 0640);
  std::string link = dir_ + "/link.json";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  EXPECT_THAT(Check(link), HasSubstr(link + ": must not be a symbolic link"));
}

TEST_F(FileCheckTest, RefusesEmptyFile) {
  std::string path = Write("a.json", "", 0640);
  EXPECT_THAT(Check(path), HasSubstr(path + ": is empty (rule: size in (0, 10485760] bytes)"));
}

TEST_F(FileCheckTest, RefusesOversizeFile) {
  std::string path = Write("a.json", "{}", 0640);
  ASSERT_EQ(truncate(path.c_str(), (10 << 20) + 1), 0);
  EXPECT_THAT(Check(path), HasSubstr("size 10485761 bytes exceeds the limit"));
}

TEST_F(FileCheckTest, RefusesDirectoryAndMissingFile) {
  EXPECT_THAT(Check(dir_), HasSubstr("must be a regular file"));
  EXPECT_THAT(Check(dir_ + "/nope.json"), HasSubstr("cannot stat"));
}

TEST_F(FileCheckTest, RefusesFileOwnedByAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create a file owned by another uid";
  std::string path = Write("a.json", "{}", 0640);
  ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
  EXPECT_THAT(Check(path), HasSubstr("owner uid 65534 differs from the running user uid 0"));
}

TEST_F(FileCheckTest, PermissionSwitchTurnsOffOwnerAndModeOnly) {
  setenv("MINDIE_CHECK_INPUTFILES_PERMISSION", "0", 1);
  EXPECT_EQ(Check(Write("a.json", "{}", 0666)), "ok");
  EXPECT_THAT(Check(Write("b.json", "", 0640)), HasSubstr("is empty"));
  setenv("MINDIE_CHECK_INPUTFILES_PERMISSION", "1", 1);
  EXPECT_THAT(Check(dir_ + "/a.json"), HasSubstr("mode 0666"));
}

}  // namespace
}  // namespace mies
