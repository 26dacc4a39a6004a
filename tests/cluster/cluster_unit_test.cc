// In-process checks of the cluster library's pieces: the Gloo collective against the in-process
// group (threads, one Gloo context each, rendezvous through the memory store), the store, and
// fingerprint comparison.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <array>
#include <atomic>
#include <latch>
#include <random>
#include <thread>

#include "cluster/fingerprint.h"
#include "cluster/gloo_collective.h"
#include "cluster/store.h"

namespace mies::cluster {
namespace {

using std::chrono::milliseconds;

// Runs fn(rank, collective) on `n` threads, each with its own Gloo context on 127.0.0.1.
// Contexts are torn down only once every rank is done: a rank that closes its sockets while a
// peer's last flow-control message is still unread makes the kernel reset the connection, and
// the peer still finishing its last collective then fails with "Connection closed by peer".
template <typename Fn>
void WithGroup(int n, bool deterministic, Fn fn) {
  MemoryStore store;
  std::latch all_done(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      auto dev = CreateTcpDevice("127.0.0.1");
      auto ctx = dev.ok() ? ConnectDataPlane(r, n, *dev, &store, "e1/", milliseconds(10000),
                                             milliseconds(10000))
                          : dev.status();
      if (!ctx.ok()) {
        ADD_FAILURE() << "rank " << r << ": " << ctx.status();
        all_done.count_down();
        return;
      }
      GlooCollective c(r, n, deterministic, milliseconds(10000));
      c.Attach(*std::move(ctx));
      fn(r, c);
      all_done.arrive_and_wait();
    });
  }
  for (auto& t : threads) t.join();
}

std::vector<float> RankData(int rank, size_t len) {
  std::mt19937 g(1234 + rank);
  std::normal_distribution<float> d;
  std::vector<float> v(len);
  for (auto& x : v) x = d(g);
  return v;
}

TEST(GlooCollectiveTest, DeterministicAllReduceIsBitwiseTheInProcessSum) {
  for (int n : {2, 3}) {
    const size_t len = 1000;
    // Expected: the in-process group's result.
    model::InProcessGroup group(n);
    std::vector<std::vector<float>> expect(n);
    {
      std::vector<std::thread> ts;
      for (int r = 0; r < n; ++r) {
        ts.emplace_back([&, r] {
          auto m = group.Member(r);
          expect[r] = RankData(r, len);
          ASSERT_TRUE(m->AllReduceSum(expect[r]).ok());
        });
      }
      for (auto& t : ts) t.join();
    }
    WithGroup(n, true, [&](int r, GlooCollective& c) {
      for (int rep = 0; rep < 3; ++rep) {  // cached algorithm objects reused
        auto data = RankData(r, len);
        Status s = c.AllReduceSum(data);
        ASSERT_TRUE(s.ok()) << s;
        EXPECT_EQ(0, std::memcmp(data.data(), expect[r].data(), len * sizeof(float)));
      }
    });
  }
}

// Back-to-back reductions of one length with little work between them: a fast rank's next call
// must not clobber a slow rank's current result. The deterministic path gathers into a buffer
// that the control context's async transport writes to directly; 40,000 floats is over the
// sync limit, so that length runs there (896 runs on the polled steps context).
TEST(GlooCollectiveTest, BackToBackDeterministicReductionsStayExact) {
  const int n = 4;
  static_assert(40000 > GlooCollective::kMaxSyncFloats);
  WithGroup(n, true, [&](int r, GlooCollective& c) {
    for (const size_t len : {size_t{896}, size_t{40000}}) {
      for (int it = 0; it < 200; ++it) {
        if (r == 1 && it % 3 == 0) std::this_thread::sleep_for(milliseconds(1));
        std::vector<float> data(len);
        for (size_t i = 0; i < len; ++i) data[i] = static_cast<float>((r + 1) * 1000 + it) + i;
        Status s = c.AllReduceSum(data);
        ASSERT_TRUE(s.ok()) << s;
        for (size_t i = 0; i < len; ++i) {
          float expect = 0;
          for (int q = 0; q < n; ++q) expect += static_cast<float>((q + 1) * 1000 + it) + i;
          ASSERT_EQ(data[i], expect)
              << "rank " << r << " length " << len << " iteration " << it << " element " << i;
        }
      }
    }
  });
}

TEST(GlooCollectiveTest, RingAllReduceGivesEveryRankTheSameSum) {
  for (int n : {2, 3, 4}) {
    const size_t len = 777;
    std::vector<std::vector<float>> got(n);
    WithGroup(n, false, [&](int r, GlooCollective& c) {
      got[r] = RankData(r, len);
      ASSERT_TRUE(c.AllReduceSum(got[r]).ok());
    });
    for (size_t i = 0; i < len; ++i) {
      double ref = 0;
      for (int r = 0; r < n; ++r) ref += RankData(r, len)[i];
      EXPECT_NEAR(got[0][i], ref, 1e-5);
    }
    for (int r = 1; r < n; ++r) {
      EXPECT_EQ(0, std::memcmp(got[r].data(), got[0].data(), len * sizeof(float))) << "rank " << r;
    }
  }
}

TEST(GlooCollectiveTest, AllGatherTakesUnevenShardsInRankOrder) {
  const int n = 3;
  const std::vector<size_t> lens{5, 4, 4};
  WithGroup(n, false, [&](int r, GlooCollective& c) {
    for (int rep = 0; rep < 2; ++rep) {
      std::vector<float> local(lens[r], static_cast<float>(r + 1));
      std::vector<float> out(13);
      ASSERT_TRUE(c.AllGather(local, out).ok());
      std::vector<float> expect;
      for (int q = 0; q < n; ++q) expect.insert(expect.end(), lens[q], static_cast<float>(q + 1));
      EXPECT_EQ(out, expect);
    }
  });
}

// AllGather reuses cached ring buffers, which on the control context (shards over the sync
// limit) peers write into as soon as they send: back-to-back calls of one length, with values
// that change every call and ranks running at different speeds, must each see exactly that
// call's shards. Shards of 7 (polled steps context), 40,000 (control, cached) and 2^19 (control,
// above the cache limit).
TEST(GlooCollectiveTest, BackToBackAllGathersSeeOnlyTheirOwnCall) {
  const int n = 3;
  WithGroup(n, false, [&](int r, GlooCollective& c) {
    for (const size_t big : {size_t{7}, size_t{40000}, size_t{1} << 19}) {
      const std::vector<size_t> lens{big, big - 1, big - 1};
      const size_t total = lens[0] + lens[1] + lens[2];
      for (int call = 0; call < 40; ++call) {
        if (r == 1 && call % 3 == 0) std::this_thread::sleep_for(milliseconds(2));
        std::vector<float> local(lens[r]);
        for (size_t i = 0; i < local.size(); ++i) local[i] = static_cast<float>(call * 10 + r);
        std::vector<float> out(total);
        ASSERT_TRUE(c.AllGather(local, out).ok());
        size_t at = 0;
        for (int q = 0; q < n; ++q) {
          for (size_t i = 0; i < lens[q]; ++i, ++at) {
            ASSERT_EQ(out[at], static_cast<float>(call * 10 + q))
                << "call " << call << " at " << at;
          }
        }
        if (big > 40000 && call == 3) break;  // the uncached path: a few calls are enough
      }
    }
  });
}

TEST(GlooCollectiveTest, BroadcastCarriesLargeAndSmallPayloads) {
  WithGroup(2, false, [&](int r, GlooCollective& c) {
    for (size_t len : {size_t{0}, size_t{10}, size_t{100000}}) {
      std::string bytes;
      if (r == 0) {
        bytes.resize(len);
        for (size_t i = 0; i < len; ++i) bytes[i] = static_cast<char>(i * 31);
      }
      ASSERT_TRUE(c.Broadcast(&bytes, milliseconds(5000)).ok());
      ASSERT_EQ(bytes.size(), len);
      for (size_t i = 0; i < len; ++i) ASSERT_EQ(bytes[i], static_cast<char>(i * 31));
    }
  });
}

// Lengths on both sides of the switch between the sync (polled) steps context and the async
// control context, interleaved, in both reduction modes: exact sums, and no stall when both
// ranks write the largest sync message to each other at once.
TEST(GlooCollectiveTest, CollectivesAroundTheSyncSizeLimitStayExact) {
  const size_t sync_max = GlooCollective::kMaxSyncFloats;
  for (bool deterministic : {false, true}) {
    WithGroup(2, deterministic, [&](int r, GlooCollective& c) {
      for (int it = 0; it < 3; ++it) {
        for (size_t len : {size_t{8}, sync_max, sync_max + 1, size_t{8}}) {
          std::vector<float> data(len);
          // Small integers: every summation order gives the exact result.
          for (size_t i = 0; i < len; ++i) data[i] = static_cast<float>((r + 1) * (i % 7 + it));
          const auto t0 = std::chrono::steady_clock::now();
          const int64_t polled = c.steps_collectives();
          ASSERT_TRUE(c.AllReduceSum(data).ok()) << "length " << len;
          // A sync write that does not fit the socket buffers would wait for the 10 s timeout.
          EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
          EXPECT_EQ(c.steps_collectives() - polled, len <= sync_max ? 1 : 0) << "length " << len;
          for (size_t i = 0; i < len; ++i) {
            ASSERT_EQ(data[i], static_cast<float>(3 * (i % 7 + it))) << "length " << len;
          }
        }
        // Uneven shards whose longest is just under, then just over, the limit.
        for (size_t longest : {sync_max, sync_max + 1}) {
          const std::vector<size_t> lens{longest, longest - 3};
          std::vector<float> local(lens[r]);
          for (size_t i = 0; i < local.size(); ++i) local[i] = static_cast<float>(r * 100000 + i);
          std::vector<float> out(lens[0] + lens[1]);
          const int64_t polled = c.steps_collectives();
          ASSERT_TRUE(c.AllGather(local, out).ok()) << "longest shard " << longest;
          EXPECT_EQ(c.steps_collectives() - polled, longest <= sync_max ? 1 : 0)
              << "longest shard " << longest;
          for (size_t i = 0; i < out.size(); ++i) {
            const float expect =
                i < lens[0] ? static_cast<float>(i) : static_cast<float>(100000 + (i - lens[0]));
            ASSERT_EQ(out[i], expect) << "longest shard " << longest << " element " << i;
          }
        }
      }
    });
  }
}

// Pins the calling thread to the first CPU it may run on, so two ranks share one core.
void PinToFirstAllowedCpu() {
  cpu_set_t allowed;
  ASSERT_EQ(0, pthread_getaffinity_np(pthread_self(), sizeof(allowed), &allowed));
  int first = 0;
  while (!CPU_ISSET(first, &allowed)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(0, pthread_setaffinity_np(pthread_self(), sizeof(one), &one));
}

// Spins until this thread has used `cpu` of CPU time: work that needs the core, not a sleep.
void ComputeFor(std::chrono::microseconds cpu) {
  auto used = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  };
  const auto until = used() + cpu;
  while (used() < until) {
  }
}

// Two ranks on one core, one of them computing before each collective: a rank that busy polls
// while its peer needs the same core only delays the peer, so polling must turn itself off
// (blocking reads), and the sums stay exact on either path.
TEST(GlooCollectiveTest, PollingStopsWhenRanksShareACore) {
  std::array<int, 2> polled{}, blocked{};
  WithGroup(2, false, [&](int r, GlooCollective& c) {
    PinToFirstAllowedCpu();
    for (int it = 0; it < 40; ++it) {
      if (r == 1) ComputeFor(std::chrono::milliseconds(4));
      std::vector<float> data(64, static_cast<float>(r + it));
      ASSERT_TRUE(c.AllReduceSum(data).ok()) << "iteration " << it;
      ASSERT_EQ(data[0], static_cast<float>(1 + 2 * it)) << "iteration " << it;
      (c.busy_polling() ? polled : blocked)[r]++;
    }
  });
  EXPECT_GT(blocked[0], 0) << "rank 0 kept polling while rank 1 needed its core (" << polled[0]
                           << " polled collectives)";
}

TEST(GlooCollectiveTest, MissingPeerTimesOutWithUnavailableAndRefusesFurtherCalls) {
  MemoryStore store;
  std::atomic<bool> rank0_connected{false};
  std::thread t([&] {
    auto dev = CreateTcpDevice("127.0.0.1");
    auto ctx = ConnectDataPlane(1, 2, *dev, &store, "e1/", milliseconds(5000), milliseconds(500));
    EXPECT_TRUE(ctx.ok());
    // Rank 1 connects, then goes away without taking part in any collective (but only once
    // rank 0's handshake is complete, or rank 0's connect itself would fail).
    while (!rank0_connected) std::this_thread::sleep_for(milliseconds(1));
  });
  auto dev = CreateTcpDevice("127.0.0.1");
  auto ctx = ConnectDataPlane(0, 2, *dev, &store, "e1/", milliseconds(5000), milliseconds(500));
  rank0_connected = true;
  t.join();
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  GlooCollective c(0, 2, false, milliseconds(500));
  c.Attach(*std::move(ctx));
  std::vector<float> data(16, 1.0f);
  const auto t0 = std::chrono::steady_clock::now();
  Status s = c.AllReduceSum(data);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_FALSE(c.usable());
  EXPECT_TRUE(absl::IsUnavailable(c.AllReduceSum(data)));
}

// A peer that stays connected but never joins (a stopped process): the collective fails at the
// collective timeout, not at the much longer connect timeout its pairs were made under, on the
// polled steps context (a short message) and on the control context (a long one).
TEST(GlooCollectiveTest, SilentPeerTimesOutAtTheCollectiveTimeout) {
  for (size_t len : {size_t{16}, GlooCollective::kMaxSyncFloats + 1}) {
    MemoryStore store;
    std::atomic<bool> done{false};
    std::thread t([&] {
      auto dev = CreateTcpDevice("127.0.0.1");
      auto ctx =
          ConnectDataPlane(1, 2, *dev, &store, "e1/", milliseconds(20000), milliseconds(500));
      EXPECT_TRUE(ctx.ok());
      while (!done) std::this_thread::sleep_for(milliseconds(5));  // connected, silent
    });
    auto dev = CreateTcpDevice("127.0.0.1");
    auto ctx = ConnectDataPlane(0, 2, *dev, &store, "e1/", milliseconds(20000), milliseconds(500));
    ASSERT_TRUE(ctx.ok()) << ctx.status();
    GlooCollective c(0, 2, false, milliseconds(500));
    c.Attach(*std::move(ctx));
    std::vector<float> data(len, 1.0f);
    const auto t0 = std::chrono::steady_clock::now();
    Status s = c.AllReduceSum(data);
    const auto took = std::chrono::steady_clock::now() - t0;
    done = true;
    t.join();
    EXPECT_TRUE(absl::IsUnavailable(s)) << s;
    EXPECT_GE(took, milliseconds(400)) << "length " << len;
    EXPECT_LT(took, std::chrono::seconds(5)) << "length " << len;
    EXPECT_FALSE(c.usable());
    // The short one ran on the steps context with polling on (a fresh context polls from its
    // first collective, and a failed one leaves the setting as it was).
    const bool short_message = len <= GlooCollective::kMaxSyncFloats;
    EXPECT_EQ(c.steps_collectives(), short_message ? 1 : 0) << "length " << len;
    EXPECT_EQ(c.busy_polling(), short_message) << "length " << len;
  }
}

TEST(MemoryStoreTest, GetWaitsForSetAndTimesOut) {
  MemoryStore s;
  std::thread t([&] {
    std::this_thread::sleep_for(milliseconds(50));
    ASSERT_TRUE(s.Set("k", "v").ok());
  });
  auto v = s.Get("k", milliseconds(2000));
  t.join();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "v");
  EXPECT_TRUE(absl::IsDeadlineExceeded(s.Get("missing", milliseconds(20)).status()));
  ASSERT_TRUE(s.Set("e2/x", "1").ok());
  s.EraseAllBut("e2/");
  EXPECT_EQ(s.size(), 1u);
}

TEST(FingerprintTest, ComparisonNamesFieldAndBothValues) {
  Fingerprint a{{"generation.temperature", "0.7"}, {"tp.world_size", "2"}};
  Fingerprint b{{"generation.temperature", "0.9"}, {"tp.world_size", "2"}};
  auto d = CompareFingerprints(a, b, "127.0.1.2");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0], "generation.temperature: master has '0.7', node 127.0.1.2 has '0.9'");
  EXPECT_TRUE(CompareFingerprints(a, a, "x").empty());
}

TEST(FingerprintTest, DeterministicFlagFromEnvironment) {
  EXPECT_TRUE(DeterministicFromEnv(config::MapEnvironment{{"HCCL_DETERMINISTIC", "TRUE"}}));
  EXPECT_TRUE(DeterministicFromEnv(config::MapEnvironment{{"HCCL_DETERMINISTIC", "1"}}));
  EXPECT_FALSE(DeterministicFromEnv(config::MapEnvironment{{"HCCL_DETERMINISTIC", "false"}}));
  EXPECT_FALSE(DeterministicFromEnv(config::MapEnvironment{}));
}

}  // namespace
}  // namespace mies::cluster
