// The master's side of the control plane: the gRPC Control service (proto/cluster.proto).
//   Join       the join check (join_check.h) against the master's fingerprint and the
//              ranktable, then Membership::Join; the reply carries the KV pool size.
//   Heartbeat  Membership::Heartbeat; the reply is the heartbeat in the other direction, with
//              the epoch to form and the shutdown flag.
//   StoreSet / StoreGet  the Gloo rendezvous store (store.h), served from memory.
//   ModelManifest / FetchFile  the model's files for slaves without a copy (model_source.h),
//              to nodes of the ranktable only, when the master serves weights.
// Internal to the cluster library (master.cc).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "cluster.grpc.pb.h"
#include "cluster/fingerprint.h"
#include "cluster/membership.h"
#include "cluster/model_source.h"
#include "cluster/store.h"

namespace mies::cluster {

class ControlService final : public v1::Control::Service {
 public:
  struct Setup {
    Membership* membership = nullptr;
    MemoryStore* store = nullptr;
    Fingerprint fingerprint;
    std::string master_address;  // the master's container_ip, for the join check
    uint64_t session = 0;        // this master run; heartbeats of another session are unknown
    int64_t num_kv_blocks = 0;
    int64_t block_size = 0;
    const std::atomic<bool>* shutdown = nullptr;  // the cluster is shutting down
    ModelSource* model = nullptr;                 // null: weights are not served
  };
  explicit ControlService(Setup setup) : s_(std::move(setup)) {}

  grpc::Status Join(grpc::ServerContext* ctx, const v1::JoinRequest* req,
                    v1::JoinReply* rep) override;
  grpc::Status Heartbeat(grpc::ServerContext* ctx, const v1::HeartbeatRequest* req,
                         v1::HeartbeatReply* rep) override;
  grpc::Status StoreSet(grpc::ServerContext* ctx, const v1::StoreSetRequest* req,
                        v1::StoreSetReply* rep) override;
  grpc::Status StoreGet(grpc::ServerContext* ctx, const v1::StoreGetRequest* req,
                        v1::StoreGetReply* rep) override;
  grpc::Status ModelManifest(grpc::ServerContext* ctx, const v1::ModelManifestRequest* req,
                             v1::ModelManifestReply* rep) override;
  grpc::Status FetchFile(grpc::ServerContext* ctx, const v1::FetchFileRequest* req,
                         grpc::ServerWriter<v1::FileChunk>* writer) override;

 private:
  // Why `node` may not have the model's files ("" when it may).
  std::string ModelRefusal(const std::string& node) const;
  const Setup s_;
};

}  // namespace mies::cluster
