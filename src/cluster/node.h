// Multi-node tensor parallelism: the API the daemon calls.
//
//   Master (the node holding rank 0):
//     auto opts = cluster::NodeOptionsFromConfig(config, ranktable, topology, env, kv_blocks);
//     auto master = cluster::ClusterMaster::Start(*opts);  // loads its shards, opens the control
//                                                          // plane on
//                                                          <container_ip>:multiNodesInferPort
//     master->WaitReady(timeout);       // every rank joined and the data plane is connected;
//                                       // print "Daemon start success!" after this
//     engine::Executor* ex = master->executor();   // give it to the engine
//     master->AbnormalNodes();          // for /health: ["node(127.0.1.2) is abnormal.", ...]
//     master->Shutdown();               // orderly cluster shutdown (also done by the destructor)
//   Slave:
//     auto slave = cluster::ClusterSlave::Create(*opts);   // loads its shards
//     slave->Run(on_joined);            // joins (retrying for timeouts.join_total), serves its
//                                       // ranks until the master shuts the cluster down (OK) or a
//                                       // fatal error (refused join, master gone for good)
//     slave->Stop();                    // from another thread (SIGTERM): leave
//
// Shape: one process per node; one worker thread per local rank (each with its own weight shard,
// KV cache shard, ThreadPool and Gloo context). Rank 0's worker runs inside the master and is
// driven by Executor::Execute.
//
// Control plane (gRPC, proto/cluster.proto): Join (protocol version, rank identity against the
// ranktable, fingerprint.h), Heartbeat (slave -> master every heartbeat_interval; the master's
// reply is the heartbeat in the other direction: each side declares the other lost after
// heartbeat_timeout), the Gloo rendezvous store (StoreSet/StoreGet), orderly shutdown (in the
// heartbeat reply and as a shutdown plan on the data plane).
//
// Data plane (Gloo TCP, gloo_collective.h): each rank binds its device_ip when that address is
// on this host, else the node's container_ip. It is NOT encrypted (like HCCL): it carries
// activations and token ids, so run it on a trusted network. Every collective has a timeout.
//
// Epochs: the Gloo mesh is built per epoch (store keys "e<N>/"). The master starts epoch N+1
// when every node is joined after a fault (a node's heartbeat stops, a rank's collective fails,
// a node rejoins with a new incarnation); until the mesh is formed again healthy() is false and
// Execute returns Unavailable naming the abnormal nodes. Rank 0 sends an empty keepalive plan
// when idle, so a worker that hears nothing for plan_wait knows the master side is gone.
//
// TLS (TlsSettings, tls.h): with interNodeTLSEnabled the control plane is mutual TLS; the master
// refuses revoked, foreign-CA and certificate-less peers at the handshake (gRPC's own log line,
// routed into ours, gives the verify error, e.g. "Certificate verify failed with code 23" for a
// revoked one; gRPC does not expose the peer's address there), and the refused slave gives up
// after join_total naming the master and the likely causes.
//
// Faults: a killed slave is noticed by a failing collective (peer socket closed, immediate) or
// the heartbeat timeout; a restarted slave rejoins and the cluster serves again without a master
// restart. A master that dies: slaves log it and keep trying to rejoin for master_rejoin_total,
// then exit with an error. Startup works in any order (slaves retry for join_total).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/tls.h"
#include "common/status.h"
#include "config/config.h"
#include "config/environment.h"
#include "config/ranktable.h"
#include "engine/step_plan.h"

namespace mies::cluster {

inline constexpr uint32_t kProtocolVersion = 1;

struct ClusterTimeouts {
  std::chrono::milliseconds join_total{120000};           // slave: give up joining (MindIE ~120 s)
  std::chrono::milliseconds master_rejoin_total{120000};  // slave: master lost, wait this long
  std::chrono::milliseconds heartbeat_interval{500};
  std::chrono::milliseconds heartbeat_timeout{3000};    // peer declared lost after this
  std::chrono::milliseconds collective_timeout{30000};  // one collective (covers the slowest
                                                        // rank's compute between collectives)
  std::chrono::milliseconds plan_wait{3000};            // worker: no plan/keepalive -> lost
  std::chrono::milliseconds connect_timeout{20000};     // forming the Gloo mesh
};

struct NodeOptions {
  config::RankTable ranktable;
  config::Topology topology;
  std::string model_dir;
  std::string dtype = "auto";
  int threads_per_rank = 1;
  std::vector<std::vector<int>> pin_cpus;  // per local rank; empty: no pinning
  int control_port = 1120;
  TlsSettings tls;
  std::optional<config::ScheduleConfig> schedule;  // part of the fingerprint when set
  bool deterministic = false;                      // $HCCL_DETERMINISTIC
  int64_t num_kv_blocks = 0;                       // master: the KV pool of every rank
  int64_t block_size = 128;                        // master: cacheBlockSize
  ClusterTimeouts timeouts;
};

// Fills NodeOptions from the daemon's parsed configuration: model path and dtype from
// ModelConfig[0], multiNodesInferPort, interNode TLS material, ScheduleConfig, cpu threads,
// HCCL_DETERMINISTIC from `env`. `num_kv_blocks` is the master's KV pool size per rank.
StatusOr<NodeOptions> NodeOptionsFromConfig(const config::Config& config,
                                            const config::RankTable& ranktable,
                                            const config::Topology& topology,
                                            const config::Environment& env, int64_t num_kv_blocks);

class MasterImpl;
class SlaveImpl;

class ClusterMaster {
 public:
  static StatusOr<std::unique_ptr<ClusterMaster>> Start(const NodeOptions& options);
  ~ClusterMaster();

  // Blocks until every rank has joined and the data plane is connected.
  Status WaitReady(std::chrono::milliseconds timeout);
  engine::Executor* executor();
  bool healthy() const;
  // MindIE's no_contact_node entries: "node(<container_ip>) is abnormal." for each node that is
  // not joined and connected.
  std::vector<std::string> AbnormalNodes() const;
  // Seconds spent in rank 0's collectives since the last call (benchmarks).
  double TakeCollectiveSeconds();
  void Shutdown();

 private:
  explicit ClusterMaster(std::unique_ptr<MasterImpl> impl);
  std::unique_ptr<MasterImpl> impl_;
};

class ClusterSlave {
 public:
  static StatusOr<std::unique_ptr<ClusterSlave>> Create(const NodeOptions& options);
  ~ClusterSlave();

  // Joins and serves until an orderly shutdown (OK) or a fatal error. `on_joined` runs after
  // the first successful join (the daemon prints "Daemon start success!" there).
  Status Run(const std::function<void()>& on_joined = {});
  void Stop();

 private:
  explicit ClusterSlave(std::unique_ptr<SlaveImpl> impl);
  std::unique_ptr<SlaveImpl> impl_;
};

}  // namespace mies::cluster
