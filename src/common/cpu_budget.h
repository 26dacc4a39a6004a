// How many CPUs this process may really use: the CPUs its affinity mask allows (taskset,
// `docker --cpuset-cpus`, a cgroup cpuset) and, below that, a CPU bandwidth quota (cgroup v2
// `cpu.max`, cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`, the smallest along the cgroup's
// ancestors), rounded down and at least 1. `std::thread::hardware_concurrency()` counts the
// host's CPUs, which in a container oversubscribes the cores and makes every rank's threads wait
// on one another at each barrier of the thread pool.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mies {

struct CpuBudget {
  std::vector<int> allowed;     // CPU ids the affinity mask allows, ascending
  std::optional<double> quota;  // CPUs' worth of time per period the cgroup grants; unset: none
  std::string quota_source;     // the file the quota came from ("" when unset)
  int usable = 1;               // min(|allowed|, floor(quota)), at least 1

  // "2 CPUs (affinity 0-1; cgroup quota 1.5 from /sys/fs/cgroup/cpu/x/cpu.cfs_quota_us)".
  std::string Describe() const;
};

// Where DetectCpuBudget reads the cgroup facts; tests point it at a made-up tree.
struct CpuProbePaths {
  std::string proc_self_cgroup = "/proc/self/cgroup";
  std::string proc_self_mountinfo = "/proc/self/mountinfo";
  std::string fs_prefix;  // prepended to every mount point from mountinfo
};

// The budget of the calling process. Never fails: a missing or unreadable cgroup file means no
// quota, a failing sched_getaffinity means every online CPU.
CpuBudget DetectCpuBudget(const CpuProbePaths& paths = {});

// One limit from cgroup v2 `cpu.max` text ("150000 100000" -> 1.5; "max 100000" -> none).
std::optional<double> ParseCpuMax(std::string_view text);
// The same from v1 quota and period texts ("-1" quota -> none).
std::optional<double> ParseCfsQuota(std::string_view quota_us, std::string_view period_us);
// "0-3,8,10-11" from ids, for logs.
std::string CpuListText(const std::vector<int>& cpus);

// The CPUs rank `rank` of `ranks` on this node pins its `threads` threads to: consecutive CPUs of
// the allowed set, wrapping when the node asks for more threads than it has CPUs.
std::vector<int> RankCpus(const CpuBudget& budget, int rank, int threads);

// Threads per rank when cpuThreads is 0: the usable CPUs shared by the node's ranks, at least 1.
int DefaultThreadsPerRank(const CpuBudget& budget, int local_ranks);

}  // namespace mies
