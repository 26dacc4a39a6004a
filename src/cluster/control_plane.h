// What both ends of the gRPC control plane share: message limits, addresses, deadlines, ids and
// the join fingerprint of a node.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "cluster/fingerprint.h"
#include "cluster/node_options.h"
#include "common/status.h"

namespace mies::cluster {

inline constexpr int kMaxMessageBytes = 256 << 20;  // MindIE's gRPC limit

// A random 64-bit id (the master's session, a slave's incarnation).
uint64_t RandomId();
// "host:port", with brackets around an IPv6 host.
std::string HostPort(const std::string& host, int port);
// "[1,2,3]" for log lines.
std::string RankList(const std::vector<int>& ranks);
std::chrono::system_clock::time_point DeadlineIn(std::chrono::milliseconds d);
// The fingerprint this node joins with (master: compares against).
StatusOr<Fingerprint> NodeFingerprint(const NodeOptions& options);

}  // namespace mies::cluster
