#include "cluster/slave.h"

#include <grpcpp/grpcpp.h>

#include <thread>

#include "cluster.grpc.pb.h"
#include "cluster/control_plane.h"
#include "cluster/join_check.h"
#include "cluster/local_ranks.h"
#include "cluster/worker.h"
#include "common/logging.h"
#include "common/process_memory.h"

namespace mies::cluster {
namespace {

namespace pb = ::mies::cluster::v1;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

using StubSource = std::function<std::shared_ptr<pb::Control::Stub>()>;

// The rendezvous store as seen from a slave: RPCs to the master.
class GrpcStore final : public KvStore {
 public:
  explicit GrpcStore(StubSource stub) : stub_(std::move(stub)) {}
  Status Set(const std::string& key, const std::string& value) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(milliseconds(5000)));
    pb::StoreSetRequest req;
    req.set_key(key);
    req.set_value(value);
    pb::StoreSetReply rep;
    grpc::Status s = stub_()->StoreSet(&ctx, req, &rep);
    if (!s.ok()) return absl::UnavailableError("store set: " + s.error_message());
    return OkStatus();
  }
  StatusOr<std::string> Get(const std::string& key, milliseconds timeout) override {
    const auto until = Clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
      if (left.count() <= 0) {
        return absl::DeadlineExceededError(
            absl::StrCat("rendezvous key '", key, "' not set within ", timeout.count(), " ms"));
      }
      grpc::ClientContext ctx;
      const auto slice = std::min(left, milliseconds(2000));
      ctx.set_deadline(DeadlineIn(slice + milliseconds(2000)));
      pb::StoreGetRequest req;
      req.set_key(key);
      req.set_timeout_ms(static_cast<uint32_t>(slice.count()));
      pb::StoreGetReply rep;
      grpc::Status s = stub_()->StoreGet(&ctx, req, &rep);
      if (!s.ok()) return absl::UnavailableError("store get: " + s.error_message());
      if (rep.found()) return rep.value();
    }
  }

 private:
  StubSource stub_;
};

}  // namespace

class SlaveImpl {
 public:
  explicit SlaveImpl(NodeOptions o) : o_(std::move(o)), incarnation_(RandomId()) {}

  Status Init() {
    MIES_ASSIGN_OR_RETURN(fp_, NodeFingerprint(o_));
    MIES_ASSIGN_OR_RETURN(tls_, TlsContext::Prepare(o_.tls));
    master_ = HostPort(o_.topology.master_address, o_.control_port);
    NewChannel();
    store_ = std::make_unique<GrpcStore>([this] { return Stub(); });
    state_.store = store_.get();
    MIES_ASSIGN_OR_RETURN(workers_, LoadLocalRanks(o_, &state_));
    return OkStatus();
  }

  ~SlaveImpl() {
    state_.shutdown = true;
    for (auto& w : workers_) w->StopAndJoin();
  }

  void Stop() { stop_ = true; }

  // A fresh channel to the master (see NewControlChannel: every failed join starts over).
  void NewChannel() {
    std::shared_ptr<pb::Control::Stub> stub =
        pb::Control::NewStub(NewControlChannel(master_, *tls_));
    std::lock_guard lock(stub_mu_);
    stub_ = std::move(stub);
  }
  std::shared_ptr<pb::Control::Stub> Stub() {
    std::lock_guard lock(stub_mu_);
    return stub_;
  }

  Status Run(const std::function<void()>& on_joined) {
    for (auto& w : workers_) w->Start();
    Status result = Serve(on_joined);
    state_.shutdown = true;
    for (auto& w : workers_) w->StopAndJoin();
    return result;
  }

 private:
  StatusOr<pb::JoinReply> JoinWithRetry(milliseconds total) {
    const auto start = Clock::now();
    const auto until = start + total;
    milliseconds backoff(200);
    std::string last_error;
    auto last_log = start - std::chrono::hours(1);
    pb::JoinRequest req;
    req.set_protocol_version(kProtocolVersion);
    req.set_node_address(o_.topology.local_address);
    for (int r : o_.topology.local_ranks) req.add_ranks(r);
    for (const auto& [f, v] : fp_) {
      auto* e = req.add_fingerprint();
      e->set_field(f);
      e->set_value(v);
    }
    req.set_incarnation(incarnation_);
    while (!stop_) {
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(milliseconds(3000)));
      pb::JoinReply rep;
      grpc::Status s = Stub()->Join(&ctx, req, &rep);
      if (s.ok()) {
        if (!rep.accepted()) {
          MIES_LOG_ERROR("slave {}: the master {} refused the join: {}", o_.topology.local_address,
                         master_, rep.message());
          return FailedPrecondition("the master ", master_, " refused the join of node ",
                                    o_.topology.local_address, ": ", rep.message());
        }
        return rep;
      }
      last_error = s.error_message();
      NewChannel();
      if (Clock::now() - last_log > std::chrono::seconds(10)) {
        MIES_LOG_WARN("slave {}: waiting for the master at {}: {}", o_.topology.local_address,
                      master_, last_error);
        last_log = Clock::now();
      }
      if (Clock::now() + backoff >= until) break;
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, milliseconds(1000));
    }
    if (stop_) return absl::CancelledError("stopped");
    const auto secs =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count();
    return absl::UnavailableError(absl::StrCat(
        "Failed to establish connection to master ", master_, " after ", secs,
        " s of retries (multiNodesInferPort; check the master is running, the firewall and, with "
        "interNodeTLSEnabled, that this node's certificate is trusted and not revoked): ",
        last_error));
  }

  // Reported to the master: the epoch every local rank has formed in this join generation.
  void Progress(uint64_t* formed, uint64_t* failed) const {
    *formed = 0;
    *failed = 0;
    bool all = true;
    uint64_t t = 0;
    for (auto& w : workers_) {
      const uint64_t f = w->formed();
      if (f == 0 || (f >> 32) != generation_ || (t != 0 && f != t)) all = false;
      t = f;
      const uint64_t x = w->failed();
      if (x != 0 && (x >> 32) == generation_) *failed = EpochOf(x);
    }
    if (all && t != 0) *formed = EpochOf(t);
  }

  Status Serve(const std::function<void()>& on_joined) {
    milliseconds join_budget = o_.timeouts.join_total;
    bool first = true;
    while (!stop_) {
      auto rep = JoinWithRetry(join_budget);
      if (!rep.ok()) {
        if (absl::IsCancelled(rep.status())) return OkStatus();
        MIES_LOG_ERROR("slave {}: {}", o_.topology.local_address,
                       std::string(rep.status().message()));
        return rep.status();
      }
      state_.target = 0;
      ++generation_;
      // Wait until every worker has let go of the old mesh before touching the caches.
      for (auto& w : workers_) {
        while (w->formed() != 0 && !stop_) std::this_thread::sleep_for(milliseconds(10));
        if (!w->has_cache(rep->num_kv_blocks(), rep->block_size())) {
          MIES_RETURN_IF_ERROR(
              w->AllocateCache(rep->num_kv_blocks(), rep->block_size(), o_.kv_reserve));
        }
      }
      const uint64_t session = rep->session();
      MIES_LOG_INFO("slave {}: joined the cluster of master {} (ranks {})",
                    o_.topology.local_address, master_, RankList(o_.topology.local_ranks));
      if (first && on_joined) on_joined();
      first = false;

      auto last_ok = Clock::now();
      bool rejoin = false;
      while (!stop_ && !rejoin) {
        std::this_thread::sleep_for(o_.timeouts.heartbeat_interval);
        const bool leaving = state_.shutdown_plan.load();
        pb::HeartbeatRequest req;
        req.set_session(session);
        req.set_node_address(o_.topology.local_address);
        req.set_incarnation(incarnation_);
        uint64_t formed, failed;
        Progress(&formed, &failed);
        req.set_formed_epoch(formed);
        req.set_failed_epoch(failed);
        req.set_leaving(leaving);
        req.set_rss_bytes(ResidentBytes());
        grpc::ClientContext ctx;
        ctx.set_deadline(DeadlineIn(o_.timeouts.heartbeat_timeout));
        pb::HeartbeatReply hb;
        grpc::Status s = Stub()->Heartbeat(&ctx, req, &hb);
        if (!s.ok()) {
          if (Clock::now() - last_ok > o_.timeouts.heartbeat_timeout) {
            MIES_LOG_ERROR(
                "slave {}: master {} lost (no heartbeat reply for {} ms: {}); waiting "
                "up to {} s for it to come back",
                o_.topology.local_address, master_,
                std::chrono::duration_cast<milliseconds>(Clock::now() - last_ok).count(),
                s.error_message(), o_.timeouts.master_rejoin_total.count() / 1000);
            state_.target = 0;
            join_budget = o_.timeouts.master_rejoin_total;
            rejoin = true;
          }
          continue;
        }
        last_ok = Clock::now();
        if (leaving || hb.shutdown()) {
          if (!leaving) {
            // Say goodbye explicitly so the master does not wait for our heartbeat to time out.
            grpc::ClientContext bye_ctx;
            bye_ctx.set_deadline(DeadlineIn(milliseconds(1000)));
            req.set_leaving(true);
            Stub()->Heartbeat(&bye_ctx, req, &hb);
          }
          MIES_LOG_INFO("slave {}: orderly cluster shutdown from the master",
                        o_.topology.local_address);
          return OkStatus();
        }
        if (!hb.known()) {
          MIES_LOG_WARN(
              "slave {}: the master {} no longer counts this node as joined (it declared "
              "it lost, or restarted); rejoining",
              o_.topology.local_address, master_);
          state_.target = 0;
          join_budget = o_.timeouts.master_rejoin_total;
          rejoin = true;
          continue;
        }
        state_.target = hb.target_epoch() == 0 ? 0 : ((generation_ << 32) | hb.target_epoch());
      }
    }
    return OkStatus();
  }

  NodeOptions o_;
  uint64_t incarnation_;
  uint64_t generation_ = 0;
  std::string master_;
  Fingerprint fp_;
  std::unique_ptr<TlsContext> tls_;
  std::mutex stub_mu_;
  std::shared_ptr<pb::Control::Stub> stub_;
  std::unique_ptr<GrpcStore> store_;
  NodeState state_;
  std::vector<std::unique_ptr<RankWorker>> workers_;
  std::atomic<bool> stop_{false};
};

ClusterSlave::ClusterSlave(std::unique_ptr<SlaveImpl> impl) : impl_(std::move(impl)) {}
ClusterSlave::~ClusterSlave() = default;

StatusOr<std::unique_ptr<ClusterSlave>> ClusterSlave::Create(const NodeOptions& options) {
  if (options.topology.is_master) {
    return InvalidArgument("ClusterSlave::Create on the master node (it holds rank 0)");
  }
  auto impl = std::make_unique<SlaveImpl>(options);
  MIES_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<ClusterSlave>(new ClusterSlave(std::move(impl)));
}
Status ClusterSlave::Run(const std::function<void()>& on_joined) { return impl_->Run(on_joined); }
void ClusterSlave::Stop() { impl_->Stop(); }

}  // namespace mies::cluster
