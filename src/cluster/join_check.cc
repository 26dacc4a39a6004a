#include "cluster/join_check.h"

#include <absl/strings/str_cat.h>
#include <absl/strings/str_join.h>

#include "cluster.pb.h"

namespace mies::cluster {

JoinClaim ClaimFromProto(const v1::JoinRequest& req) {
  JoinClaim c;
  c.protocol_version = req.protocol_version();
  c.node_address = req.node_address();
  c.ranks.assign(req.ranks().begin(), req.ranks().end());
  for (const auto& e : req.fingerprint()) c.fingerprint.emplace_back(e.field(), e.value());
  c.incarnation = req.incarnation();
  return c;
}

StatusOr<JoinClaim> DecodeJoinRequest(std::string_view wire) {
  v1::JoinRequest req;
  if (!req.ParseFromArray(wire.data(), static_cast<int>(wire.size()))) {
    return InvalidArgument("JoinRequest: not a valid protobuf message (", wire.size(), " bytes)");
  }
  return ClaimFromProto(req);
}

std::string JoinRefusal(const JoinClaim& claim, const std::vector<int>* ranktable_ranks,
                        const Fingerprint& master_fingerprint, const std::string& master_address,
                        uint32_t protocol_version) {
  const std::string& node = claim.node_address;
  if (claim.protocol_version != protocol_version) {
    return absl::StrCat("protocol version: master has ", protocol_version, ", node ", node, " has ",
                        claim.protocol_version);
  }
  auto list = [](const std::vector<int>& r) {
    return absl::StrCat("[", absl::StrJoin(r, ","), "]");
  };
  if (ranktable_ranks == nullptr) {
    return absl::StrCat("node ", node, " is not a slave in the ranktable",
                        node == master_address ? " (it is the master's address)" : "");
  }
  if (claim.ranks != *ranktable_ranks) {
    return absl::StrCat("rank identity: the ranktable gives node ", node, " ranks ",
                        list(*ranktable_ranks), ", it claims ", list(claim.ranks));
  }
  auto diffs = CompareFingerprints(master_fingerprint, claim.fingerprint, node);
  if (!diffs.empty()) return "fingerprint mismatch: " + absl::StrJoin(diffs, "; ");
  return "";
}

}  // namespace mies::cluster
