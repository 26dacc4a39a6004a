// A persistent pool of worker threads for data-parallel kernels.
//
// Decode calls ParallelFor hundreds of times per token, each call lasting tens to hundreds of
// microseconds, so waking threads must be cheap: workers spin briefly on an atomic generation
// counter after each job (catching the next call without a syscall) and only then block on it
// (futex-backed std::atomic::wait). The calling thread runs the first chunk itself.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"

namespace mies {

class ThreadPool {
 public:
  // num_threads counts the calling thread too (num_threads - 1 workers are started); values < 1
  // mean 1. When pin_cpus is not empty, worker i (1-based) is pinned to pin_cpus[i % size] and
  // PinCallingThread() pins the caller to pin_cpus[0]; a failed pin is logged, not fatal.
  explicit ThreadPool(int num_threads, std::vector<int> pin_cpus = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Number of threads that run chunks, the caller included.
  int size() const { return size_; }

  // Splits [0, n) into min(n, size()) contiguous chunks of near-equal length and runs
  // fn(begin, end) for each, one chunk per thread, the caller taking chunk 0. Returns when all
  // chunks are done. fn must not throw. Calls from several threads are serialized; a call made
  // from inside fn (nested) runs the whole range inline on the calling thread.
  void ParallelFor(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

  // Pins the calling thread to pin_cpus[0]; OK without effect when no cpus were given.
  Status PinCallingThread() const;

 private:
  void WorkerLoop(int index);
  void RunChunk(int index);

  int size_ = 1;
  std::vector<int> pin_cpus_;
  std::vector<std::thread> workers_;
  std::mutex call_mu_;

  // Job description, published by the generation_ increment (release) and read after it
  // (acquire).
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int num_chunks_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace mies
