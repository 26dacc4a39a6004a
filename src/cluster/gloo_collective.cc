#include "cluster/gloo_collective.h"

#include <arpa/inet.h>
#include <gloo/allgather.h>
#include <gloo/allgather_ring.h>
#include <gloo/allreduce_ring.h>
#include <gloo/allreduce_ring_chunked.h>
#include <gloo/broadcast.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/transport/tcp/device.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include "common/logging.h"

namespace mies::cluster {
namespace {

// Buffers up to this many floats get a cached algorithm object (one per distinct length: the
// decode and prefill activation sizes); larger ones are built per call.
constexpr size_t kMaxCachedCount = size_t{1} << 20;
constexpr size_t kMaxCacheEntries = 64;
// Plans up to this size go in one broadcast.
constexpr size_t kHeaderBytes = 4096;

#if defined(__SANITIZE_THREAD__)
extern "C" void AnnotateBenignRaceSized(const char* file, int line, const volatile void* mem,
                                        size_t size, const char* description);
#endif

// Gloo's ring algorithms keep a 1-byte notification buffer inside the algorithm object that is
// sent to one neighbour while the same byte is received from the other (its content is never
// read). Under ThreadSanitizer that is a race between Gloo's I/O thread and the caller; mark
// only the algorithm object's own bytes as benign, so races on our data buffers still show.
template <typename Algorithm>
void MarkGlooStateBenign([[maybe_unused]] const Algorithm* algo) {
#if defined(__SANITIZE_THREAD__)
  AnnotateBenignRaceSized(__FILE__, __LINE__, algo, sizeof(Algorithm),
                          "Gloo ring notification byte");
#endif
}

template <typename Algorithm, typename... Args>
std::unique_ptr<gloo::Algorithm> MakeAlgorithm(Args&&... args) {
  auto algo = std::make_unique<Algorithm>(std::forward<Args>(args)...);
  MarkGlooStateBenign(algo.get());
  return algo;
}

class ScopedTimer {
 public:
  explicit ScopedTimer(double* acc) : acc_(acc), t0_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer() {
    *acc_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  double* acc_;
  std::chrono::steady_clock::time_point t0_;
};

std::chrono::nanoseconds ThreadCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// Busy polling on the steps context (RunOnSteps): a polled collective that took at least
// kContendedWall, with this thread on a core for under kMinOnCore of it, means polling competed
// with other work for the core. The next calm_ - 1 collectives then use blocking reads, and
// polling is tried again on the one after. calm_ starts at kMinCalm and doubles each time this
// happens, up to kMaxCalm; a polled collective of at least kContendedWall that kept its core
// resets it.
constexpr std::chrono::microseconds kContendedWall{1000};
constexpr double kMinOnCore = 0.75;
constexpr int kMinCalm = 64;
constexpr int kMaxCalm = 8192;

}  // namespace

StatusOr<std::shared_ptr<gloo::transport::Device>> CreateTcpDevice(const std::string& address) {
  try {
    gloo::transport::tcp::attr attr;
    attr.hostname = address;
    return gloo::transport::tcp::CreateDevice(attr);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot open the data-plane (Gloo TCP) device on ", address, ": ", e.what()));
  }
}

StatusOr<std::shared_ptr<gloo::Context>> ConnectContext(
    int rank, int size, const std::shared_ptr<gloo::transport::Device>& device, KvStore* store,
    const std::string& prefix, std::chrono::milliseconds connect_timeout,
    std::chrono::milliseconds collective_timeout, std::function<bool()> cancelled) {
  try {
    GlooStore gstore(store, prefix, connect_timeout, std::move(cancelled));
    auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
    context->setTimeout(collective_timeout);
    std::shared_ptr<gloo::transport::Device> dev = device;  // Gloo takes a non-const reference
    context->connectFullMesh(gstore, dev);
    return std::shared_ptr<gloo::Context>(std::move(context));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("rank ", rank, ": connecting the data plane (",
                                               prefix, ") failed: ", e.what()));
  }
}

StatusOr<DataPlane> ConnectDataPlane(int rank, int size,
                                     const std::shared_ptr<gloo::transport::Device>& device,
                                     KvStore* store, const std::string& prefix,
                                     std::chrono::milliseconds connect_timeout,
                                     std::chrono::milliseconds collective_timeout,
                                     const std::function<bool()>& cancelled) {
  DataPlane plane;
  MIES_ASSIGN_OR_RETURN(plane.control,
                        ConnectContext(rank, size, device, store, prefix, connect_timeout,
                                       collective_timeout, cancelled));
  MIES_ASSIGN_OR_RETURN(plane.steps,
                        ConnectContext(rank, size, device, store, absl::StrCat(prefix, "steps/"),
                                       connect_timeout, collective_timeout, cancelled));
  try {
    for (int r = 0; r < size; ++r) {
      if (r != rank) plane.steps->getPair(r)->setSync(true, /*busyPoll=*/false);
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("rank ", rank, ": switching the data plane (",
                                               prefix, "steps/) to sync mode failed: ", e.what()));
  }
  return plane;
}

GlooCollective::GlooCollective(int rank, int size, bool deterministic,
                               std::chrono::milliseconds collective_timeout)
    : rank_(rank), size_(size), deterministic_(deterministic), timeout_(collective_timeout) {
  header_.resize(kHeaderBytes);
}

GlooCollective::~GlooCollective() { Detach(); }

void GlooCollective::Attach(DataPlane plane) {
  Detach();
  context_ = std::move(plane.control);
  steps_ = std::move(plane.steps);
  context_->setTimeout(timeout_);
  steps_->setTimeout(timeout_);
  busy_ = false;  // ConnectDataPlane leaves the steps pairs blocking
  steps_collectives_ = 0;
  calm_left_ = 0;
  calm_ = kMinCalm;
  failed_ = false;
  failure_.clear();
}

void GlooCollective::Detach() {
  slots_.clear();  // algorithm objects hold buffers on the contexts' pairs
  uncached_.reset();
  flips_.clear();
  gather_counts_.clear();
  context_.reset();
  steps_.reset();
}

Status GlooCollective::Check(const char* op) const {
  if (context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(op, ": rank ", rank_, " has no data-plane context"));
  }
  if (failed_) {
    return absl::UnavailableError(
        absl::StrCat(op, ": rank ", rank_, " data plane failed earlier: ", failure_));
  }
  return OkStatus();
}

Status GlooCollective::Fail(const char* op, const std::exception& e) {
  failed_ = true;
  failure_ = e.what();
  return absl::UnavailableError(
      absl::StrCat(op, " failed on rank ", rank_, " (data plane): ", e.what()));
}

GlooCollective::Slot& GlooCollective::SlotFor(
    Kind kind, size_t length, bool alternate, size_t floats, size_t message,
    const std::function<void(const std::shared_ptr<gloo::Context>&, Slot&)>& make) {
  // Every rank makes the same decisions here (same call sequence, same lengths), so the
  // algorithms' slots stay aligned across ranks. Only the control context needs alternating
  // slots: on the steps context a peer's next message stays in the socket until this thread
  // reads it inside the next call, so a slot's buffers cannot change between calls.
  const bool on_steps = message <= kMaxSyncFloats;
  const int turn = alternate && !on_steps ? (flips_[{kind, length}] ^= 1) : 0;
  const bool cacheable = floats <= kMaxCachedCount;
  const auto key = std::make_tuple(kind, length, turn);
  if (cacheable) {
    if (auto it = slots_.find(key); it != slots_.end()) return *it->second;
  }
  auto slot = std::make_unique<Slot>();
  slot->on_steps = on_steps;
  make(slot->on_steps ? steps_ : context_, *slot);
  Slot& ref = *slot;
  if (cacheable && slots_.size() < kMaxCacheEntries) {
    slots_.emplace(key, std::move(slot));
  } else {
    uncached_ = std::move(slot);
  }
  return ref;
}

void GlooCollective::SetBusyPoll(bool busy) {
  for (int r = 0; r < size_; ++r) {
    if (r != rank_) steps_->getPair(r)->setSync(true, busy);
  }
  busy_ = busy;
}

void GlooCollective::RunOnSteps(gloo::Algorithm& algo) {
  if (!busy_ && --calm_left_ <= 0) SetBusyPoll(true);
  if (!busy_) {
    algo.run();
    return;
  }
  const auto wall0 = std::chrono::steady_clock::now();
  const auto cpu0 = ThreadCpuTime();
  algo.run();
  const auto wall = std::chrono::steady_clock::now() - wall0;
  if (wall < kContendedWall) return;
  const auto cpu = ThreadCpuTime() - cpu0;
  if (cpu < kMinOnCore * wall) {
    SetBusyPoll(false);
    calm_left_ = calm_;
    calm_ = std::min(calm_ * 2, kMaxCalm);
  } else {
    calm_ = kMinCalm;  // a long wait that kept its core: polling is fine here
  }
}

void GlooCollective::Run(const Slot& slot) {
  if (slot.on_steps) {
    ++steps_collectives_;
    RunOnSteps(*slot.algo);
  } else {
    slot.algo->run();
  }
}

Status GlooCollective::AllReduceSum(std::span<float> data) {
  MIES_RETURN_IF_ERROR(Check("AllReduceSum"));
  if (size_ == 1 || data.empty()) return OkStatus();
  ScopedTimer timer(&collective_seconds_);
  try {
    // Deterministic mode gathers straight into `out`, which the control context's async
    // transport fills as soon as a peer sends: a fast left neighbour's next call could overwrite
    // it while this rank is still summing. Alternating two slots per length makes that
    // impossible (a neighbour cannot finish call k+1, and so start k+2, before this rank has
    // joined k+1).
    const size_t count = data.size();
    const int n = static_cast<int>(count);
    Slot& c = SlotFor(Kind::kAllReduce, count, /*alternate=*/deterministic_,
                      deterministic_ ? count * size_ : count, count,
                      [&](const std::shared_ptr<gloo::Context>& ctx, Slot& s) {
                        s.in.resize(count);
                        if (deterministic_) {
                          s.out.resize(count * size_);
                          s.algo = MakeAlgorithm<gloo::AllgatherRing<float>>(
                              ctx, std::vector<const float*>{s.in.data()}, s.out.data(), n);
                        } else if (size_ == 2) {
                          s.algo = MakeAlgorithm<gloo::AllreduceRing<float>>(
                              ctx, std::vector<float*>{s.in.data()}, n);
                        } else {
                          s.algo = MakeAlgorithm<gloo::AllreduceRingChunked<float>>(
                              ctx, std::vector<float*>{s.in.data()}, n);
                        }
                      });
    std::memcpy(c.in.data(), data.data(), data.size_bytes());
    Run(c);
    if (deterministic_) {
      const size_t len = data.size();
      const float* parts = c.out.data();
      for (size_t i = 0; i < len; ++i) {
        float s = parts[i];
        for (int r = 1; r < size_; ++r) s += parts[r * len + i];
        data[i] = s;
      }
    } else {
      std::memcpy(data.data(), c.in.data(), data.size_bytes());
    }
  } catch (const std::exception& e) {
    uncached_.reset();
    return Fail("AllReduceSum", e);
  }
  uncached_.reset();
  return OkStatus();
}

Status GlooCollective::AllGather(std::span<const float> local, std::span<float> out) {
  MIES_RETURN_IF_ERROR(Check("AllGather"));
  if (size_ == 1) {
    if (out.size() != local.size()) {
      return InvalidArgument("AllGather: output has ", out.size(), " elements, expected ",
                             local.size());
    }
    std::memcpy(out.data(), local.data(), local.size_bytes());
    return OkStatus();
  }
  ScopedTimer timer(&collective_seconds_);
  try {
    // Shard lengths differ by rank (uneven vocab split); learn them once per output length,
    // which every rank knows, so all ranks take the same path.
    auto it = gather_counts_.find(out.size());
    if (it == gather_counts_.end()) {
      std::vector<int64_t> mine{static_cast<int64_t>(local.size())};
      std::vector<int64_t> all(size_);
      gloo::AllgatherOptions opts(context_);
      opts.setInput(mine.data(), 1);
      opts.setOutput(all.data(), all.size());
      opts.setTimeout(timeout_);
      gloo::allgather(opts);
      std::vector<size_t> counts(all.begin(), all.end());
      size_t total = 0;
      for (size_t c : counts) total += c;
      if (total != out.size()) {
        return InvalidArgument("AllGather: output has ", out.size(),
                               " elements, the ranks contribute ", total);
      }
      it = gather_counts_.emplace(out.size(), std::move(counts)).first;
    }
    if (it->second[rank_] != local.size()) {
      return InvalidArgument("AllGather: rank ", rank_, " contributes ", local.size(),
                             " elements, earlier calls with this output length had ",
                             it->second[rank_]);
    }
    if (out.empty()) return OkStatus();
    const std::vector<size_t>& counts = it->second;
    // Gloo's ring all-gather needs equal shards, so every rank sends `shard` floats, the
    // largest rank's count (a shorter shard's tail is padding). A cached ring costs about one
    // allreduce; gloo::allgatherv, which builds its buffers on every call, took milliseconds
    // (bench/cluster/collective_latency.sh, mode gather). On the control context the ring writes
    // into `out` as a peer sends, so two slots per length alternate there, as in deterministic
    // AllReduceSum.
    const size_t shard = *std::max_element(counts.begin(), counts.end());
    Slot& g = SlotFor(Kind::kAllGather, out.size(), /*alternate=*/true, shard * size_, shard,
                      [&](const std::shared_ptr<gloo::Context>& ctx, Slot& s) {
                        s.in.resize(shard);
                        s.out.resize(shard * size_);
                        s.algo = MakeAlgorithm<gloo::AllgatherRing<float>>(
                            ctx, std::vector<const float*>{s.in.data()}, s.out.data(),
                            static_cast<int>(shard));
                      });
    std::copy(local.begin(), local.end(), g.in.begin());
    Run(g);
    size_t offset = 0;
    for (int r = 0; r < size_; ++r) {
      std::memcpy(out.data() + offset, g.out.data() + r * shard, counts[r] * sizeof(float));
      offset += counts[r];
    }
  } catch (const std::exception& e) {
    uncached_.reset();
    return Fail("AllGather", e);
  }
  uncached_.reset();
  return OkStatus();
}

Status GlooCollective::Broadcast(std::string* bytes, std::chrono::milliseconds wait) {
  MIES_RETURN_IF_ERROR(Check("Broadcast"));
  if (size_ == 1) return OkStatus();
  ScopedTimer timer(&collective_seconds_);
  constexpr size_t kInline = kHeaderBytes - sizeof(uint64_t);
  try {
    uint64_t len = 0;
    if (rank_ == 0) {
      len = bytes->size();
      std::memcpy(header_.data(), &len, sizeof(len));
      std::memcpy(header_.data() + sizeof(len), bytes->data(), std::min<size_t>(len, kInline));
    }
    gloo::BroadcastOptions head(context_);
    head.setRoot(0);
    head.setOutput(header_.data(), header_.size());
    head.setTimeout(wait);
    gloo::broadcast(head);
    if (rank_ != 0) {
      std::memcpy(&len, header_.data(), sizeof(len));
      bytes->assign(header_.data() + sizeof(len), std::min<size_t>(len, kInline));
    }
    if (len > kInline) {
      std::string rest = rank_ == 0 ? bytes->substr(kInline) : std::string(len - kInline, '\0');
      gloo::BroadcastOptions tail(context_);
      tail.setRoot(0);
      tail.setOutput(rest.data(), rest.size());
      tail.setTimeout(timeout_);
      gloo::broadcast(tail);
      if (rank_ != 0) bytes->append(rest);
    }
  } catch (const std::exception& e) {
    return Fail("Broadcast", e);
  }
  return OkStatus();
}

}  // namespace mies::cluster
