#include "cluster/master.h"

#include <grpcpp/grpcpp.h>

#include <thread>

#include "cluster/control_plane.h"
#include "cluster/control_service.h"
#include "cluster/local_ranks.h"
#include "cluster/worker.h"
#include "common/logging.h"

namespace mies::cluster {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class MasterImpl {
 public:
  explicit MasterImpl(NodeOptions o) : o_(std::move(o)), session_(RandomId()) {
    state_.store = &store_;
  }
  ~MasterImpl() { Shutdown(); }

  Status Init() {
    MIES_ASSIGN_OR_RETURN(Fingerprint fp, NodeFingerprint(o_));
    MIES_ASSIGN_OR_RETURN(tls_, TlsContext::Prepare(o_.tls));
    std::vector<Membership::Slave> slaves;
    for (size_t i = 0; i < o_.ranktable.servers.size(); ++i) {
      if (static_cast<int>(i) == o_.topology.local_server) continue;
      Membership::Slave s;
      s.address = o_.ranktable.servers[i].container_ip;
      for (const auto& d : o_.ranktable.servers[i].devices) s.ranks.push_back(d.rank_id);
      slaves.push_back(std::move(s));
    }
    const size_t num_slaves = slaves.size();
    membership_ = std::make_unique<Membership>(std::move(slaves), o_.timeouts,
                                               [this](const std::string& why) {
                                                 if (root_ != nullptr) root_->AbandonInFlight(why);
                                               });
    if (o_.weights_from_master) {
      // Hashed while this node loads its own ranks, so the manifest is ready when the control
      // plane opens and the slaves ask for it.
      model_source_ = std::make_unique<ModelSource>(o_.model_dir, o_.weights_test_chunk_bytes,
                                                    o_.weights_test_pause);
      manifest_thread_ = std::thread([src = model_source_.get()] { (void)src->Manifest(); });
    }
    MIES_ASSIGN_OR_RETURN(workers_, LoadLocalRanks(o_, &state_));
    for (auto& w : workers_) {
      MIES_RETURN_IF_ERROR(w->AllocateCache(o_.num_kv_blocks, o_.block_size, o_.kv_reserve));
      if (w->rank() == 0) root_ = w.get();
    }
    if (root_ == nullptr) return absl::InternalError("the master node holds no rank 0");

    ControlService::Setup setup;
    setup.membership = membership_.get();
    setup.store = &store_;
    setup.fingerprint = std::move(fp);
    setup.master_address = o_.topology.local_address;
    setup.session = session_;
    setup.num_kv_blocks = o_.num_kv_blocks;
    setup.block_size = o_.block_size;
    setup.shutdown = &state_.shutdown;
    setup.model = model_source_.get();  // null unless weights_from_master
    service_ = std::make_unique<ControlService>(std::move(setup));

    grpc::ServerBuilder b;
    int port = 0;
    const std::string addr = HostPort(o_.topology.master_address, o_.control_port);
    b.AddListeningPort(addr, tls_->ServerCredentials(), &port);
    b.SetMaxReceiveMessageSize(kMaxMessageBytes);
    b.SetMaxSendMessageSize(kMaxMessageBytes);
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    if (server_ == nullptr || port == 0) {
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on ", addr, " for the inter-node control plane (multiNodesInferPort)"));
    }
    MIES_LOG_INFO("master: control plane listening on {} ({}), waiting for {} slave node(s)", addr,
                  tls_->enabled() ? "mutual TLS" : "plaintext", num_slaves);
    for (auto& w : workers_) w->Start();
    monitor_ = std::thread([this] { Monitor(); });
    return OkStatus();
  }

  void Shutdown() {
    if (manifest_thread_.joinable()) manifest_thread_.join();
    if (shut_) return;
    shut_ = true;
    state_.shutdown = true;
    // Slaves learn it from their next heartbeat (and their workers from the shutdown plan);
    // wait briefly for them to say goodbye so their exit is orderly.
    const auto until = Clock::now() + 2 * o_.timeouts.heartbeat_interval + milliseconds(1000);
    while (membership_ != nullptr && Clock::now() < until && !membership_->AllLeft()) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    for (auto& w : workers_) w->StopAndJoin();
    stop_ = true;
    if (monitor_.joinable()) monitor_.join();
    if (server_) server_->Shutdown(DeadlineIn(milliseconds(500)));
    MIES_LOG_INFO("master: cluster shut down");
  }

  StatusOr<engine::StepResult> Submit(const engine::StepPlan& plan) { return root_->Submit(plan); }

  const NodeOptions& options() const { return o_; }
  Membership& membership() { return *membership_; }
  double TakeCollectiveSeconds() { return root_->TakeCollectiveSeconds(); }
  int64_t kv_pool_bytes_per_rank() const { return root_ ? root_->kv_pool_bytes() : 0; }

 private:
  // Every 50 ms: heartbeat deadlines, failures reported by ranks, epoch changes (Membership).
  void Monitor() {
    std::vector<uint64_t> formed, failed;
    while (!stop_) {
      std::this_thread::sleep_for(milliseconds(50));
      if (state_.shutdown) continue;
      formed.clear();
      failed.clear();
      for (auto& w : workers_) {
        formed.push_back(w->formed());
        failed.push_back(w->failed());
      }
      const std::optional<uint64_t> target = membership_->Tick(Clock::now(), formed, failed);
      if (!target) continue;
      if (*target != 0) store_.EraseAllBut(absl::StrCat("e", EpochOf(*target), "/"));
      state_.target = *target;
    }
  }

  NodeOptions o_;
  const uint64_t session_;
  NodeState state_;
  MemoryStore store_;
  std::unique_ptr<TlsContext> tls_;
  std::unique_ptr<Membership> membership_;
  std::vector<std::unique_ptr<RankWorker>> workers_;
  RankWorker* root_ = nullptr;                 // rank 0's worker (runs Submit)
  std::unique_ptr<ModelSource> model_source_;  // weights_from_master: what slaves fetch
  std::thread manifest_thread_;                // hashes the model at start
  std::unique_ptr<ControlService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::thread monitor_;
  std::atomic<bool> stop_{false};
  bool shut_ = false;
};

ClusterMaster::ClusterMaster(std::unique_ptr<MasterImpl> impl) : impl_(std::move(impl)) {}
ClusterMaster::~ClusterMaster() = default;

StatusOr<std::unique_ptr<ClusterMaster>> ClusterMaster::Start(const NodeOptions& options) {
  if (!options.topology.is_master) {
    return InvalidArgument("ClusterMaster::Start on a node that does not hold rank 0");
  }
  auto impl = std::make_unique<MasterImpl>(options);
  MIES_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<ClusterMaster>(new ClusterMaster(std::move(impl)));
}

Status ClusterMaster::WaitReady(milliseconds timeout) {
  return impl_->membership().WaitHealthy(timeout);
}
StatusOr<engine::StepResult> ClusterMaster::Submit(const engine::StepPlan& plan) {
  return impl_->Submit(plan);
}
ClusterState ClusterMaster::state() const { return impl_->membership().state(); }
std::vector<std::string> ClusterMaster::AbnormalNodes() const {
  return impl_->membership().AbnormalNodes();
}
std::string ClusterMaster::UnavailableReason() const {
  return impl_->membership().UnavailableReason();
}
const NodeOptions& ClusterMaster::options() const { return impl_->options(); }
double ClusterMaster::TakeCollectiveSeconds() { return impl_->TakeCollectiveSeconds(); }
int64_t ClusterMaster::kv_pool_bytes_per_rank() const { return impl_->kv_pool_bytes_per_rank(); }
Membership::View ClusterMaster::Snapshot() const { return impl_->membership().Snapshot(); }
void ClusterMaster::Shutdown() { impl_->Shutdown(); }

}  // namespace mies::cluster
