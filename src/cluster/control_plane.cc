#include "cluster/control_plane.h"

#include <absl/strings/str_cat.h>
#include <unistd.h>

#include <random>

namespace mies::cluster {

uint64_t RandomId() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(::getpid());
}

std::string HostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos && host.front() != '[') {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

std::string RankList(const std::vector<int>& ranks) {
  std::string s = "[";
  for (size_t i = 0; i < ranks.size(); ++i) s += absl::StrCat(i ? "," : "", ranks[i]);
  return s + "]";
}

std::chrono::system_clock::time_point DeadlineIn(std::chrono::milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

StatusOr<Fingerprint> NodeFingerprint(const NodeOptions& o) {
  FingerprintInputs in;
  in.model_dir = o.model_dir;
  in.dtype = o.dtype;
  in.ranktable = &o.ranktable;
  in.schedule = o.schedule ? &*o.schedule : nullptr;
  in.deterministic = o.deterministic;
  in.moe_ep = o.moe_ep;
  in.activations = o.activations;
  return ComputeFingerprint(in);
}

}  // namespace mies::cluster
