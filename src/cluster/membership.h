// The master's view of its cluster: which slave nodes have joined, the data-plane epoch and the
// cluster's state. Pure bookkeeping under one mutex, no sockets: the control service feeds it
// joins and heartbeats, the master's monitor thread calls Tick, the executor asks whether steps
// may run. Unit-tested on its own (tests/cluster/membership_test.cc).
//
// States:
//   kBroken   a node is missing or the data plane failed. When every slave has joined again,
//             Tick starts epoch N+1 (a new Gloo mesh, store keys "e<N+1>/") -> kForming.
//   kForming  every rank is connecting the epoch's mesh. When all report it formed -> kHealthy;
//             after connect_timeout + 2 s without that -> kBroken.
//   kHealthy  steps run. A lost heartbeat, a rank reporting its data plane failed, or a node
//             rejoining with a new incarnation (it restarted) -> kBroken.
// Entering kBroken calls `on_break` (the master abandons the step in flight: its requests fail
// now instead of at the collective timeout).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cluster/events.h"
#include "cluster/node_options.h"
#include "common/status.h"

namespace mies::cluster {

enum class ClusterState { kBroken, kForming, kHealthy };
const char* ClusterStateName(ClusterState state);

// An epoch target packs (join generation << 32 | epoch). The master's own workers always use
// generation 1; a slave counts its joins (see worker.h).
inline constexpr uint64_t kMasterGeneration = 1;
inline uint64_t MasterTarget(uint64_t epoch) { return (kMasterGeneration << 32) | epoch; }

class Membership {
 public:
  using Clock = std::chrono::steady_clock;
  struct Slave {
    std::string address;  // container_ip
    std::vector<int> ranks;
  };
  Membership(std::vector<Slave> slaves, const ClusterTimeouts& timeouts,
             std::function<void(const std::string& why)> on_break);

  // The ranks the ranktable gives a slave address; null when it is not a slave of this table.
  const std::vector<int>* RanksOf(const std::string& address) const;

  // A join that passed the join check. A node already joined under another incarnation has
  // restarted: the cluster breaks and re-forms with it.
  void Join(const std::string& address, uint64_t incarnation, const std::string& peer,
            Clock::time_point now = Clock::now());

  struct Beat {
    uint64_t incarnation = 0;
    uint64_t formed_epoch = 0;  // every rank of the node has this epoch's mesh
    uint64_t failed_epoch = 0;  // a rank of the node lost this epoch's mesh
    bool leaving = false;       // orderly goodbye after a shutdown
    uint64_t rss_bytes = 0;     // the node's resident memory (0: not reported)
  };
  // nullopt: the node is not joined under this incarnation (it must rejoin). Else the epoch its
  // ranks should form now (0: none while the cluster is broken).
  std::optional<uint64_t> Heartbeat(const std::string& address, const Beat& beat,
                                    Clock::time_point now = Clock::now());

  // One round of the master's monitor. `local_formed` / `local_failed` are the master's own
  // ranks' RankWorker::formed() / failed(). Returns the data-plane target the master's workers
  // must get when it changes (0: drop the mesh; MasterTarget(epoch): form it).
  std::optional<uint64_t> Tick(Clock::time_point now, const std::vector<uint64_t>& local_formed,
                               const std::vector<uint64_t>& local_failed);

  ClusterState state() const;
  bool healthy() const { return state() == ClusterState::kHealthy; }
  uint64_t epoch() const;
  // Blocks until kHealthy; DeadlineExceeded naming the missing nodes otherwise.
  Status WaitHealthy(std::chrono::milliseconds timeout);
  // MindIE's no_contact_node entries: "node(<ip>) is abnormal." per slave not joined.
  std::vector<std::string> AbnormalNodes() const;
  // Why steps cannot run now, naming each missing node and why it is missing.
  std::string UnavailableReason() const;
  // True when no slave counts as joined (after a shutdown, every one said goodbye).
  bool AllLeft() const;

  // A join the join check refused (control_service.cc): an error event naming the node and
  // the mismatching field.
  void RecordRefusal(const std::string& address, const std::string& why);

  // What the console shows of each slave and of the cluster (/v1/cluster).
  struct NodeView {
    std::string address;
    std::vector<int> ranks;
    // healthy: joined and holding the current epoch's mesh; joining: not joined yet, or joined
    // and (re)connecting the data plane; lost: it had joined and is gone (see lost_reason).
    std::string status;
    int64_t ms_since_heartbeat = -1;  // -1: never heard from
    std::string lost_reason;
    uint64_t rss_bytes = 0;  // from its last heartbeat; 0: unknown
  };
  struct View {
    ClusterState state = ClusterState::kBroken;
    uint64_t epoch = 0;
    std::vector<NodeView> nodes;  // the slaves, in address order
    std::vector<ClusterEvent> events;
  };
  View Snapshot(Clock::time_point now = Clock::now()) const;
  const EventLog& events() const { return events_; }

 private:
  struct Record {
    std::vector<int> ranks;
    bool joined = false;
    uint64_t incarnation = 0;
    Clock::time_point last;
    uint64_t formed = 0, failed = 0;
    std::string lost_reason = "never joined";
    bool ever_joined = false;
    uint64_t rss_bytes = 0;
  };
  void BreakLocked(const std::string& why);
  std::string UnavailableLocked() const;

  const ClusterTimeouts timeouts_;
  const std::function<void(const std::string&)> on_break_;
  mutable std::mutex mu_;
  std::condition_variable healthy_cv_;
  std::map<std::string, Record> nodes_;  // key set fixed at construction
  uint64_t epoch_ = 0;
  ClusterState state_ = ClusterState::kBroken;
  Clock::time_point forming_since_;
  EventLog events_;
};

}  // namespace mies::cluster
