// A persistent pool of worker threads for data-parallel kernels.
//
// Decode calls ParallelFor hundreds of times per token, each call lasting tens to hundreds of
// microseconds, so waking threads must be cheap: workers spin briefly on an atomic generation
// counter after each job (catching the next call without a syscall) and only then block on it
// (futex-backed std::atomic::wait).
//
// Work is split into a few chunks per thread that threads (the caller included) claim one at a
// time, and a call returns as soon as every chunk is done. On a shared machine a worker is often
// descheduled: with fixed per-thread splits the whole step then waited for it (2 threads ran
// slower than 1); now the others take its chunks, and a call waits for a stalled thread only if
// it stalls inside a chunk (at most 1/kChunksPerThread of its share). A worker that has not
// woken up yet is not waited for at all.
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

  // Chunks per thread: more balances better around a stalled thread, fewer keeps chunks long
  // enough for the kernels' blocking (a Linear chunk is >= 16 output rows).
  static constexpr int kChunksPerThread = 4;

  // Splits [0, n) into min(n, kChunksPerThread * size()) contiguous chunks of near-equal length
  // (one chunk, run inline, when size() == 1) and runs fn(begin, end) once for each, on whichever
  // thread claims it first; the caller claims chunks too. Returns when all chunks are done. fn
  // must not throw. Calls from several threads are serialized; a call made from inside fn
  // (nested) runs the whole range inline on the calling thread.
  void ParallelFor(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn);

  // Pins the calling thread to pin_cpus[0]; OK without effect when no cpus were given.
  Status PinCallingThread() const;

 private:
  void WorkerLoop();
  // Claims and runs chunks of job `job` until none is left (or another job has started).
  void RunChunks(uint32_t job);

  int size_ = 1;
  std::vector<int> pin_cpus_;
  std::vector<std::thread> workers_;
  std::mutex call_mu_;

  // The current job: fn_ and n_ are written by the caller before it publishes the job in claim_
  // (release) and read by a thread only after it has claimed one of the job's chunks (acquire);
  // the caller does not touch them again until every chunk is done.
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  uint32_t job_ = 0;  // caller-side job counter (under call_mu_)
  // Bits 63..32: job id, 31..16: chunk count, 15..0: next unclaimed chunk. One word, so a
  // thread late for a job cannot claim a chunk of the next one (its compare-exchange fails).
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> done_{0};         // chunks of the current job finished
  std::atomic<uint64_t> generation_{0};  // bumped per job and at shutdown: wakes the workers
  std::atomic<bool> stop_{false};
};

}  // namespace mies
