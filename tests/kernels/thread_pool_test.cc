#include "common/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace mies {
namespace {

TEST(ThreadPoolTest, ParallelForCoversEveryIndexExactlyOnceInContiguousChunks) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n : {0, 1, 2, 3, 4, 7, 100, 1001}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> chunks{0};
      pool.ParallelFor(n, [&](int64_t b, int64_t e) {
        EXPECT_LT(b, e);
        chunks.fetch_add(1);
        for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
      const int64_t want =
          threads == 1 ? std::min<int64_t>(n, 1)
                       : std::min<int64_t>(n, int64_t{ThreadPool::kChunksPerThread} * threads);
      EXPECT_EQ(chunks.load(), want) << "n=" << n;
    }
  }
}

TEST(ThreadPoolTest, OtherThreadsTakeTheWorkOfAStalledThread) {
  // A worker that stalls (as when the OS deschedules it on a busy machine) holds up only the
  // chunk it is in: the caller claims every other chunk. The stalled worker's chunk waits (up to
  // 10 s) until all the rest is done; with a fixed split per thread it would hold half of n.
  ThreadPool pool(2);
  const int64_t n = 64;
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int64_t> processed{0}, by_worker{0};
  std::atomic<bool> worker_started{false}, rest_done{false};
  pool.ParallelFor(n, [&](int64_t b, int64_t e) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    if (std::this_thread::get_id() == caller) {
      // Make sure the worker joins in before the caller could take every chunk.
      while (!worker_started.load() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
      }
    } else {
      by_worker.fetch_add(e - b);
      if (!worker_started.exchange(true)) {
        while (processed.load() != n - (e - b) && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::yield();
        }
        rest_done.store(processed.load() == n - (e - b));
      }
    }
    processed.fetch_add(e - b);
  });
  EXPECT_EQ(processed.load(), n);
  EXPECT_TRUE(rest_done.load()) << "the caller did not finish the other chunks meanwhile";
  EXPECT_EQ(by_worker.load(), n / (ThreadPool::kChunksPerThread * 2))
      << "the stalled worker ran more than its one chunk";
}

TEST(ThreadPoolTest, NonPositiveThreadCountMeansOne) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 1);
  int64_t covered = 0;
  pool.ParallelFor(10, [&](int64_t b, int64_t e) { covered += e - b; });
  EXPECT_EQ(covered, 10);
}

TEST(ThreadPoolTest, ManyBackToBackCallsLoseNoWakeups) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  for (int call = 0; call < 3000; ++call) {
    pool.ParallelFor(4, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sum.fetch_add(i + 1);
    });
  }
  EXPECT_EQ(sum.load(), 3000 * 10);
}

TEST(ThreadPoolTest, CallsAfterIdlePeriodStillComplete) {
  // Workers go from spinning to blocking after a while; the next call must wake them.
  ThreadPool pool(2);
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::atomic<int> n{0};
    pool.ParallelFor(2, [&](int64_t b, int64_t e) { n.fetch_add(static_cast<int>(e - b)); });
    EXPECT_EQ(n.load(), 2);
  }
}

TEST(ThreadPoolTest, NestedCallRunsInlineWithoutDeadlock) {
  ThreadPool pool(2);
  std::atomic<int64_t> inner{0};
  pool.ParallelFor(2, [&](int64_t, int64_t) {
    pool.ParallelFor(8, [&](int64_t b, int64_t e) { inner.fetch_add(e - b); });
  });
  EXPECT_EQ(inner.load(), 16);
}

TEST(ThreadPoolTest, ConcurrentCallersAreSerializedAndBothComplete) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  auto caller = [&] {
    for (int i = 0; i < 500; ++i) {
      pool.ParallelFor(3, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
    }
  };
  std::thread a(caller), b(caller);
  a.join();
  b.join();
  EXPECT_EQ(total.load(), 2 * 500 * 3);
}

TEST(ThreadPoolTest, PinningToCpuZeroWorksAndBadCpuIsAnError) {
  ThreadPool pinned(2, {0});
  std::atomic<int> n{0};
  pinned.ParallelFor(2, [&](int64_t b, int64_t e) { n.fetch_add(static_cast<int>(e - b)); });
  EXPECT_EQ(n.load(), 2);
  ThreadPool bad(1, {-3});
  Status s = bad.PinCallingThread();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("-3"), std::string::npos) << s;
}

}  // namespace
}  // namespace mies
