// The master's recent cluster events (node joined, node lost and why, cluster formed at epoch N,
// a join refused and why) in a bounded ring, for the management plane's /v1/cluster and the
// console. Thread-safe; recorded where the event happens (membership.cc, control_service.cc).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace mies::cluster {

struct ClusterEvent {
  uint64_t seq = 0;     // 1, 2, ... in recording order (never reused)
  int64_t unix_ms = 0;  // wall-clock time it was recorded
  std::string kind;     // joined, rejoined, left, lost, degraded, formed, refused
  bool error = false;   // lost, degraded, refused: shown highlighted
  std::string node;     // the node's container_ip; empty for cluster-wide events
  std::string message;  // one line for people
};

class EventLog {
 public:
  explicit EventLog(size_t capacity = 50) : capacity_(capacity == 0 ? 1 : capacity) {}

  void Add(std::string kind, bool error, std::string node, std::string message);
  // Oldest first, at most `capacity` events.
  std::vector<ClusterEvent> Recent() const;
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::deque<ClusterEvent> events_;
  uint64_t next_seq_ = 1;
};

}  // namespace mies::cluster
