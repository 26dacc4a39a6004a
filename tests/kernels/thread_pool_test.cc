#include "common/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
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
      EXPECT_EQ(chunks.load(), std::min<int64_t>(n, threads)) << "n=" << n;
    }
  }
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
