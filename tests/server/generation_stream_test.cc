// GenerationStream without sockets: deadlines on a clock the test drives, the engine's outputs
// through the FakeEngine's sink, the TTFT and inter-token gaps it measures and hands to the
// metrics, cancellation and refusal.
#include "server/generation_stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "server/serving_fixture.h"

namespace mies::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;
using Clock = GenerationStream::Clock;

// A formatter that only says whether it streams.
class NullFormatter : public Formatter {
 public:
  explicit NullFormatter(bool stream) : stream_(stream) {}
  bool stream() const override { return stream_; }
  std::string OnOutput(const engine::RequestOutput&) override { return ""; }
  std::string Finish() override { return ""; }

 private:
  bool stream_;
};

class GenerationStreamTest : public testing::ServingFixture {
 protected:
  GenerationJob Job(bool stream, std::optional<int> timeout_s = std::nullopt) {
    GenerationJob job;
    job.request.request_id = "endpoint_common_7";
    job.request.prompt_ids = {1, 400, 401};
    job.public_id = "client-7";
    job.timeout_s = timeout_s;
    job.prompt_tokens = 3;
    job.formatter = std::make_unique<NullFormatter>(stream);
    return job;
  }
  // A stream over `job`, submitted; counts its wake-ups.
  std::unique_ptr<GenerationStream> Start(GenerationJob& job, StreamLimits limits) {
    auto gen = std::make_unique<GenerationStream>(ctx_, job, limits, t0_);
    EXPECT_EQ(gen->Submit(std::move(job.request), [this] { ++wakes_; }), std::nullopt);
    return gen;
  }
  std::string Prometheus() { return metrics_->RenderPrometheus({}); }
  static std::string Line(const std::string& name, const std::string& value) {
    return name + "{model_name=\"stories260K\"} " + value + "\n";
  }

  const Clock::time_point t0_ = Clock::now();
  int wakes_ = 0;
};

TEST_F(GenerationStreamTest, NonStreamTokenTimeoutCountsFromTheStartWhateverTheOutputs) {
  auto job = Job(/*stream=*/false);
  auto gen = Start(job, {/*token_timeout=*/1s, /*e2e_timeout=*/3s});
  EXPECT_EQ(gen->Deadline(), t0_ + 1s);
  EXPECT_TRUE(gen->Record(Out(0, {10}, "x"), t0_ + 900ms));
  EXPECT_EQ(gen->Deadline(), t0_ + 1s);
  EXPECT_EQ(gen->Expired(t0_ + 999ms), std::nullopt);
  auto expired = gen->Expired(t0_ + 1s);
  ASSERT_TRUE(expired.has_value());
  EXPECT_EQ(expired->status, 500);
  EXPECT_EQ(expired->message, "Engine callback timeout: server tokenTimeout");
}

TEST_F(GenerationStreamTest, StreamTokenDeadlineMovesWithEachOutputUntilTheE2eDeadline) {
  auto job = Job(/*stream=*/true);
  auto gen = Start(job, {/*token_timeout=*/1s, /*e2e_timeout=*/3s});
  EXPECT_EQ(gen->Deadline(), t0_ + 1s);
  gen->Record(Out(0, {10}, "x"), t0_ + 800ms);
  EXPECT_EQ(gen->Deadline(), t0_ + 1800ms);
  EXPECT_EQ(gen->Expired(t0_ + 1500ms), std::nullopt);
  gen->Record(Out(0, {11}, "y"), t0_ + 2500ms);
  EXPECT_EQ(gen->Deadline(), t0_ + 3s);
  EXPECT_EQ(gen->Expired(t0_ + 3s)->message, "Engine callback timeout: server e2eTimeout");
}

TEST_F(GenerationStreamTest, AShorterClientTimeoutIsTheEndToEndDeadline) {
  auto job = Job(/*stream=*/true, /*timeout_s=*/2);
  auto gen = Start(job, {/*token_timeout=*/600s, /*e2e_timeout=*/600s});
  EXPECT_EQ(gen->Deadline(), t0_ + 2s);
  EXPECT_EQ(gen->Expired(t0_ + 2s)->message, "Engine callback timeout: client timeout");

  auto longer = Job(/*stream=*/true, /*timeout_s=*/5);
  auto gen2 = Start(longer, {/*token_timeout=*/600s, /*e2e_timeout=*/4s});
  EXPECT_EQ(gen2->Expired(t0_ + 4s)->message, "Engine callback timeout: server e2eTimeout");
}

TEST_F(GenerationStreamTest, WhenBothDeadlinesFallTogetherTheEndToEndOneIsNamed) {
  auto job = Job(/*stream=*/false);
  auto gen = Start(job, {/*token_timeout=*/2s, /*e2e_timeout=*/2s});
  EXPECT_EQ(gen->Expired(t0_ + 2s)->message, "Engine callback timeout: server e2eTimeout");
}

TEST_F(GenerationStreamTest, OutputsFromTheEngineAreQueuedAndWakeTheTransport) {
  auto job = Job(/*stream=*/true);
  auto gen = Start(job, {});
  ASSERT_EQ(engine_.submitted().size(), 1u);
  EXPECT_EQ(ctx_.registry.Find("client-7"), "endpoint_common_7");
  auto sink = engine_.sink("endpoint_common_7");
  sink(Out(0, {10}, "a"));
  sink(Out(0, {11}, "b"));
  EXPECT_EQ(wakes_, 2);
  auto batch = gen->TakeOutputs();
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].events[0].text_delta, "a");
  EXPECT_EQ(batch[1].events[0].text_delta, "b");
  EXPECT_TRUE(gen->TakeOutputs().empty());

  gen.reset();
  EXPECT_EQ(ctx_.registry.Find("client-7"), std::nullopt);
  sink(Out(0, {12}, "c"));  // the engine may still hold the sink: dropped, no wake
  EXPECT_EQ(wakes_, 2);
}

TEST_F(GenerationStreamTest, CancelDropsTheRequestInTheEngineAndCountsAFailure) {
  auto job = Job(/*stream=*/true);
  auto gen = Start(job, {});
  gen->Record(Out(0, {10}, "a"), t0_ + 10ms);
  gen->Cancel();
  EXPECT_THAT(engine_.cancelled(), ElementsAre("endpoint_common_7"));
  const std::string text = Prometheus();
  EXPECT_THAT(text, HasSubstr(Line("request_failed_total", "1")));
  EXPECT_THAT(text, HasSubstr(Line("request_success_total", "0")));
  EXPECT_THAT(text, HasSubstr(Line("time_to_first_token_seconds_count", "0")));
}

TEST_F(GenerationStreamTest, AbortStopsQueueingAndCancelsWithoutCounting) {
  auto job = Job(/*stream=*/true);
  auto gen = Start(job, {});
  gen->Abort();
  EXPECT_THAT(engine_.cancelled(), ElementsAre("endpoint_common_7"));
  engine_.sink("endpoint_common_7")(Out(0, {10}, "late"));
  EXPECT_TRUE(gen->TakeOutputs().empty());
  EXPECT_EQ(wakes_, 0);
  EXPECT_THAT(Prometheus(), HasSubstr(Line("request_failed_total", "0")));
}

TEST_F(GenerationStreamTest, TimeToFirstTokenAndGapsAreMeasuredAndRecorded) {
  auto job = Job(/*stream=*/true);
  auto gen = Start(job, {});
  EXPECT_TRUE(gen->Record(Out(0, {}, ""), t0_ + 100ms));  // no token yet
  EXPECT_TRUE(gen->Record(Out(0, {10}, "a"), t0_ + 200ms));
  EXPECT_DOUBLE_EQ(gen->ttft_s(), 0.2);
  EXPECT_TRUE(gen->gaps_s().empty());
  // Three tokens together share the 300 ms since the last one.
  EXPECT_TRUE(gen->Record(Out(0, {11, 12, 13}, "bcd"), t0_ + 500ms));
  ASSERT_EQ(gen->gaps_s().size(), 3u);
  for (double gap : gen->gaps_s()) EXPECT_NEAR(gap, 0.1, 1e-12);
  EXPECT_TRUE(gen->Record(Out(0, {14}, "e", engine::FinishReason::kLength, true, 5), t0_ + 900ms));
  EXPECT_NEAR(gen->gaps_s().back(), 0.4, 1e-12);
  EXPECT_EQ(gen->generated_tokens(), 5);
  gen->Complete(t0_ + 1500ms);

  const std::string text = Prometheus();
  EXPECT_THAT(text, HasSubstr(Line("request_success_total", "1")));
  EXPECT_THAT(text, HasSubstr(Line("request_failed_total", "0")));
  // TTFT 0.2 s: in the 0.25 bucket, not the 0.1 one.
  EXPECT_THAT(text, HasSubstr(Line("time_to_first_token_seconds_count", "1")));
  EXPECT_THAT(text, HasSubstr("time_to_first_token_seconds_bucket{model_name=\"stories260K\","
                              "le=\"0.1\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("time_to_first_token_seconds_bucket{model_name=\"stories260K\","
                              "le=\"0.25\"} 1\n"));
  // Four gaps: three of 0.1 s and one of 0.4 s.
  EXPECT_THAT(text, HasSubstr(Line("time_per_output_token_seconds_count", "4")));
  EXPECT_THAT(text, HasSubstr("time_per_output_token_seconds_bucket{model_name=\"stories260K\","
                              "le=\"0.1\"} 3\n"));
  // End to end 1.5 s; 3 prompt and 5 generated tokens.
  EXPECT_THAT(text, HasSubstr("e2e_request_latency_seconds_bucket{model_name=\"stories260K\","
                              "le=\"1\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("e2e_request_latency_seconds_bucket{model_name=\"stories260K\","
                              "le=\"2.5\"} 1\n"));
  EXPECT_THAT(text, HasSubstr(Line("request_generation_tokens_sum", "5")));
  EXPECT_THAT(text, HasSubstr(Line("request_prompt_tokens_sum", "3")));
}

TEST_F(GenerationStreamTest, AnEngineErrorFailsTheGenerationWithItsStatus) {
  auto job = Job(/*stream=*/false);
  auto gen = Start(job, {});
  EXPECT_TRUE(gen->Record(Out(0, {10}, "a"), t0_ + 10ms));
  engine::RequestOutput failed;
  failed.error = Unavailable("rank 1 is unreachable");
  EXPECT_FALSE(gen->Record(failed, t0_ + 20ms));
  ASSERT_TRUE(gen->failure().has_value());
  EXPECT_EQ(gen->failure()->status, 503);
  EXPECT_EQ(gen->failure()->message, "rank 1 is unreachable");
  gen->Complete(t0_ + 30ms);
  const std::string text = Prometheus();
  EXPECT_THAT(text, HasSubstr(Line("request_failed_total", "1")));
  EXPECT_THAT(text, HasSubstr(Line("time_to_first_token_seconds_count", "0")));
}

TEST_F(GenerationStreamTest, ARefusedSubmitAnswers503Or424AndCountsAFailure) {
  engine_.set_reject(Unavailable("the engine is stopping"));
  auto job = Job(/*stream=*/false);
  GenerationStream gen(ctx_, job, {}, t0_);
  auto refused = gen.Submit(std::move(job.request), [] {});
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->message, "the engine is stopping");

  engine_.set_reject(InvalidArgument("max_tokens too large"));
  auto job2 = Job(/*stream=*/false);
  GenerationStream gen2(ctx_, job2, {}, t0_);
  refused = gen2.Submit(std::move(job2.request), [] {});
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 424);
  EXPECT_EQ(refused->message, "Failed to enqueue inferRequest. max_tokens too large");
  EXPECT_THAT(Prometheus(), HasSubstr(Line("request_failed_total", "2")));
}

}  // namespace
}  // namespace mies::server
