#include "common/cpu_budget.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace mies {
namespace {

namespace fs = std::filesystem;

TEST(CpuBudget, ParsesCgroupV2CpuMax) {
  EXPECT_EQ(ParseCpuMax("max 100000\n"), std::nullopt);
  EXPECT_DOUBLE_EQ(*ParseCpuMax("150000 100000\n"), 1.5);
  EXPECT_DOUBLE_EQ(*ParseCpuMax("200000"), 2.0);  // period defaults to 100 ms
  EXPECT_EQ(ParseCpuMax("garbage"), std::nullopt);
  EXPECT_EQ(ParseCpuMax("0 100000"), std::nullopt);
}

TEST(CpuBudget, ParsesCgroupV1CfsQuota) {
  EXPECT_EQ(ParseCfsQuota("-1\n", "100000\n"), std::nullopt);
  EXPECT_DOUBLE_EQ(*ParseCfsQuota("50000\n", "100000\n"), 0.5);
  EXPECT_EQ(ParseCfsQuota("50000", "0"), std::nullopt);
}

TEST(CpuBudget, ListsCpusAsRanges) {
  EXPECT_EQ(CpuListText({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(CpuListText({5}), "5");
  EXPECT_EQ(CpuListText({}), "");
}

TEST(CpuBudget, SplitsAllowedCpusAmongRanks) {
  CpuBudget b;
  b.allowed = {4, 5, 6, 7};
  b.usable = 4;
  EXPECT_EQ(DefaultThreadsPerRank(b, 2), 2);
  EXPECT_EQ(DefaultThreadsPerRank(b, 8), 1);  // never 0
  EXPECT_EQ(RankCpus(b, 0, 2), (std::vector<int>{4, 5}));
  EXPECT_EQ(RankCpus(b, 1, 2), (std::vector<int>{6, 7}));
  EXPECT_EQ(RankCpus(b, 2, 2), (std::vector<int>{4, 5}));  // more threads than CPUs: wraps
  b.usable = 1;                                            // a quota of 1.x CPUs
  EXPECT_EQ(DefaultThreadsPerRank(b, 2), 1);
}

// A made-up /proc and cgroup tree: the limit is the smallest along the cgroup's ancestors, from
// whichever hierarchy (v1 cpu or v2) holds one.
class CgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("mies-cpu-budget-" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    paths_.proc_self_cgroup = (root_ / "cgroup").string();
    paths_.proc_self_mountinfo = (root_ / "mountinfo").string();
    paths_.fs_prefix = (root_ / "fs").string();
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  fs::path root_;
  CpuProbePaths paths_;
};

TEST_F(CgroupTree, V2SmallestLimitAlongTheAncestorsWins) {
  Write(paths_.proc_self_cgroup, "0::/kubepods/pod1/ctr\n");
  Write(paths_.proc_self_mountinfo,
        "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n");
  const fs::path base = root_ / "fs/sys/fs/cgroup";
  Write(base / "kubepods/cpu.max", "max 100000\n");
  Write(base / "kubepods/pod1/cpu.max", "250000 100000\n");
  Write(base / "kubepods/pod1/ctr/cpu.max", "400000 100000\n");
  CpuBudget b = DetectCpuBudget(paths_);
  ASSERT_TRUE(b.quota.has_value());
  EXPECT_DOUBLE_EQ(*b.quota, 2.5);
  EXPECT_NE(b.quota_source.find("kubepods/pod1/cpu.max"), std::string::npos) << b.quota_source;
  EXPECT_EQ(b.usable, std::min<int>(2, b.allowed.size()));
  EXPECT_NE(b.Describe().find("cgroup quota 2.5"), std::string::npos) << b.Describe();
}

TEST_F(CgroupTree, V1CpuControllerInAContainerSeesItsCgroupAsTheMountRoot) {
  Write(paths_.proc_self_cgroup, "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n");
  // The container's mount shows its own cgroup (root /docker/abc) at /sys/fs/cgroup/cpu.
  Write(paths_.proc_self_mountinfo,
        "40 30 0:33 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup "
        "rw,cpu,cpuacct\n"
        "41 30 0:34 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n");
  const fs::path dir = root_ / "fs/sys/fs/cgroup/cpu,cpuacct";
  Write(dir / "cpu.cfs_quota_us", "100000\n");
  Write(dir / "cpu.cfs_period_us", "100000\n");
  CpuBudget b = DetectCpuBudget(paths_);
  ASSERT_TRUE(b.quota.has_value());
  EXPECT_DOUBLE_EQ(*b.quota, 1.0);
  EXPECT_EQ(b.usable, 1);
}

TEST_F(CgroupTree, NoLimitAndMissingFilesMeanTheAffinityMask) {
  Write(paths_.proc_self_cgroup, "0::/user.slice\n");
  Write(paths_.proc_self_mountinfo,
        "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");  // no cpu.max files at all
  CpuBudget b = DetectCpuBudget(paths_);
  EXPECT_FALSE(b.quota.has_value());
  EXPECT_EQ(b.usable, static_cast<int>(b.allowed.size()));
  paths_.proc_self_cgroup = (root_ / "absent").string();
  EXPECT_EQ(DetectCpuBudget(paths_).usable, static_cast<int>(b.allowed.size()));
}

// The real affinity mask: a thread restricted to one CPU (as under `taskset -c N`) sees one.
TEST(CpuBudget, FollowsTheRealAffinityMask) {
  const CpuBudget all = DetectCpuBudget();
  ASSERT_FALSE(all.allowed.empty());
  CpuBudget one;
  std::thread t([&] {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(all.allowed.back(), &set);
    ASSERT_EQ(sched_setaffinity(0, sizeof(set), &set), 0);
    one = DetectCpuBudget();
  });
  t.join();
  EXPECT_EQ(one.allowed, std::vector<int>{all.allowed.back()});
  EXPECT_EQ(one.usable, 1);
}

// The real cgroup: a child process moved into a cgroup with a 1.5-CPU quota sees it. Needs root
// and a writable cpu hierarchy (v2 with the cpu controller, or v1's cpu); skipped otherwise.
TEST(CpuBudget, FollowsARealCgroupQuota) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to create a cgroup";
  std::string dir;
  bool v2 = false;
  const std::string name = "mies-test-" + std::to_string(getpid());
  if (fs::exists("/sys/fs/cgroup/cgroup.controllers") &&
      fs::exists("/sys/fs/cgroup/cgroup.subtree_control")) {
    std::ifstream in("/sys/fs/cgroup/cgroup.subtree_control");
    std::string controllers((std::istreambuf_iterator<char>(in)), {});
    if (controllers.find("cpu") != std::string::npos) {
      dir = "/sys/fs/cgroup/" + name;
      v2 = true;
    }
  }
  if (dir.empty() && fs::exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")) {
    dir = "/sys/fs/cgroup/cpu/" + name;
  }
  if (dir.empty()) GTEST_SKIP() << "no writable cgroup cpu controller";
  std::error_code ec;
  if (!fs::create_directory(dir, ec)) GTEST_SKIP() << "cannot create " << dir << ": " << ec;
  struct Remove {
    std::string dir;
    ~Remove() { rmdir(dir.c_str()); }
  } remove{dir};
  if (v2) {
    std::ofstream(dir + "/cpu.max") << "150000 100000\n";
  } else {
    std::ofstream(dir + "/cpu.cfs_period_us") << "100000\n";
    std::ofstream(dir + "/cpu.cfs_quota_us") << "150000\n";
  }
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    { std::ofstream(dir + "/cgroup.procs") << getpid() << "\n"; }
    const CpuBudget b = DetectCpuBudget();
    const std::string report =
        std::to_string(b.usable) + " " + (b.quota ? std::to_string(*b.quota) : "none");
    (void)!write(pipe_fds[1], report.data(), report.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  char buf[128] = {};
  const ssize_t n = read(pipe_fds[0], buf, sizeof(buf) - 1);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n), "1 1.500000");
}

}  // namespace
}  // namespace mies
