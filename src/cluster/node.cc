#include "cluster/node.h"

#include <absl/strings/str_join.h>
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <random>
#include <thread>

#include "certs/config_planes.h"
#include "cluster.grpc.pb.h"
#include "cluster/fingerprint.h"
#include "cluster/join_check.h"
#include "cluster/worker.h"
#include "common/logging.h"

namespace mies::cluster {
namespace {

namespace pb = ::mies::cluster::v1;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kMaxMessageBytes = 256 << 20;  // MindIE's gRPC limit
constexpr uint64_t kMasterGeneration = 1;

uint64_t RandomId() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(::getpid());
}

// True when `ip` is an address of this host (binding to it succeeds).
bool IsLocalAddress(const std::string& ip) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  std::string bare = ip;
  if (bare.size() > 2 && bare.front() == '[') bare = bare.substr(1, bare.size() - 2);
  if (inet_pton(AF_INET, bare.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, bare.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    len = sizeof(sockaddr_in6);
  } else {
    return false;
  }
  int fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0;
  ::close(fd);
  return ok;
}

std::string HostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos && host.front() != '[') {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

std::string RankList(const std::vector<int>& ranks) {
  std::string s = "[";
  for (size_t i = 0; i < ranks.size(); ++i) s += absl::StrCat(i ? "," : "", ranks[i]);
  return s + "]";
}

std::chrono::system_clock::time_point DeadlineIn(milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

// Loads every local rank's shard; each rank binds its device_ip when it is on this host.
StatusOr<std::vector<std::unique_ptr<RankWorker>>> MakeWorkers(const NodeOptions& o,
                                                               NodeState* state) {
  const config::RankServer& server = o.ranktable.servers[o.topology.local_server];
  std::vector<std::unique_ptr<RankWorker>> workers;
  for (size_t i = 0; i < server.devices.size(); ++i) {
    const config::RankDevice& d = server.devices[i];
    std::string bind = o.topology.local_address;
    if (!d.device_ip.empty() && IsLocalAddress(d.device_ip)) {
      bind = d.device_ip;
    } else if (!d.device_ip.empty()) {
      MIES_LOG_WARN(
          "rank {}: device_ip {} is not an address of this host; the data plane binds "
          "the node address {}",
          d.rank_id, d.device_ip, bind);
    }
    auto w = std::make_unique<RankWorker>(d.rank_id, o.ranktable.WorldSize(), bind, o.deterministic,
                                          o.timeouts, state);
    const std::vector<int> pin = i < o.pin_cpus.size() ? o.pin_cpus[i] : std::vector<int>{};
    Status s = w->LoadModel(o.model_dir, o.dtype, o.threads_per_rank, pin);
    if (!s.ok()) {
      return FailedPrecondition("rank ", d.rank_id, ": loading its shard of ", o.model_dir,
                                " failed: ", s.message());
    }
    workers.push_back(std::move(w));
  }
  return workers;
}

StatusOr<Fingerprint> NodeFingerprint(const NodeOptions& o) {
  FingerprintInputs in;
  in.model_dir = o.model_dir;
  in.dtype = o.dtype;
  in.ranktable = &o.ranktable;
  in.schedule = o.schedule ? &*o.schedule : nullptr;
  in.deterministic = o.deterministic;
  return ComputeFingerprint(in);
}

}  // namespace

StatusOr<NodeOptions> NodeOptionsFromConfig(const config::Config& config,
                                            const config::RankTable& ranktable,
                                            const config::Topology& topology,
                                            const config::Environment& env, int64_t num_kv_blocks) {
  if (config.backend.model_deploy.model_config.empty()) {
    return InvalidArgument("ModelDeployConfig.ModelConfig is empty");
  }
  const config::ModelConfig& mc = config.backend.model_deploy.model_config[0];
  NodeOptions o;
  o.ranktable = ranktable;
  o.topology = topology;
  o.model_dir = config.ModelWeightPath();
  o.dtype = mc.dtype;
  o.control_port = config.backend.multi_nodes_infer_port;
  o.tls.enabled = config.backend.inter_node_tls_enabled;
  o.tls.material = certs::MaterialFromConfig(config, certs::Plane::kInterNode);
  o.tls.material.node_address = topology.local_address;
  o.schedule = config.backend.schedule;
  o.deterministic = DeterministicFromEnv(env);
  o.num_kv_blocks = num_kv_blocks;
  o.block_size = config.backend.schedule.cache_block_size;
  const int local = std::max<int>(1, topology.local_ranks.size());
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  o.threads_per_rank = mc.cpu_threads > 0 ? mc.cpu_threads : std::max(1, cores / local);
  if (mc.cpu_bind_cores) {
    for (int r = 0; r < local; ++r) {
      std::vector<int> cpus;
      for (int t = 0; t < o.threads_per_rank; ++t)
        cpus.push_back((r * o.threads_per_rank + t) % cores);
      o.pin_cpus.push_back(cpus);
    }
  }
  return o;
}

// ------------------------------------------------------------------------------------------
// Master

class MasterImpl final : public pb::Control::Service, public engine::Executor {
 public:
  explicit MasterImpl(NodeOptions o) : o_(std::move(o)), session_(RandomId()) {
    state_.store = &store_;
  }

  Status Init() {
    MIES_ASSIGN_OR_RETURN(fp_, NodeFingerprint(o_));
    MIES_ASSIGN_OR_RETURN(tls_, TlsContext::Prepare(o_.tls));
    for (size_t i = 0; i < o_.ranktable.servers.size(); ++i) {
      if (static_cast<int>(i) == o_.topology.local_server) continue;
      Record r;
      r.address = o_.ranktable.servers[i].container_ip;
      for (const auto& d : o_.ranktable.servers[i].devices) r.ranks.push_back(d.rank_id);
      nodes_.emplace(r.address, r);
    }
    MIES_ASSIGN_OR_RETURN(workers_, MakeWorkers(o_, &state_));
    for (auto& w : workers_) MIES_RETURN_IF_ERROR(w->CreateCache(o_.num_kv_blocks, o_.block_size));
    for (auto& w : workers_) {
      if (w->rank() == 0) root_ = w.get();
    }
    if (root_ == nullptr) return absl::InternalError("the master node holds no rank 0");

    grpc::ServerBuilder b;
    int port = 0;
    const std::string addr = HostPort(o_.topology.master_address, o_.control_port);
    b.AddListeningPort(addr, tls_->ServerCredentials(), &port);
    b.SetMaxReceiveMessageSize(kMaxMessageBytes);
    b.SetMaxSendMessageSize(kMaxMessageBytes);
    b.RegisterService(this);
    server_ = b.BuildAndStart();
    if (server_ == nullptr || port == 0) {
      return absl::UnavailableError(absl::StrCat(
          "cannot listen on ", addr, " for the inter-node control plane (multiNodesInferPort)"));
    }
    MIES_LOG_INFO("master: control plane listening on {} ({}), waiting for {} slave node(s)", addr,
                  tls_->enabled() ? "mutual TLS" : "plaintext", nodes_.size());
    for (auto& w : workers_) w->Start();
    monitor_ = std::thread([this] { Monitor(); });
    return OkStatus();
  }

  ~MasterImpl() override { Shutdown(); }

  void Shutdown() {
    if (shut_) return;
    shut_ = true;
    state_.shutdown = true;
    // Slaves learn it from their next heartbeat (and their workers from the shutdown plan);
    // wait briefly for them to say goodbye so their exit is orderly.
    const auto until = Clock::now() + 2 * o_.timeouts.heartbeat_interval + milliseconds(1000);
    while (Clock::now() < until) {
      std::unique_lock lock(mu_);
      bool all_left = true;
      for (auto& [a, r] : nodes_) all_left &= !r.joined;
      if (all_left) break;
      lock.unlock();
      std::this_thread::sleep_for(milliseconds(20));
    }
    for (auto& w : workers_) w->StopAndJoin();
    stop_ = true;
    if (monitor_.joinable()) monitor_.join();
    if (server_) server_->Shutdown(DeadlineIn(milliseconds(500)));
    MIES_LOG_INFO("master: cluster shut down");
  }

  Status WaitReady(milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!ready_cv_.wait_for(lock, timeout, [&] { return healthy_; })) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the cluster did not form within ", timeout.count(), " ms: ", UnavailableLocked()));
    }
    return OkStatus();
  }

  bool healthy() const override {
    std::lock_guard lock(mu_);
    return healthy_;
  }

  std::vector<std::string> AbnormalNodes() const override {
    std::lock_guard lock(mu_);
    return AbnormalLocked();
  }

  double TakeCollectiveSeconds() { return root_->TakeCollectiveSeconds(); }

  // engine::Executor
  StatusOr<engine::StepResult> Execute(const engine::StepPlan& plan) override {
    {
      std::lock_guard lock(mu_);
      if (!healthy_) return absl::UnavailableError(UnavailableLocked());
    }
    auto r = root_->Submit(plan);
    if (r.ok() || !absl::IsUnavailable(r.status())) return r;
    // The data plane failed under this step. Name the node: give the heartbeat monitor its
    // timeout to find which one is gone (a killed process closes its sockets at once, so the
    // collective usually fails before the heartbeat does).
    const auto until = Clock::now() + o_.timeouts.heartbeat_timeout + milliseconds(500);
    std::vector<std::string> abnormal;
    while (Clock::now() < until) {
      abnormal = AbnormalNodes();
      if (!abnormal.empty()) break;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return absl::UnavailableError(absl::StrCat(
        "multi-node step failed: ",
        abnormal.empty() ? std::string("no node identified as lost") : absl::StrJoin(abnormal, " "),
        " (", r.status().message(), ")"));
  }
  int64_t num_kv_blocks() const override { return o_.num_kv_blocks; }
  int64_t block_size() const override { return o_.block_size; }

  // Control service
  grpc::Status Join(grpc::ServerContext* ctx, const pb::JoinRequest* req,
                    pb::JoinReply* rep) override {
    const JoinClaim claim = ClaimFromProto(*req);
    const std::string& node = claim.node_address;
    auto it = nodes_.find(node);  // the key set never changes after Init
    const std::string refusal = JoinRefusal(claim, it == nodes_.end() ? nullptr : &it->second.ranks,
                                            fp_, o_.topology.local_address, kProtocolVersion);
    if (!refusal.empty()) {
      MIES_LOG_ERROR("master: refused the join of node {} (peer {}): {}", node, ctx->peer(),
                     refusal);
      rep->set_accepted(false);
      rep->set_message(refusal);
      return grpc::Status::OK;
    }
    std::lock_guard lock(mu_);
    Record& r = it->second;
    if (r.joined && r.incarnation != req->incarnation()) {
      MIES_LOG_WARN("master: node {} restarted and rejoined; re-forming the data plane", node);
      Break("node " + node + " restarted");
    } else if (!r.joined) {
      MIES_LOG_INFO("master: node {} joined (ranks {}, peer {})", node, RankList(r.ranks),
                    ctx->peer());
    }
    r.joined = true;
    r.incarnation = req->incarnation();
    r.last = Clock::now();
    r.formed = r.failed = 0;
    r.lost_reason.clear();
    rep->set_accepted(true);
    rep->set_session(session_);
    rep->set_num_kv_blocks(o_.num_kv_blocks);
    rep->set_block_size(o_.block_size);
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext*, const pb::HeartbeatRequest* req,
                         pb::HeartbeatReply* rep) override {
    std::lock_guard lock(mu_);
    auto it = nodes_.find(req->node_address());
    if (it == nodes_.end() || !it->second.joined || req->session() != session_ ||
        it->second.incarnation != req->incarnation()) {
      rep->set_known(false);
      rep->set_shutdown(state_.shutdown);
      return grpc::Status::OK;
    }
    Record& r = it->second;
    r.last = Clock::now();
    r.formed = req->formed_epoch();
    r.failed = req->failed_epoch();
    if (req->leaving()) {
      r.joined = false;
      r.lost_reason = "left after shutdown";
      MIES_LOG_INFO("master: node {} left the cluster", r.address);
    }
    rep->set_known(true);
    rep->set_target_epoch(forming_ || healthy_ ? epoch_ : 0);
    rep->set_shutdown(state_.shutdown);
    return grpc::Status::OK;
  }

  grpc::Status StoreSet(grpc::ServerContext*, const pb::StoreSetRequest* req,
                        pb::StoreSetReply*) override {
    Status s = store_.Set(req->key(), req->value());
    return s.ok() ? grpc::Status::OK
                  : grpc::Status(grpc::StatusCode::INTERNAL, std::string(s.message()));
  }

  grpc::Status StoreGet(grpc::ServerContext*, const pb::StoreGetRequest* req,
                        pb::StoreGetReply* rep) override {
    const milliseconds wait(std::min<uint32_t>(req->timeout_ms(), 5000));
    auto v = store_.Get(req->key(), wait);
    rep->set_found(v.ok());
    if (v.ok()) rep->set_value(*v);
    return grpc::Status::OK;
  }

 private:
  struct Record {
    std::string address;
    std::vector<int> ranks;
    bool joined = false;
    uint64_t incarnation = 0;
    Clock::time_point last;
    uint64_t formed = 0, failed = 0;
    std::string lost_reason = "never joined";
  };

  std::vector<std::string> AbnormalLocked() const {
    std::vector<std::string> out;
    for (const auto& [a, r] : nodes_) {
      if (!r.joined) out.push_back(absl::StrCat("node(", a, ") is abnormal."));
    }
    return out;
  }

  std::string UnavailableLocked() const {
    std::vector<std::string> details;
    for (const auto& [a, r] : nodes_) {
      if (!r.joined) details.push_back(absl::StrCat("node(", a, ") is abnormal: ", r.lost_reason));
    }
    if (details.empty()) {
      return absl::StrCat("multi-node cluster unavailable: data plane (re)forming, epoch ", epoch_);
    }
    return "multi-node cluster unavailable: " + absl::StrJoin(details, "; ");
  }

  void Break(const std::string& why) {
    if (healthy_ || forming_) {
      MIES_LOG_WARN("master: cluster degraded (epoch {}): {}", epoch_, why);
    }
    broken_ = true;
    forming_ = false;
    healthy_ = false;
    // The step in flight may be blocked on the lost peer (a stopped or cut-off process keeps its
    // sockets open, so nothing fails until the collective timeout): its requests fail now.
    if (root_ != nullptr) root_->AbandonInFlight("cluster degraded: " + why);
  }

  void Monitor() {
    while (!stop_) {
      std::this_thread::sleep_for(milliseconds(50));
      std::unique_lock lock(mu_);
      if (state_.shutdown) continue;
      const auto now = Clock::now();
      for (auto& [a, r] : nodes_) {
        if (r.joined && now - r.last > o_.timeouts.heartbeat_timeout) {
          r.joined = false;
          r.lost_reason =
              absl::StrCat("no heartbeat for ",
                           std::chrono::duration_cast<milliseconds>(now - r.last).count(), " ms");
          MIES_LOG_ERROR("master: node {} lost: {}", a, r.lost_reason);
          Break("node " + a + " lost");
        }
        if (r.joined && (healthy_ || forming_) && r.failed == epoch_) {
          Break(absl::StrCat("node ", a, " reports its data plane failed"));
        }
      }
      const uint64_t current = (kMasterGeneration << 32) | epoch_;
      for (auto& w : workers_) {
        if ((healthy_ || forming_) && w->failed() == current) {
          Break("a local rank's data plane failed");
        }
      }
      if (broken_) {
        bool all = true;
        for (auto& [a, r] : nodes_) all &= r.joined;
        if (all) {
          ++epoch_;
          store_.EraseAllBut(absl::StrCat("e", epoch_, "/"));
          state_.target = (kMasterGeneration << 32) | epoch_;
          broken_ = false;
          forming_ = true;
          forming_since_ = now;
          MIES_LOG_INFO("master: all {} node(s) joined; connecting the data plane (epoch {})",
                        nodes_.size() + 1, epoch_);
        } else {
          state_.target = 0;
        }
      }
      if (forming_) {
        bool all = true;
        for (auto& [a, r] : nodes_) all &= r.joined && r.formed == epoch_;
        const uint64_t target = (kMasterGeneration << 32) | epoch_;
        for (auto& w : workers_) all &= w->formed() == target;
        if (all) {
          forming_ = false;
          healthy_ = true;
          MIES_LOG_INFO("master: cluster ready: {} node(s), world size {} (epoch {})",
                        nodes_.size() + 1, o_.ranktable.WorldSize(), epoch_);
          ready_cv_.notify_all();
        } else if (now - forming_since_ > o_.timeouts.connect_timeout + milliseconds(2000)) {
          Break("the data plane did not connect in time");
        }
      }
    }
  }

  NodeOptions o_;
  uint64_t session_;
  NodeState state_;
  MemoryStore store_;
  Fingerprint fp_;
  std::unique_ptr<TlsContext> tls_;
  std::vector<std::unique_ptr<RankWorker>> workers_;
  RankWorker* root_ = nullptr;  // rank 0's worker (runs Execute)
  std::unique_ptr<grpc::Server> server_;
  std::thread monitor_;
  std::atomic<bool> stop_{false};
  bool shut_ = false;

  mutable std::mutex mu_;
  std::condition_variable ready_cv_;
  std::map<std::string, Record> nodes_;
  uint64_t epoch_ = 0;
  bool broken_ = true, forming_ = false, healthy_ = false;
  Clock::time_point forming_since_;
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
Status ClusterMaster::WaitReady(milliseconds timeout) { return impl_->WaitReady(timeout); }
engine::Executor* ClusterMaster::executor() { return impl_.get(); }
bool ClusterMaster::healthy() const { return impl_->healthy(); }
std::vector<std::string> ClusterMaster::AbnormalNodes() const { return impl_->AbnormalNodes(); }
double ClusterMaster::TakeCollectiveSeconds() { return impl_->TakeCollectiveSeconds(); }
void ClusterMaster::Shutdown() { impl_->Shutdown(); }

// ------------------------------------------------------------------------------------------
// Slave

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
    MIES_ASSIGN_OR_RETURN(workers_, MakeWorkers(o_, &state_));
    return OkStatus();
  }

  ~SlaveImpl() {
    state_.shutdown = true;
    for (auto& w : workers_) w->StopAndJoin();
  }

  void Stop() { stop_ = true; }

  // A fresh channel to the master. gRPC 1.51's pick_first can stay in TRANSIENT_FAILURE after
  // a refused first connect even once the server listens (seen here: a slave started a few ms
  // before its master never joined), so every failed join attempt starts over with a new one.
  void NewChannel() {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetMaxSendMessageSize(kMaxMessageBytes);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // Distinct channels must not share a (possibly stuck) subchannel from the global pool.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(master_, tls_->ChannelCredentials(), args);
    std::shared_ptr<pb::Control::Stub> stub = pb::Control::NewStub(channel);
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
          MIES_RETURN_IF_ERROR(w->CreateCache(rep->num_kv_blocks(), rep->block_size()));
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
