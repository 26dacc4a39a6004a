// What both ends of the gRPC control plane share: message limits, addresses, deadlines, ids and
// the join fingerprint of a node.
#pragma once

#include <grpcpp/channel.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cluster/fingerprint.h"
#include "cluster/node_options.h"
#include "cluster/tls.h"
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
// A fresh channel to the master's control plane at `target` ("host:port"). gRPC 1.51's
// pick_first can stay in TRANSIENT_FAILURE after a refused first connect even once the server
// listens (seen here: a slave started a few ms before its master never joined), so callers
// start over with a new channel after a failed attempt; channels share no subchannel.
std::shared_ptr<grpc::Channel> NewControlChannel(const std::string& target, const TlsContext& tls);
// The fingerprint this node joins with (master: compares against).
StatusOr<Fingerprint> NodeFingerprint(const NodeOptions& options);

}  // namespace mies::cluster
