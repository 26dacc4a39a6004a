// Every crash input the fuzzers found (fuzz/regressions/<target>/<file>) goes through the same
// entry point that crashed and must now end in a clean error Status: no crash, no sanitizer
// report (the ASan pass runs this too), and an error message that says something. A file
// named ok-* was a valid input that crashed: it must now succeed. The seed corpora replay too:
// each must finish (error or not) without a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "entries/entries.h"
#include "entries/support.h"

namespace mies::fuzz {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> FilesIn(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && e.path().filename().string()[0] != '.' &&
        e.path().filename() != "README.md") {
      files.push_back(e.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

const fs::path kFuzzDir = fs::path(MIES_SOURCE_DIR) / "fuzz";

class FuzzReplayTest : public ::testing::TestWithParam<Target> {
 protected:
  static void SetUpTestSuite() { QuietLogging(); }
};

TEST_P(FuzzReplayTest, EveryCrashInputNowEndsInACleanStatus) {
  const Target& t = GetParam();
  const auto inputs = FilesIn(kFuzzDir / "regressions" / t.name);
  if (inputs.empty()) {
    GTEST_SKIP() << "no crash input recorded for " << t.name << " (fuzz/regressions/" << t.name
                 << "/ is empty); its seeds replay in EverySeedRunsWithoutACrash";
  }
  for (const fs::path& file : inputs) {
    SCOPED_TRACE(file.string());
    const Status s = t.run(ReadFile(file));
    if (file.filename().string().starts_with("ok-")) {
      EXPECT_TRUE(s.ok()) << s;
    } else {
      EXPECT_FALSE(s.ok()) << "a crash input is now accepted; if it is valid, name it ok-*";
      EXPECT_FALSE(s.message().empty());
    }
  }
}

TEST_P(FuzzReplayTest, EverySeedRunsWithoutACrash) {
  const Target& t = GetParam();
  const auto seeds = FilesIn(kFuzzDir / "corpus" / t.name);
  EXPECT_FALSE(seeds.empty()) << "no seed corpus for " << t.name;
  int ok = 0;
  for (const fs::path& file : seeds) {
    SCOPED_TRACE(file.string());
    if (t.run(ReadFile(file)).ok()) ++ok;
  }
  // Seeds are valid examples: most of them must be accepted, or the target tests nothing.
  EXPECT_GT(ok, 0) << "no seed of " << t.name << " is accepted";
}

INSTANTIATE_TEST_SUITE_P(AllTargets, FuzzReplayTest,
                         ::testing::ValuesIn(Targets().begin(), Targets().end()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace mies::fuzz
