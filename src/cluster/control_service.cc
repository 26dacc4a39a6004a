#include "cluster/control_service.h"

#include <algorithm>

#include "cluster/join_check.h"
#include "common/logging.h"

namespace mies::cluster {

grpc::Status ControlService::Join(grpc::ServerContext* ctx, const v1::JoinRequest* req,
                                  v1::JoinReply* rep) {
  const JoinClaim claim = ClaimFromProto(*req);
  const std::string& node = claim.node_address;
  const std::string refusal = JoinRefusal(claim, s_.membership->RanksOf(node), s_.fingerprint,
                                          s_.master_address, kProtocolVersion);
  if (!refusal.empty()) {
    MIES_LOG_ERROR("master: refused the join of node {} (peer {}): {}", node, ctx->peer(), refusal);
    rep->set_accepted(false);
    rep->set_message(refusal);
    return grpc::Status::OK;
  }
  s_.membership->Join(node, req->incarnation(), ctx->peer());
  rep->set_accepted(true);
  rep->set_session(s_.session);
  rep->set_num_kv_blocks(s_.num_kv_blocks);
  rep->set_block_size(s_.block_size);
  return grpc::Status::OK;
}

grpc::Status ControlService::Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* req,
                                       v1::HeartbeatReply* rep) {
  rep->set_shutdown(s_.shutdown->load());
  if (req->session() != s_.session) {
    rep->set_known(false);
    return grpc::Status::OK;
  }
  Membership::Beat beat;
  beat.incarnation = req->incarnation();
  beat.formed_epoch = req->formed_epoch();
  beat.failed_epoch = req->failed_epoch();
  beat.leaving = req->leaving();
  const std::optional<uint64_t> target = s_.membership->Heartbeat(req->node_address(), beat);
  rep->set_known(target.has_value());
  if (target) rep->set_target_epoch(*target);
  return grpc::Status::OK;
}

grpc::Status ControlService::StoreSet(grpc::ServerContext*, const v1::StoreSetRequest* req,
                                      v1::StoreSetReply*) {
  Status s = s_.store->Set(req->key(), req->value());
  return s.ok() ? grpc::Status::OK
                : grpc::Status(grpc::StatusCode::INTERNAL, std::string(s.message()));
}

grpc::Status ControlService::StoreGet(grpc::ServerContext*, const v1::StoreGetRequest* req,
                                      v1::StoreGetReply* rep) {
  const std::chrono::milliseconds wait(std::min<uint32_t>(req->timeout_ms(), 5000));
  auto v = s_.store->Get(req->key(), wait);
  rep->set_found(v.ok());
  if (v.ok()) rep->set_value(*v);
  return grpc::Status::OK;
}

}  // namespace mies::cluster
