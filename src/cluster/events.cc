#include "cluster/events.h"

#include <chrono>

namespace mies::cluster {

void EventLog::Add(std::string kind, bool error, std::string node, std::string message) {
  ClusterEvent e;
  e.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  e.kind = std::move(kind);
  e.error = error;
  e.node = std::move(node);
  e.message = std::move(message);
  std::lock_guard lock(mu_);
  e.seq = next_seq_++;
  events_.push_back(std::move(e));
  while (events_.size() > capacity_) events_.pop_front();
}

std::vector<ClusterEvent> EventLog::Recent() const {
  std::lock_guard lock(mu_);
  return {events_.begin(), events_.end()};
}

}  // namespace mies::cluster
