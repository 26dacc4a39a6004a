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
    s_.membership->RecordRefusal(node, refusal);
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
  beat.rss_bytes = req->rss_bytes();
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

std::string ControlService::ModelRefusal(const std::string& node) const {
  if (s_.model == nullptr) {
    return "this master does not serve its weights (its ModelConfig weightSource is not "
           "\"master\")";
  }
  if (s_.membership->RanksOf(node) == nullptr) {
    return absl::StrCat("node ", node, " is not a slave of the ranktable");
  }
  return "";
}

grpc::Status ControlService::ModelManifest(grpc::ServerContext* ctx,
                                           const v1::ModelManifestRequest* req,
                                           v1::ModelManifestReply* rep) {
  const std::string refusal = ModelRefusal(req->node_address());
  if (!refusal.empty()) {
    MIES_LOG_ERROR("master: refused the model manifest to node {} (peer {}): {}",
                   req->node_address(), ctx->peer(), refusal);
    rep->set_message(refusal);
    return grpc::Status::OK;
  }
  auto m = s_.model->Manifest();
  if (!m.ok()) {
    rep->set_message(absl::StrCat("the master cannot list its model: ", m.status().message()));
    return grpc::Status::OK;
  }
  rep->set_served(true);
  rep->set_model_key(m->key);
  for (const auto& f : m->files) {
    auto* e = rep->add_files();
    e->set_name(f.name);
    e->set_size(f.size);
    e->set_sha256(f.sha256);
  }
  return grpc::Status::OK;
}

grpc::Status ControlService::FetchFile(grpc::ServerContext* ctx, const v1::FetchFileRequest* req,
                                       grpc::ServerWriter<v1::FileChunk>* writer) {
  const std::string refusal = ModelRefusal(req->node_address());
  if (!refusal.empty()) return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, refusal);
  MIES_LOG_INFO("master: sending {} to node {}", req->name(), req->node_address());
  v1::FileChunk chunk;
  Status s = s_.model->Stream(req->model_key(), req->name(), [&](std::string_view bytes) {
    if (ctx->IsCancelled()) return false;
    chunk.set_data(bytes.data(), bytes.size());
    return writer->Write(chunk);
  });
  if (!s.ok()) {
    MIES_LOG_WARN("master: sending {} to node {} stopped: {}", req->name(), req->node_address(),
                  std::string(s.message()));
    return grpc::Status(absl::IsFailedPrecondition(s) ? grpc::StatusCode::FAILED_PRECONDITION
                                                      : grpc::StatusCode::UNAVAILABLE,
                        std::string(s.message()));
  }
  return grpc::Status::OK;
}

}  // namespace mies::cluster
