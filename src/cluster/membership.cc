#include "cluster/membership.h"

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>

#include "cluster/control_plane.h"
#include "common/logging.h"

namespace mies::cluster {

using std::chrono::milliseconds;

const char* ClusterStateName(ClusterState state) {
  switch (state) {
    case ClusterState::kBroken:
      return "broken";
    case ClusterState::kForming:
      return "forming";
    case ClusterState::kHealthy:
      return "healthy";
  }
  return "unknown";
}

Membership::Membership(std::vector<Slave> slaves, const ClusterTimeouts& timeouts,
                       std::function<void(const std::string&)> on_break)
    : timeouts_(timeouts), on_break_(std::move(on_break)) {
  for (auto& s : slaves) nodes_[s.address].ranks = std::move(s.ranks);
}

const std::vector<int>* Membership::RanksOf(const std::string& address) const {
  auto it = nodes_.find(address);  // the key set never changes: no lock needed
  return it == nodes_.end() ? nullptr : &it->second.ranks;
}

void Membership::BreakLocked(const std::string& why) {
  if (state_ != ClusterState::kBroken) {
    MIES_LOG_WARN("master: cluster degraded (epoch {}): {}", epoch_, why);
    events_.Add("degraded", true, "", absl::StrCat("cluster degraded (epoch ", epoch_, "): ", why));
  }
  state_ = ClusterState::kBroken;
  // The step in flight may be blocked on the lost peer (a stopped or cut-off process keeps its
  // sockets open, so nothing fails until the collective timeout): its requests fail now.
  if (on_break_) on_break_("cluster degraded: " + why);
}

void Membership::Join(const std::string& address, uint64_t incarnation, const std::string& peer,
                      Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(address);
  if (it == nodes_.end()) return;  // the join check refuses unknown addresses first
  Record& r = it->second;
  if (r.joined && r.incarnation != incarnation) {
    MIES_LOG_WARN("master: node {} restarted and rejoined; re-forming the data plane", address);
    events_.Add("rejoined", false, address,
                absl::StrCat("node ", address, " restarted and rejoined (peer ", peer, ")"));
    BreakLocked("node " + address + " restarted");
  } else if (!r.joined) {
    MIES_LOG_INFO("master: node {} joined (ranks {}, peer {})", address, RankList(r.ranks), peer);
    events_.Add(
        "joined", false, address,
        absl::StrCat("node ", address, " joined (ranks ", RankList(r.ranks), ", peer ", peer, ")"));
  }
  r.ever_joined = true;
  r.joined = true;
  r.incarnation = incarnation;
  r.last = now;
  r.formed = r.failed = 0;
  r.lost_reason.clear();
}

std::optional<uint64_t> Membership::Heartbeat(const std::string& address, const Beat& beat,
                                              Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(address);
  if (it == nodes_.end() || !it->second.joined || it->second.incarnation != beat.incarnation) {
    return std::nullopt;
  }
  Record& r = it->second;
  r.last = now;
  r.formed = beat.formed_epoch;
  r.failed = beat.failed_epoch;
  if (beat.rss_bytes != 0) r.rss_bytes = beat.rss_bytes;
  if (beat.leaving) {
    r.joined = false;
    r.lost_reason = "left after shutdown";
    MIES_LOG_INFO("master: node {} left the cluster", address);
    events_.Add("left", false, address, absl::StrCat("node ", address, " left after shutdown"));
  }
  return state_ == ClusterState::kBroken ? 0 : epoch_;
}

std::optional<uint64_t> Membership::Tick(Clock::time_point now,
                                         const std::vector<uint64_t>& local_formed,
                                         const std::vector<uint64_t>& local_failed) {
  std::lock_guard lock(mu_);
  for (auto& [a, r] : nodes_) {
    if (r.joined && now - r.last > timeouts_.heartbeat_timeout) {
      r.joined = false;
      r.lost_reason =
          absl::StrCat("no heartbeat for ",
                       std::chrono::duration_cast<milliseconds>(now - r.last).count(), " ms");
      MIES_LOG_ERROR("master: node {} lost: {}", a, r.lost_reason);
      events_.Add("lost", true, a, absl::StrCat("node ", a, " lost: ", r.lost_reason));
      BreakLocked("node " + a + " lost");
    }
    if (r.joined && state_ != ClusterState::kBroken && r.failed == epoch_) {
      BreakLocked(absl::StrCat("node ", a, " reports its data plane failed"));
    }
  }
  for (uint64_t failed : local_failed) {
    if (state_ != ClusterState::kBroken && failed == MasterTarget(epoch_)) {
      BreakLocked("a local rank's data plane failed");
    }
  }
  std::optional<uint64_t> target;
  if (state_ == ClusterState::kBroken) {
    bool all = true;
    for (auto& [a, r] : nodes_) all &= r.joined;
    if (all) {
      ++epoch_;
      state_ = ClusterState::kForming;
      forming_since_ = now;
      target = MasterTarget(epoch_);
      MIES_LOG_INFO("master: all {} node(s) joined; connecting the data plane (epoch {})",
                    nodes_.size() + 1, epoch_);
    } else {
      target = 0;
    }
  }
  if (state_ == ClusterState::kForming) {
    bool all = true;
    for (auto& [a, r] : nodes_) all &= r.joined && r.formed == epoch_;
    for (uint64_t formed : local_formed) all &= formed == MasterTarget(epoch_);
    if (all) {
      state_ = ClusterState::kHealthy;
      MIES_LOG_INFO("master: cluster ready: {} node(s) (epoch {})", nodes_.size() + 1, epoch_);
      events_.Add("formed", false, "",
                  absl::StrCat("cluster formed: ", nodes_.size() + 1, " node(s), epoch ", epoch_));
      healthy_cv_.notify_all();
    } else if (now - forming_since_ > timeouts_.connect_timeout + milliseconds(2000)) {
      BreakLocked("the data plane did not connect in time");
    }
  }
  return target;
}

ClusterState Membership::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

uint64_t Membership::epoch() const {
  std::lock_guard lock(mu_);
  return epoch_;
}

Status Membership::WaitHealthy(milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!healthy_cv_.wait_for(lock, timeout, [&] { return state_ == ClusterState::kHealthy; })) {
    return absl::DeadlineExceededError(absl::StrCat("the cluster did not form within ",
                                                    timeout.count(), " ms: ", UnavailableLocked()));
  }
  return OkStatus();
}

std::vector<std::string> Membership::AbnormalNodes() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [a, r] : nodes_) {
    if (!r.joined) out.push_back(absl::StrCat("node(", a, ") is abnormal."));
  }
  return out;
}

std::string Membership::UnavailableReason() const {
  std::lock_guard lock(mu_);
  return UnavailableLocked();
}

std::string Membership::UnavailableLocked() const {
  std::vector<std::string> details;
  for (const auto& [a, r] : nodes_) {
    if (!r.joined) details.push_back(absl::StrCat("node(", a, ") is abnormal: ", r.lost_reason));
  }
  if (details.empty()) {
    return absl::StrCat("multi-node cluster unavailable: data plane (re)forming, epoch ", epoch_);
  }
  return "multi-node cluster unavailable: " + absl::StrJoin(details, "; ");
}

bool Membership::AllLeft() const {
  std::lock_guard lock(mu_);
  for (const auto& [a, r] : nodes_) {
    if (r.joined) return false;
  }
  return true;
}

void Membership::RecordRefusal(const std::string& address, const std::string& why) {
  events_.Add("refused", true, address, absl::StrCat("join of node ", address, " refused: ", why));
}

Membership::View Membership::Snapshot(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  View v;
  v.state = state_;
  v.epoch = epoch_;
  for (const auto& [a, r] : nodes_) {
    NodeView n;
    n.address = a;
    n.ranks = r.ranks;
    if (r.ever_joined) {
      n.ms_since_heartbeat = std::chrono::duration_cast<milliseconds>(now - r.last).count();
    }
    if (!r.joined) {
      n.status = r.ever_joined ? "lost" : "joining";
      n.lost_reason = r.lost_reason;
    } else {
      n.status = state_ == ClusterState::kHealthy ||
                         (epoch_ != 0 && r.formed == epoch_ && state_ != ClusterState::kBroken)
                     ? "healthy"
                     : "joining";
    }
    n.rss_bytes = r.rss_bytes;
    v.nodes.push_back(std::move(n));
  }
  v.events = events_.Recent();
  return v;
}

}  // namespace mies::cluster
