#include "common/thread_pool.h"

#include <pthread.h>
#include <sched.h>

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
    workers_.emplace_back([this, i] { WorkerLoop(i); });
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

void ThreadPool::RunChunk(int index) {
  int64_t begin = n_ * index / num_chunks_;
  int64_t end = n_ * (index + 1) / num_chunks_;
  tls_in_pool_chunk = true;
  (*fn_)(begin, end);
  tls_in_pool_chunk = false;
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    SpinThenWait(generation_, seen);
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_relaxed)) return;
    if (index < num_chunks_) RunChunk(index);
    // Every worker acknowledges every job, even one it has no chunk of, so none can lag behind
    // into the next job while the caller rewrites fn_/n_/num_chunks_.
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (size_ == 1 || n == 1 || tls_in_pool_chunk) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> lock(call_mu_);
  fn_ = &fn;
  n_ = n;
  num_chunks_ = static_cast<int>(n < size_ ? n : size_);
  pending_.store(size_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  RunChunk(0);
  for (int left = pending_.load(std::memory_order_acquire); left != 0;
       left = pending_.load(std::memory_order_acquire)) {
    SpinThenWait(pending_, left);
  }
  fn_ = nullptr;
}

}  // namespace mies
