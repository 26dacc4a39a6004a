// Load and soak against one real daemon on loopback serving stories260K (issue #8).
//
// Load (CI): maxLinkNum connections at once plus a few over the limit, most streaming
// /v1/completions, some non-streaming, some hanging up mid-stream or before any answer. Every
// request must complete or get a clear error, none lost or duplicated (each answer's
// usage.prompt_tokens names the request it was computed for, completion ids are unique), and
// afterwards the daemon's RSS, open fds and KV blocks in use return to their baseline.
//
// Soak (by hand): MIES_SOAK_SECONDS=600 [MIES_SOAK_CLIENTS=48] [MIES_SOAK_SAMPLE_SECONDS=10]
//   build/<dir>/tests/load/load_test --gtest_filter='*Soak*'
// runs mixed traffic with client disconnects for that long, samples RSS/fds/KV blocks and fails
// on growth. Without MIES_SOAK_SECONDS the soak test is skipped.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <latch>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "load/load_client.h"
#include "support/process.h"
#include "support/test_home.h"

namespace mies::load {
namespace {

using ::mies::testing::ChildProcess;
using ::mies::testing::TestHome;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// Sanitized daemons run several times slower, and ASan's quarantine (256 MiB by default) holds
// freed memory back on purpose, so RSS only gets a coarse bound there.
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

constexpr int kLinks = 200;     // maxLinkNum
constexpr int kOverLimit = 20;  // connections beyond maxLinkNum in the same burst
constexpr auto kIdleTimeout = kSanitized ? 120s : 30s;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoll(v) : fallback;
}

class LoadTest : public ::testing::Test {
 protected:
  // Starts the daemon and builds the tagged prompts; each test calls it first (the soak test
  // only when it is asked for, so that a skipped soak costs nothing).
  void Start() {
    auto& c = home_.config();
    c["ServerConfig"]["maxLinkNum"] = kLinks;
    auto& sched = c["BackendConfig"]["ScheduleConfig"];
    sched["maxBatchSize"] = 64;  // fewer than the connections: requests queue in the engine
    sched["maxPrefillBatchSize"] = 32;
    sched["maxPrefillTokens"] = 4096;
    auto& deploy = c["BackendConfig"]["ModelDeployConfig"];
    deploy["maxSeqLen"] = 512;
    deploy["maxInputTokenLen"] = 300;
    home_.WriteConfig();
    const auto& s = c["ServerConfig"];
    service_.ip = s["ipAddress"].get<std::string>();
    service_.port = s["port"].get<int>();
    management_.ip = metrics_.ip = s["managementIpAddress"].get<std::string>();
    management_.port = s["managementPort"].get<int>();
    metrics_.port = s["metricsPort"].get<int>();
    if (kSanitized) service_.timeout = 600s;
    daemon_ = std::make_unique<ChildProcess>(
        TestHome::DaemonPath(), std::vector<std::string>{},
        std::map<std::string, std::string>{{"MINDIE_LLM_HOME_PATH", home_.path()},
                                           {"MIES_SERVICE_MONITOR_MODE", "1"}});
    ASSERT_TRUE(daemon_->WaitForStdout("Daemon start success!", kSanitized ? 300s : 60s))
        << daemon_->Stdout() << daemon_->Stderr();
    ASSERT_EQ(prompts_.Build(service_, kLinks + kOverLimit), "");
  }

  // After the traffic the daemon still shuts down cleanly (under ASan this is also where
  // LeakSanitizer checks the whole process).
  void TearDown() override {
    if (daemon_ == nullptr || !daemon_->started()) return;
    daemon_->Signal(SIGTERM);
    EXPECT_EQ(daemon_->WaitForExit(kSanitized ? 180s : 30s), 0) << daemon_->Stderr();
  }

  Sample Now() { return Probe(daemon_->pid(), metrics_, management_); }

  // Waits until nothing is in the engine, the KV blocks are back to `kv` and the fds to at most
  // `fds` (sessions close a little after the client has its answer); returns the last sample.
  Sample WaitIdle(int64_t kv, int64_t fds) {
    auto until = Clock::now() + kIdleTimeout;
    Sample s = Now();
    while (Clock::now() < until &&
           (s.running != 0 || s.kv_blocks_used > kv || (fds >= 0 && s.fds > fds))) {
      std::this_thread::sleep_for(100ms);
      s = Now();
    }
    return s;
  }

  // One burst: `count` requests started together, each on its own connection; the mix is
  // 60% streaming, 20% non-streaming, 15% cancelled mid-stream, 5% abandoned before any answer.
  void Burst(int count, uint64_t seed_base, Tally* tally) {
    std::latch go(count);
    std::vector<std::thread> clients;
    for (int i = 0; i < count; ++i) {
      Request r;
      int slot = i % 20;
      r.kind = slot < 12   ? Kind::kStream
               : slot < 16 ? Kind::kPlain
               : slot < 19 ? Kind::kCancel
                           : Kind::kAbandon;
      r.tag = i;
      r.max_tokens = r.kind == Kind::kCancel || r.kind == Kind::kAbandon ? 200 : 8 + (i * 7) % 25;
      r.sample = i % 3 == 0;
      r.seed = seed_base + static_cast<uint64_t>(i);
      clients.emplace_back([this, &go, r, tally] {
        go.arrive_and_wait();
        RunAndCount(service_, prompts_, r, tally);
      });
    }
    for (auto& t : clients) t.join();
  }

  static void ExpectClean(const Tally& tally, int over_limit) {
    std::string details;
    for (const auto& d : tally.details()) details += "\n  " + d;
    EXPECT_EQ(tally.failures(), 0) << tally.Summary() << details;
    // No other error is expected at this size: every admitted request fits the engine.
    EXPECT_EQ(tally.count(Outcome::kHttpError), 0) << tally.Summary() << details;
    // A refusal needs maxLinkNum admitted connections open, so at most `over_limit` are refused.
    EXPECT_LE(tally.count(Outcome::kRefused), over_limit) << tally.Summary();
  }

  TestHome home_;
  std::unique_ptr<ChildProcess> daemon_;
  Prompts prompts_;
  Target service_, management_, metrics_;
};

TEST_F(LoadTest, MaxLinkNumConnectionsCompleteOrFailClearlyAndResourcesReturnToBaseline) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Sample before = WaitIdle(0, -1);
  ASSERT_EQ(before.kv_blocks_used, 0) << Format(before);
  // A first burst warms up what the process keeps once grown (allocator arenas, thread stacks,
  // buffers), so that the second one shows what each burst leaves behind.
  Tally warm;
  Burst(kLinks + kOverLimit, 1000, &warm);
  ExpectClean(warm, kOverLimit);
  Sample baseline = WaitIdle(0, before.fds);
  std::cout << "load: before " << Format(before) << "\nload: after warm-up burst "
            << Format(baseline) << " (" << warm.Summary() << ")\n";

  auto start = Clock::now();
  Tally tally;
  Burst(kLinks + kOverLimit, 5000, &tally);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ExpectClean(tally, kOverLimit);
  // Most of the streaming and non-streaming requests were answered in full.
  EXPECT_GE(tally.count(Outcome::kOk), (kLinks + kOverLimit) * 16 / 20 - kOverLimit)
      << tally.Summary();
  Sample after = WaitIdle(baseline.kv_blocks_used, baseline.fds);
  std::cout << "load: burst of " << kLinks + kOverLimit << " in " << seconds
            << " s: " << tally.Summary() << "\nload: after " << Format(after) << std::endl;

  EXPECT_EQ(after.running, 0);
  EXPECT_EQ(after.kv_blocks_used, baseline.kv_blocks_used);
  EXPECT_LE(after.fds, baseline.fds) << "fds baseline " << baseline.fds;
  int64_t rss_tolerance_kib =
      kSanitized ? 400 * 1024 : std::max<int64_t>(32 * 1024, baseline.rss_kib / 10);
  EXPECT_LE(after.rss_kib, baseline.rss_kib + rss_tolerance_kib)
      << "RSS grew from " << baseline.rss_kib << " KiB to " << after.rss_kib << " KiB";
}

TEST_F(LoadTest, SoakOfMixedTrafficWithDisconnectsShowsNoGrowth) {
  const int64_t seconds = EnvInt("MIES_SOAK_SECONDS", 0);
  if (seconds <= 0) GTEST_SKIP() << "set MIES_SOAK_SECONDS (e.g. 600) to run the soak";
  const int clients =
      static_cast<int>(std::clamp<int64_t>(EnvInt("MIES_SOAK_CLIENTS", 48), 1, kLinks));
  const auto interval =
      std::chrono::seconds(std::max<int64_t>(1, EnvInt("MIES_SOAK_SAMPLE_SECONDS", 10)));

  ASSERT_NO_FATAL_FAILURE(Start());
  Sample start = WaitIdle(0, -1);
  ASSERT_EQ(start.kv_blocks_used, 0) << Format(start);
  std::cout << "soak: " << seconds << " s, " << clients << " clients; start " << Format(start)
            << std::endl;
  Tally tally;
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int w = 0; w < clients; ++w) {
    workers.emplace_back([&, w] {
      std::mt19937_64 rng(static_cast<uint64_t>(w) * 7919 + 1);
      while (!stop.load()) {
        Request r;
        int roll = static_cast<int>(rng() % 100);
        r.kind = roll < 55   ? Kind::kStream
                 : roll < 75 ? Kind::kPlain
                 : roll < 90 ? Kind::kCancel
                             : Kind::kAbandon;
        r.tag = w;  // one request in flight per worker: its prompt length identifies it
        r.max_tokens = r.kind == Kind::kCancel || r.kind == Kind::kAbandon
                           ? 200
                           : 1 + static_cast<int>(rng() % 64);
        r.sample = rng() % 2 == 0;
        r.seed = rng() >> 2;
        RunAndCount(service_, prompts_, r, &tally);
      }
    });
  }
  struct Point {
    double t;
    Sample s;
  };
  std::vector<Point> points;
  auto t0 = Clock::now();
  auto end = t0 + std::chrono::seconds(seconds);
  for (auto next = t0 + interval; next <= end; next += interval) {
    std::this_thread::sleep_until(next);
    Sample s = Now();
    double t = std::chrono::duration<double>(Clock::now() - t0).count();
    points.push_back({t, s});
    std::cout << "soak: t=" << static_cast<int>(t) << "s " << Format(s) << " " << tally.Summary()
              << std::endl;
  }
  stop = true;
  for (auto& t : workers) t.join();
  Sample final_idle = WaitIdle(start.kv_blocks_used, start.fds);

  int64_t rss_max = start.rss_kib, fds_max = start.fds, kv_max = start.kv_blocks_used;
  for (const auto& p : points) {
    rss_max = std::max(rss_max, p.s.rss_kib);
    fds_max = std::max(fds_max, p.s.fds);
    kv_max = std::max(kv_max, p.s.kv_blocks_used);
  }
  std::cout << "soak: done " << tally.Summary() << "\nsoak: RSS MiB start/end/max "
            << start.rss_kib / 1024 << "/" << final_idle.rss_kib / 1024 << "/" << rss_max / 1024
            << "; fds start/end/max " << start.fds << "/" << final_idle.fds << "/" << fds_max
            << "; KV blocks start/end/max " << start.kv_blocks_used << "/"
            << final_idle.kv_blocks_used << "/" << kv_max << std::endl;

  std::string details;
  for (const auto& d : tally.details()) details += "\n  " + d;
  EXPECT_EQ(tally.failures(), 0) << tally.Summary() << details;
  EXPECT_EQ(tally.count(Outcome::kHttpError), 0) << tally.Summary() << details;
  EXPECT_EQ(tally.count(Outcome::kRefused), 0) << "fewer clients than maxLinkNum";
  EXPECT_EQ(final_idle.running, 0);
  EXPECT_EQ(final_idle.kv_blocks_used, start.kv_blocks_used);
  EXPECT_LE(final_idle.fds, start.fds);
  // Growth: after a warm-up fifth of the run, the RSS of the last 40% of the samples must not
  // rise above the peak of the samples between 20% and 60% (plus a little allocator noise).
  int64_t early = 0, late = 0;
  for (const auto& p : points) {
    double f = p.t / static_cast<double>(seconds);
    if (f >= 0.2 && f < 0.6) early = std::max(early, p.s.rss_kib);
    if (f >= 0.6) late = std::max(late, p.s.rss_kib);
  }
  if (early > 0 && late > 0) {
    int64_t tolerance = kSanitized ? 64 * 1024 : std::max<int64_t>(16 * 1024, early / 20);
    EXPECT_LE(late, early + tolerance)
        << "RSS kept growing: early peak " << early << " KiB, late peak " << late << " KiB";
    EXPECT_LE(final_idle.rss_kib, early + tolerance);
  }
}

}  // namespace
}  // namespace mies::load
