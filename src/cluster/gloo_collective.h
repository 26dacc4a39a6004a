// model::Collective over Gloo's TCP transport, for one rank of the cluster, plus the byte
// broadcast that carries step plans from rank 0.
//
// Reduction order:
//  - deterministic (HCCL_DETERMINISTIC=true): AllReduceSum is an all-gather followed by a local
//    sum in rank order 0, 1, ..., n-1 on every rank: bitwise identical results on every rank, on
//    every run, and equal to model::InProcessGroup with the same world size.
//  - otherwise: Gloo's ring allreduce (2 ranks) or chunked ring (more ranks). Every rank still
//    gets the same bits (each element is summed once, then copied; with 2 ranks a+b == b+a), and
//    the order depends only on world size and buffer length, but it is not rank order: results
//    differ from the single-process and deterministic paths in the last bits, and nothing is
//    promised across versions or algorithm changes.
// Algorithm objects are built once per buffer length (Gloo's old API with fixed buffers is about
// 2.5x faster than the per-call API) and reused; the caller's data is copied in and out.
//
// The Gloo context is replaced on each cluster epoch (Attach); the model keeps a pointer to this
// object, which stays valid. After any failure the collective refuses further calls until a new
// context is attached: Gloo does not promise a context survives an I/O error.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gloo/algorithm.h>
#include <gloo/context.h>
#include <gloo/transport/device.h>

#include "cluster/store.h"
#include "common/status.h"
#include "model/collective.h"

namespace mies::cluster {

// Creates the TCP device of one rank, bound (and advertised) on `address`.
StatusOr<std::shared_ptr<gloo::transport::Device>> CreateTcpDevice(const std::string& address);

// Connects a full mesh for `rank` of `size` through the store (keys under `prefix`): the
// rendezvous waits are bounded by `connect_timeout`. Gloo fixes each pair's read/write timeout
// when the pair is made, so `collective_timeout` (the bound of every later collective on this
// context) must be given here, not only to GlooCollective.
StatusOr<std::shared_ptr<gloo::Context>> ConnectContext(
    int rank, int size, const std::shared_ptr<gloo::transport::Device>& device, KvStore* store,
    const std::string& prefix, std::chrono::milliseconds connect_timeout,
    std::chrono::milliseconds collective_timeout, std::function<bool()> cancelled = {});

class GlooCollective final : public model::Collective {
 public:
  GlooCollective(int rank, int size, bool deterministic,
                 std::chrono::milliseconds collective_timeout);
  ~GlooCollective() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  Status AllReduceSum(std::span<float> data) override;
  Status AllGather(std::span<const float> local, std::span<float> out) override;

  // Broadcast of a byte string from rank 0: rank 0 passes the bytes, other ranks receive them
  // into *bytes. `wait` bounds only the first part (how long a worker waits for the next plan);
  // the rest uses the collective timeout.
  Status Broadcast(std::string* bytes, std::chrono::milliseconds wait);

  void Attach(std::shared_ptr<gloo::Context> context);
  void Detach();
  bool usable() const { return context_ != nullptr && !failed_; }

  // Time spent inside collectives since the last reset (for benchmarks).
  double collective_seconds() const { return collective_seconds_; }
  void reset_collective_seconds() { collective_seconds_ = 0; }

 private:
  Status Check(const char* op) const;
  Status Fail(const char* op, const std::exception& e);
  struct Cached;
  Cached& AllreduceFor(size_t count);
  struct Gather;
  Gather& GatherFor(size_t out_size, size_t shard);

  int rank_, size_;
  bool deterministic_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<gloo::Context> context_;
  bool failed_ = false;
  std::string failure_;
  std::map<size_t, std::unique_ptr<Cached>> cache_;
  std::unique_ptr<Cached> uncached_;  // a large buffer's algorithm, for one call
  std::map<size_t, int> flip_;        // deterministic: which of the two objects per length is next
  std::map<size_t, std::vector<size_t>> gather_counts_;  // AllGather: output length -> per rank
  std::map<size_t, std::unique_ptr<Gather>> gathers_;    // AllGather: output length x2 + flip
  std::unique_ptr<Gather> uncached_gather_;
  std::map<size_t, int> gather_flip_;
  std::vector<char> header_;
  double collective_seconds_ = 0;
};

}  // namespace mies::cluster
