// The master's check of a JoinRequest, apart from the gRPC service so that it can be tested and
// fuzzed from the wire bytes without a running cluster.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/fingerprint.h"
#include "common/status.h"

namespace mies::cluster {

// Version of the control-plane protocol (proto/cluster.proto); a join must match it exactly.
inline constexpr uint32_t kProtocolVersion = 1;

namespace v1 {
class JoinRequest;  // proto/cluster.proto
}

// What a joining node claims.
struct JoinClaim {
  uint32_t protocol_version = 0;
  std::string node_address;
  std::vector<int> ranks;
  Fingerprint fingerprint;
  uint64_t incarnation = 0;
};

JoinClaim ClaimFromProto(const v1::JoinRequest& request);

// Decodes a JoinRequest from its protobuf wire bytes (what gRPC hands the service).
StatusOr<JoinClaim> DecodeJoinRequest(std::string_view wire);

// Empty when the master accepts the claim, else the refusal naming the field and both values.
// `ranktable_ranks` is what the ranktable gives the claimed address (null: not a slave there);
// `master_address` is the master's own container_ip.
std::string JoinRefusal(const JoinClaim& claim, const std::vector<int>* ranktable_ranks,
                        const Fingerprint& master_fingerprint, const std::string& master_address,
                        uint32_t protocol_version);

}  // namespace mies::cluster
