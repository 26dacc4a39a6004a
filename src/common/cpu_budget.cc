#include "common/cpu_budget.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

namespace mies {
namespace {

std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::optional<long long> ParseInteger(std::string_view s) {
  s = Trim(s);
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

std::vector<int> AffinityCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  if (cpus.empty()) {
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    for (int c = 0; c < std::max(1L, online); ++c) cpus.push_back(c);
  }
  return cpus;
}

// A cgroup hierarchy this process belongs to, resolved to a directory on this file system.
struct CgroupDir {
  bool v2 = false;
  std::string mount_dir;  // the hierarchy's mount point (with fs_prefix)
  std::string dir;        // this process's cgroup directory under it
};

// The cgroup directories holding CPU bandwidth limits: the v2 unified hierarchy and the v1
// hierarchy with the `cpu` controller, whichever are mounted.
std::vector<CgroupDir> CpuCgroupDirs(const CpuProbePaths& paths) {
  std::vector<CgroupDir> dirs;
  const std::optional<std::string> cgroups = ReadSmallFile(paths.proc_self_cgroup);
  const std::optional<std::string> mountinfo = ReadSmallFile(paths.proc_self_mountinfo);
  if (!cgroups || !mountinfo) return dirs;
  std::optional<std::string> v2_path, v1_cpu_path;
  for (std::string_view line : Split(*cgroups, '\n')) {
    // "hierarchy-id:controller-list:path"
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string_view::npos || b == std::string_view::npos) continue;
    const std::string_view controllers = line.substr(a + 1, b - a - 1);
    const std::string path(Trim(line.substr(b + 1)));
    if (line.substr(0, a) == "0" && controllers.empty()) v2_path = path;
    for (std::string_view c : Split(controllers, ',')) {
      if (c == "cpu") v1_cpu_path = path;
    }
  }
  for (std::string_view line : Split(*mountinfo, '\n')) {
    // "id parent major:minor root mountpoint options [optional...] - fstype source superoptions"
    const size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    std::vector<std::string_view> head = Split(line.substr(0, dash), ' ');
    std::vector<std::string_view> tail = Split(line.substr(dash + 3), ' ');
    if (head.size() < 5 || tail.size() < 3) continue;
    const std::string root(head[3]), mount_point(head[4]);
    const std::string_view fstype = tail[0];
    const std::optional<std::string>* path = nullptr;
    bool v2 = false;
    if (fstype == "cgroup2") {
      path = &v2_path;
      v2 = true;
    } else if (fstype == "cgroup") {
      for (std::string_view opt : Split(Trim(tail[2]), ',')) {
        if (opt == "cpu") path = &v1_cpu_path;
      }
    }
    if (path == nullptr || !path->has_value()) continue;
    // The cgroup path is relative to the hierarchy's root; the mount shows `root` of it (a
    // container sees its own cgroup as "/"). Outside the mounted part: use the mount point.
    std::string relative;
    const std::string& p = **path;
    if (root == "/") {
      relative = p == "/" ? "" : p;
    } else if (p.rfind(root, 0) == 0) {
      relative = p.substr(root.size());
    }
    CgroupDir d;
    d.v2 = v2;
    d.mount_dir = paths.fs_prefix + mount_point;
    d.dir = d.mount_dir + relative;
    dirs.push_back(d);
  }
  return dirs;
}

struct Quota {
  double cpus;
  std::string file;
};

// The smallest limit in `d.dir` and its ancestors up to the mount point.
std::optional<Quota> SmallestQuota(const CgroupDir& d) {
  std::optional<Quota> best;
  std::string dir = d.dir;
  while (true) {
    std::optional<double> q;
    std::string file;
    if (d.v2) {
      file = dir + "/cpu.max";
      if (auto text = ReadSmallFile(file)) q = ParseCpuMax(*text);
    } else {
      file = dir + "/cpu.cfs_quota_us";
      auto quota = ReadSmallFile(file), period = ReadSmallFile(dir + "/cpu.cfs_period_us");
      if (quota && period) q = ParseCfsQuota(*quota, *period);
    }
    if (q && (!best || *q < best->cpus)) best = Quota{*q, file};
    if (dir.size() <= d.mount_dir.size()) break;
    const size_t slash = dir.rfind('/');
    if (slash == std::string::npos || slash < d.mount_dir.size()) {
      dir = d.mount_dir;
    } else {
      dir.resize(slash);
    }
  }
  return best;
}

}  // namespace

std::optional<double> ParseCpuMax(std::string_view text) {
  std::vector<std::string_view> parts = Split(Trim(text), ' ');
  if (parts.empty() || parts[0] == "max") return std::nullopt;
  const std::optional<long long> quota = ParseInteger(parts[0]);
  const std::optional<long long> period =
      parts.size() > 1 ? ParseInteger(parts[1]) : std::optional<long long>(100000);
  if (!quota || !period || *quota <= 0 || *period <= 0) return std::nullopt;
  return static_cast<double>(*quota) / static_cast<double>(*period);
}

std::optional<double> ParseCfsQuota(std::string_view quota_us, std::string_view period_us) {
  const std::optional<long long> quota = ParseInteger(quota_us);
  const std::optional<long long> period = ParseInteger(period_us);
  if (!quota || !period || *quota <= 0 || *period <= 0) return std::nullopt;
  return static_cast<double>(*quota) / static_cast<double>(*period);
}

std::string CpuListText(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += "-" + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

std::string CpuBudget::Describe() const {
  std::string out = std::to_string(usable) + (usable == 1 ? " CPU" : " CPUs") + " (affinity " +
                    CpuListText(allowed);
  if (quota) {
    std::ostringstream q;
    q << *quota;
    out += "; cgroup quota " + q.str() + " from " + quota_source;
  }
  return out + ")";
}

CpuBudget DetectCpuBudget(const CpuProbePaths& paths) {
  CpuBudget b;
  b.allowed = AffinityCpus();
  for (const CgroupDir& d : CpuCgroupDirs(paths)) {
    std::optional<Quota> q = SmallestQuota(d);
    if (q && (!b.quota || q->cpus < *b.quota)) {
      b.quota = q->cpus;
      b.quota_source = q->file;
    }
  }
  int usable = static_cast<int>(b.allowed.size());
  if (b.quota) usable = std::min(usable, static_cast<int>(std::floor(*b.quota)));
  b.usable = std::max(1, usable);
  return b;
}

std::vector<int> RankCpus(const CpuBudget& budget, int rank, int threads) {
  std::vector<int> cpus;
  if (budget.allowed.empty() || threads < 1) return cpus;
  const size_t n = budget.allowed.size();
  for (int t = 0; t < threads; ++t) {
    cpus.push_back(budget.allowed[(static_cast<size_t>(rank) * threads + t) % n]);
  }
  return cpus;
}

int DefaultThreadsPerRank(const CpuBudget& budget, int local_ranks) {
  return std::max(1, budget.usable / std::max(1, local_ranks));
}

}  // namespace mies
