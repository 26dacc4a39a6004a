#include "common/thread_pool.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "common/logging.h"

namespace mies {
namespace {

// Set while a thread runs a chunk, so nested ParallelFor calls run inline instead of
// deadlocking on call_mu_ or waiting for themselves.
thread_local bool tls_in_pool_chunk = false;

// How long an idle thread spins before blocking. Long enough to bridge the gaps between the
// kernels of one decode step (a norm, a rope), short enough not to burn a core between steps.
constexpr auto kSpinTime = std::chrono::microseconds(200);

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

Status PinThread(pthread_t thread, int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE) {
    return InvalidArgument("thread pool: cpu id ", cpu, " is outside [0, ", CPU_SETSIZE, ")");
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  int rc = pthread_setaffinity_np(thread, sizeof(set), &set);
  if (rc != 0) {
    return Internal("thread pool: pinning to cpu ", cpu, " failed: ", std::strerror(rc));
  }
  return OkStatus();
}

// Spins on `value` until it differs from `old` or kSpinTime passes; then blocks on it.
template <typename T>
void SpinThenWait(const std::atomic<T>& value, T old) {
  auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (int i = 1;; ++i) {
    if (value.load(std::memory_order_acquire) != old) return;
    CpuRelax();
    if ((i & 63) == 0 && std::chrono::steady_clock::now() > deadline) break;
  }
  while (value.load(std::memory_order_acquire) == old) value.wait(old, std::memory_order_acquire);
}

}  // namespace

ThreadPool::ThreadPool(int num_threads, std::vector<int> pin_cpus)
    : size_(num_threads < 1 ? 1 : num_threads), pin_cpus_(std::move(pin_cpus)) {
  workers_.reserve(size_ - 1);
  for (int i = 1; i < size_; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
    if (!pin_cpus_.empty()) {
      Status s = PinThread(workers_.back().native_handle(), pin_cpus_[i % pin_cpus_.size()]);
      if (!s.ok()) MIES_LOG_WARN("{}", s.ToString());
    }
  }
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

Status ThreadPool::PinCallingThread() const {
  if (pin_cpus_.empty()) return OkStatus();
  return PinThread(pthread_self(), pin_cpus_[0]);
}

void ThreadPool::RunChunks(uint32_t job) {
  for (;;) {
    uint64_t cur = claim_.load(std::memory_order_acquire);
    uint64_t chunk, chunks;
    do {
      if (static_cast<uint32_t>(cur >> 32) != job) return;
      chunks = (cur >> 16) & 0xffffu;
      chunk = cur & 0xffffu;
      if (chunk >= chunks) return;
    } while (!claim_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel,
                                           std::memory_order_acquire));
    const int64_t n = n_;
    const int64_t c = static_cast<int64_t>(chunk), cs = static_cast<int64_t>(chunks);
    tls_in_pool_chunk = true;
    (*fn_)(n * c / cs, n * (c + 1) / cs);
    tls_in_pool_chunk = false;
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == cs) done_.notify_one();
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    SpinThenWait(generation_, seen);
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_relaxed)) return;
    RunChunks(static_cast<uint32_t>(claim_.load(std::memory_order_acquire) >> 32));
  }
}

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (size_ == 1 || n == 1 || tls_in_pool_chunk) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> lock(call_mu_);
  const int64_t max_chunks = std::min<int64_t>(0xffff, int64_t{kChunksPerThread} * size_);
  const int64_t chunks = std::min(n, max_chunks);
  fn_ = &fn;
  n_ = n;
  done_.store(0, std::memory_order_relaxed);
  const uint32_t job = ++job_;
  claim_.store((uint64_t{job} << 32) | (static_cast<uint64_t>(chunks) << 16),
               std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  RunChunks(job);
  for (int64_t d = done_.load(std::memory_order_acquire); d != chunks;
       d = done_.load(std::memory_order_acquire)) {
    SpinThenWait(done_, d);
  }
  fn_ = nullptr;
}

}  // namespace mies
