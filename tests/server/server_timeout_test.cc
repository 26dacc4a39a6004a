// tokenTimeout and e2eTimeout (ServerConfig, seconds) on the real daemon. MindIE: the deadline is
// the earliest of tokenTimeout (the wait for the next engine output; in non-stream mode counted
// from the request's start) and e2eTimeout (from the start); on expiry the request is aborted,
// a non-stream request gets 500 "Engine callback timeout: server tokenTimeout|e2eTimeout" and a
// stream gets that text raw before it is closed (OpenAI routes: an error event, see README).
// Generations are made long deterministically: ignore_eos with 32000 tokens on stories260K
// takes far longer than the 1-2 s timeouts (the attention alone is ~3e11 FLOP), so every
// request here ends by its timeout, after which the daemon is idle and serves others.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/daemon_harness.h"
#include "server/http_client.h"
#include "support/test_home.h"

namespace mies::server::testing {
namespace {

using ::mies::testing::TestHome;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kLongCompletion =
    R"({"model":"stories260K","prompt":"Once upon a time","max_tokens":32000,"ignore_eos":true)";

// A daemon whose sequences may grow to 32768 tokens, with the given timeouts.
class TimeoutDaemon {
 public:
  TimeoutDaemon(int token_timeout_s, int e2e_timeout_s, int max_batch_size) {
    auto& c = home_.config();
    c["ServerConfig"]["tokenTimeout"] = token_timeout_s;
    c["ServerConfig"]["e2eTimeout"] = e2e_timeout_s;
    c["BackendConfig"]["ScheduleConfig"]["maxBatchSize"] = max_batch_size;
    c["BackendConfig"]["ScheduleConfig"]["maxPrefillBatchSize"] = max_batch_size;
    c["BackendConfig"]["ScheduleConfig"]["maxIterTimes"] = 32768;
    c["BackendConfig"]["ModelDeployConfig"]["maxSeqLen"] = 32768;
    c["BackendConfig"]["ModelDeployConfig"]["maxInputTokenLen"] = 256;
    home_.WriteConfig();
    daemon_ = std::make_unique<Daemon>(home_);
  }
  Daemon& d() { return *daemon_; }
  Reply Post(const std::string& path, const std::string& body) {
    return Request(daemon_->ip, daemon_->port, "POST", path, body, 20s);
  }
  // A short request is answered and nothing is left running in the engine.
  void ExpectIdleAndServing() {
    bool idle = false;
    for (int i = 0; i < 100 && !idle; ++i) {
      auto r = Request(daemon_->mgmt_ip, daemon_->mgmt_port, "GET", "/v1/status");
      auto status = json::parse(r.body, nullptr, false);
      idle = !status.is_discarded() && status["resource"]["runningRequestNum"] == 0 &&
             status["resource"]["waitingRequestNum"] == 0;
      if (!idle) std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(idle) << "the timed-out requests are still in the engine";
    auto r = Post(
        "/v1/completions",
        R"({"model":"stories260K","prompt":"Once upon a time","max_tokens":4,"temperature":0})");
    EXPECT_EQ(r.status, 200) << r.body;
  }

 private:
  TestHome home_;
  std::unique_ptr<Daemon> daemon_;
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

TEST(ServerTimeoutTest, TokenTimeoutCountsFromTheStartWithoutStreaming) {
  TimeoutDaemon t(/*token_timeout_s=*/1, /*e2e_timeout_s=*/3, /*max_batch_size=*/4);
  ASSERT_TRUE(t.d().started) << t.d().process->Stderr();
  auto start = Clock::now();
  auto r = t.Post("/v1/completions", std::string(kLongCompletion) + "}");
  double took = Seconds(Clock::now() - start);
  EXPECT_EQ(r.status, 500) << r.body;
  // OpenAI routes carry OpenAI's error shape; the message is MindIE's.
  auto body = json::parse(r.body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << r.body;
  EXPECT_EQ(body["error"]["message"], "Engine callback timeout: server tokenTimeout");
  EXPECT_EQ(body["error"]["type"], "Incomplete Generation");
  EXPECT_GE(took, 0.95);
  EXPECT_LT(took, 2.9);  // before e2eTimeout
  t.ExpectIdleAndServing();
}

TEST(ServerTimeoutTest, E2eTimeoutEndsNonStreamAndStreamRequestsInMindIeFraming) {
  TimeoutDaemon t(/*token_timeout_s=*/3600, /*e2e_timeout_s=*/1, /*max_batch_size=*/4);
  ASSERT_TRUE(t.d().started) << t.d().process->Stderr();
  // vLLM /generate (MindIE's error envelope), non-stream and stream at once.
  Reply streamed;
  double stream_took = 0;
  std::thread stream_client([&] {
    auto start = Clock::now();
    streamed = t.Post(
        "/generate",
        R"({"prompt":"Once upon a time","max_tokens":32000,"ignore_eos":true,"stream":true})");
    stream_took = Seconds(Clock::now() - start);
  });
  auto start = Clock::now();
  auto r =
      t.Post("/generate", R"({"prompt":"Once upon a time","max_tokens":32000,"ignore_eos":true})");
  double took = Seconds(Clock::now() - start);
  stream_client.join();

  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_EQ(json::parse(r.body, nullptr, false),
            json({{"error", "Engine callback timeout: server e2eTimeout"},
                  {"error_type", "Incomplete Generation"}}))
      << r.body;
  EXPECT_GE(took, 0.95);
  EXPECT_LT(took, 8.0);
  // The stream: 200, text chunks each ended by a NUL, then the raw timeout text, then closed.
  EXPECT_EQ(streamed.status, 200);
  EXPECT_NE(streamed.body.find('\0'), std::string::npos) << "no token was streamed before";
  EXPECT_THAT(streamed.body,
              EndsWith(std::string("\0", 1) + "Engine callback timeout: server e2eTimeout"));
  EXPECT_GE(stream_took, 0.95);
  EXPECT_LT(stream_took, 8.0);
  t.ExpectIdleAndServing();
}

// In stream mode tokenTimeout is the wait between outputs: a stream that keeps producing
// tokens outlives it (and is ended by e2eTimeout), while a request that gets no output at all
// (queued behind it: one slot) is ended by tokenTimeout.
TEST(ServerTimeoutTest, StreamsHitTokenTimeoutOnlyWhenOutputsStop) {
  TimeoutDaemon t(/*token_timeout_s=*/1, /*e2e_timeout_s=*/3, /*max_batch_size=*/1);
  ASSERT_TRUE(t.d().started) << t.d().process->Stderr();
  int fd = Connect(t.d().ip, t.d().port);
  ASSERT_GE(fd, 0);
  std::string body = std::string(kLongCompletion) + R"(,"stream":true})";
  auto first_start = Clock::now();
  ASSERT_TRUE(SendAll(fd,
                      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      "application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body));
  // Wait for its first token event: it holds the only slot from now on.
  std::string first_raw;
  while (first_raw.find("data: {") == std::string::npos && Clock::now() - first_start < 10s) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    first_raw.append(buf, static_cast<size_t>(n));
  }
  ASSERT_THAT(first_raw, HasSubstr("data: {")) << first_raw;
  double first_took = 0;
  std::thread reader([&] {
    first_raw += ReadAll(fd, 20s);  // the server closes it
    first_took = Seconds(Clock::now() - first_start);
  });

  auto second_start = Clock::now();
  auto second = t.Post("/generate_stream",
                       R"({"inputs":"Once upon a time","parameters":{"max_new_tokens":5}})");
  double second_took = Seconds(Clock::now() - second_start);
  reader.join();
  close(fd);

  // Queued without an output for tokenTimeout: TGI's stream gets the raw text and nothing else.
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "Engine callback timeout: server tokenTimeout");
  EXPECT_GE(second_took, 0.95);
  EXPECT_LT(second_took, 2.9);
  // The flowing stream ran past tokenTimeout and was ended by e2eTimeout with an error event
  // (OpenAI route) and no [DONE].
  Reply first = Parse(first_raw);
  EXPECT_EQ(first.status, 200);
  EXPECT_THAT(first.body, HasSubstr("\"object\":\"text_completion\""));
  EXPECT_THAT(first.body, EndsWith("data: {\"error\":{\"code\":500,\"message\":\"Engine callback "
                                   "timeout: server e2eTimeout\",\"param\":null,\"type\":"
                                   "\"Incomplete Generation\"}}\n\n"));
  EXPECT_THAT(first.body, ::testing::Not(HasSubstr("[DONE]")));
  EXPECT_GE(first_took, 2.95);
  EXPECT_LT(first_took, 8.0);
  t.ExpectIdleAndServing();
}

}  // namespace
}  // namespace mies::server::testing
