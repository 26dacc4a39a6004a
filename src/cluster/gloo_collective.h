// model::Collective over Gloo's TCP transport, for one rank of the cluster, plus the byte
// broadcast that carries step plans from rank 0.
//
// Two Gloo contexts per cluster epoch share the rank's TCP device (DataPlane):
//  - `control`: async pairs (Gloo's device thread does the socket I/O and wakes the caller).
//    Carries the step-plan broadcasts (unbound buffers, so each call has its own timeout, and
//    an idle worker sleeps while it waits for the next plan) and collectives whose messages are
//    over kMaxSyncFloats.
//  - `steps`: sync pairs: the calling thread reads its own socket, busy polling while it waits.
//    Decode pays about 45 in-step collectives a step (two allreduces per layer and the logits
//    gather). On async pairs each one is a hand-off to the device thread plus, on a core that
//    went idle while waiting for the peer, a wake-up of that core, which costs far more inside a
//    VM (a halted vCPU exits to the hypervisor). Polling keeps the waiting core running.
//    Spinning only pays while this thread has its core to itself: when a wait of 1 ms or more
//    shows the thread off its core for over a quarter of it (ranks or other work sharing
//    cores), blocking reads take over for a while (RunOnSteps). The thread's CPU clock counts
//    time the hypervisor stole as on-core, so contention between VMs on a host is not seen
//    there. A peer that stops mid-step leaves this
//    thread polling until the collective timeout. Messages stay at most kMaxSyncFloats,
//    because a sync write blocks: two ranks writing more to each other than their socket
//    buffers hold, before either reads, would stall until the timeout. Gloo sizes SO_SNDBUF to
//    each message, which the kernel allows up to net.core.wmem_max (208 KiB by default).
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

#include <gloo/algorithm.h>
#include <gloo/context.h>
#include <gloo/transport/device.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

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

// One epoch's two contexts (see the top of this file).
struct DataPlane {
  std::shared_ptr<gloo::Context> control;
  std::shared_ptr<gloo::Context> steps;
};

// Connects both contexts (keys under `prefix` and `prefix` + "steps/") and switches the steps
// context's pairs to sync mode, with blocking reads until GlooCollective turns polling on.
StatusOr<DataPlane> ConnectDataPlane(int rank, int size,
                                     const std::shared_ptr<gloo::transport::Device>& device,
                                     KvStore* store, const std::string& prefix,
                                     std::chrono::milliseconds connect_timeout,
                                     std::chrono::milliseconds collective_timeout,
                                     const std::function<bool()>& cancelled = {});

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

  void Attach(DataPlane plane);
  void Detach();
  bool usable() const { return context_ != nullptr && !failed_; }

  // Largest message (floats) a collective may send over the sync `steps` context: 128 KiB, one
  // batch-16 activation of a 2048-wide model. Checked against the buffer length, the largest
  // message any of the algorithms used sends for it (the chunked ring sends less).
  static constexpr size_t kMaxSyncFloats = size_t{1} << 15;

  // Whether in-step collectives currently busy poll, and how many collectives have run on the
  // steps context since Attach (tests and benchmarks).
  bool busy_polling() const { return busy_; }
  int64_t steps_collectives() const { return steps_collectives_; }

  // Time spent inside collectives since the last reset (for benchmarks).
  double collective_seconds() const { return collective_seconds_; }
  void reset_collective_seconds() { collective_seconds_ = 0; }

 private:
  Status Check(const char* op) const;
  Status Fail(const char* op, const std::exception& e);
  // An algorithm object with its own input and output buffers, reused across calls.
  struct Slot {
    std::vector<float> in;
    std::vector<float> out;
    std::unique_ptr<gloo::Algorithm> algo;
    bool on_steps = false;  // runs on the sync `steps` context
  };
  enum class Kind { kAllReduce, kAllGather };
  // The slot for a call of `kind` on `length` elements, made by `make` (given the context it
  // must use) on first use; `floats` is the slot's buffer size and `message` its largest message,
  // which pick caching and context. With `alternate`, two slots per length take turns on the
  // control context (see the .cc).
  Slot& SlotFor(Kind kind, size_t length, bool alternate, size_t floats, size_t message,
                const std::function<void(const std::shared_ptr<gloo::Context>&, Slot&)>& make);
  void Run(const Slot& slot);
  // Runs an algorithm of the steps context, busy polling or blocking (see the .cc).
  void RunOnSteps(gloo::Algorithm& algo);
  void SetBusyPoll(bool busy);

  int rank_, size_;
  bool deterministic_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<gloo::Context> context_;  // control
  std::shared_ptr<gloo::Context> steps_;
  bool failed_ = false;
  std::string failure_;
  std::map<std::tuple<Kind, size_t, int>, std::unique_ptr<Slot>> slots_;
  std::map<std::pair<Kind, size_t>, int> flips_;         // which of two alternating slots is next
  std::unique_ptr<Slot> uncached_;                       // a large buffer's algorithm, for one call
  std::map<size_t, std::vector<size_t>> gather_counts_;  // AllGather: output length -> per rank
  std::vector<char> header_;
  double collective_seconds_ = 0;
  // Steps context: busy polling while it pays (see RunOnSteps).
  bool busy_ = false;
  int calm_left_ = 0;  // collectives with blocking reads left before polling is tried again
  int calm_ = 0;       // the length of the next such pause
  int64_t steps_collectives_ = 0;
};

}  // namespace mies::cluster
