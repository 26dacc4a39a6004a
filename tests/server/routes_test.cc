// The route table: every method, path and plane resolves to its row (and every row is listed
// here), handlers are reached through the router, and what no row serves answers the 404 the
// router always gave.
#include "server/routes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "server/serving_fixture.h"

namespace mies::server {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using testing::kAllPlanes;

struct Expected {
  const char* method;
  const char* path;
  unsigned planes;
  const char* route;     // the row's name
  const char* path_arg;  // what its placeholder matched
};

const Expected kExpected[] = {
    {"GET", "/metrics", kMetricsPlane, "metrics", ""},
    {"GET", "/health", kManagementPlane, "health", ""},
    {"GET", "/health/timed", kManagementPlane, "health_timed", ""},
    {"GET", "/health/timed-30", kManagementPlane, "health_timed_n", "30"},
    {"GET", "/health/timed-", kManagementPlane, "health_timed_n", ""},
    {"GET", "/v2/health/live", kManagementPlane, "health_live", ""},
    {"GET", "/v2/health/ready", kManagementPlane, "health_ready", ""},
    {"GET", "/v2/models/stories260K/ready", kManagementPlane, "model_ready", "stories260K"},
    {"GET", "/v2/models/m-1.2_x/getSlotCount", kManagementPlane, "slot_count", "m-1.2_x"},
    {"GET", "/v1/config", kManagementPlane, "config", ""},
    {"GET", "/v1/status", kManagementPlane, "status", ""},
    {"GET", "/v2/status", kManagementPlane, "status_v2", ""},
    {"GET", "/metrics-json", kManagementPlane, "metrics_json", ""},
    {"GET", "/stopService", kManagementPlane, "stop_service", ""},
    {"GET", "/v1/cluster", kManagementPlane, "cluster", ""},
    {"GET", "/console", kManagementPlane, "console", ""},
    {"GET", "/console/console.js", kManagementPlane, "console_file", "console.js"},
    {"GET", "/console/", kManagementPlane, "console_file", ""},
    {"GET", "/", kManagementPlane, "console_root", ""},
    {"GET", "/info", kManagementPlane, "info", ""},
    {"GET", "/info", kServicePlane, "info", ""},
    {"GET", "/v1/models", kServicePlane, "models", ""},
    {"GET", "/v1/models/stories260K", kServicePlane, "model_card", "stories260K"},
    {"GET", "/v2", kServicePlane, "triton_server", ""},
    {"GET", "/v2/models/stories260K", kServicePlane, "triton_model", "stories260K"},
    {"GET", "/v2/models/stories260K/config", kServicePlane, "triton_model_config", "stories260K"},
    {"POST", "/", kServicePlane, "tgi_root", ""},
    {"POST", "/generate", kServicePlane, "generate", ""},
    {"POST", "/generate_stream", kServicePlane, "generate_stream", ""},
    {"POST", "/v1/chat/completions", kServicePlane, "chat_completions", ""},
    {"POST", "/v1/completions", kServicePlane, "completions", ""},
    {"POST", "/infer", kServicePlane, "infer", ""},
    {"POST", "/infer_token", kServicePlane, "infer_token", ""},
    {"POST", "/v1/tokenizer", kServicePlane, "tokenizer", ""},
    {"POST", "/tokenize", kServicePlane, "tokenize", ""},
    {"POST", "/detokenize", kServicePlane, "detokenize", ""},
    {"POST", "/v2/models/stories260K/infer", kServicePlane, "triton_infer", "stories260K"},
    {"POST", "/v2/models/stories260K/generate", kServicePlane, "triton_generate", "stories260K"},
    {"POST", "/v2/models/stories260K/generate_stream", kServicePlane, "triton_generate_stream",
     "stories260K"},
    {"POST", "/v2/models/stories260K/stopInfer", kServicePlane, "stop_infer", "stories260K"},
};

TEST(RouteTableTest, EveryRouteResolvesToItsRowOnItsPlanesOnly) {
  std::set<std::string> seen;
  for (const auto& e : kExpected) {
    std::string_view arg = "unset";
    const Route* route = FindRoute(e.method, e.path, e.planes, &arg);
    ASSERT_NE(route, nullptr) << e.method << " " << e.path;
    EXPECT_STREQ(route->name, e.route) << e.method << " " << e.path;
    EXPECT_EQ(arg, e.path_arg) << e.method << " " << e.path;
    seen.insert(route->name);
    // Also on a listener that carries every plane; never on one that lacks the route's planes.
    EXPECT_EQ(FindRoute(e.method, e.path, kAllPlanes, &arg), route) << e.path;
    EXPECT_EQ(FindRoute(e.method, e.path, kAllPlanes & ~route->planes, &arg), nullptr) << e.path;
  }
  // A row added to the table without a line above fails here.
  for (const Route& route : RouteTable()) {
    EXPECT_TRUE(seen.count(route.name)) << "no expectation for route " << route.name;
  }
}

TEST(RouteTableTest, PlaceholdersMatchWhatTheRegexesMatched) {
  std::string_view arg;
  // {model} is one or more of [A-Za-z0-9_.-]: no slash, not empty, nothing else.
  EXPECT_EQ(FindRoute("GET", "/v2/models/a/b", kServicePlane, &arg), nullptr);
  EXPECT_EQ(FindRoute("GET", "/v2/models/", kServicePlane, &arg), nullptr);
  EXPECT_EQ(FindRoute("GET", "/v2/models/a b", kServicePlane, &arg), nullptr);
  EXPECT_EQ(FindRoute("GET", "/v2/models/stories260K/", kServicePlane, &arg), nullptr);
  EXPECT_EQ(FindRoute("GET", "/v2/models/ready", kManagementPlane, &arg), nullptr);
  EXPECT_EQ(FindRoute("POST", "/v2/models/x/y/infer", kServicePlane, &arg), nullptr);
  EXPECT_EQ(FindRoute("GET", "/v1/models/a/b", kServicePlane, &arg), nullptr);
  // {*} takes anything, slashes included (the handler judges it).
  ASSERT_NE(FindRoute("GET", "/health/timed-1/2", kManagementPlane, &arg), nullptr);
  EXPECT_EQ(arg, "1/2");
}

TEST(RouteTableTest, HealthProbePathsAreTheHealthRoutesAndAnyModelReadyPath) {
  for (const char* p :
       {"/health", "/v2/health/live", "/v2/health/ready", "/v2/models/stories260K/ready",
        "/v2/models/a/b/ready", "/v2/models/ready"}) {
    EXPECT_TRUE(IsHealthProbePath(p)) << p;
  }
  for (const char* p : {"/health/timed", "/v1/status", "/v2/models/x/getSlotCount", "/ready"}) {
    EXPECT_FALSE(IsHealthProbePath(p)) << p;
  }
}

using RouterTest = testing::ServingFixture;

TEST_F(RouterTest, AnUnknownPathAnswersTheSame404) {
  for (const char* path : {"/nope", "/v1/chat", "/v2/models/stories260K/nope", ""}) {
    for (unsigned planes : {kAllPlanes, unsigned{kServicePlane}, unsigned{kManagementPlane}}) {
      auto r = Send("GET", path, "", planes);
      ASSERT_TRUE(r.response.has_value()) << path;
      EXPECT_EQ(r.response->status, 404) << path;
      EXPECT_EQ(json::parse(r.response->body),
                json({{"error", std::string("Route GET ") + path + " not found."},
                      {"error_type", "NotFoundError"}}))
          << path;
    }
  }
}

TEST_F(RouterTest, AMethodOrPlaneMismatchAnswersTheSame404) {
  struct Case {
    const char* method;
    const char* path;
    unsigned planes;
  };
  const Case cases[] = {
      {"GET", "/v1/completions", kAllPlanes},
      {"GET", "/v2/models/stories260K/generate", kAllPlanes},
      {"POST", "/health", kAllPlanes},
      {"POST", "/v1/models", kAllPlanes},
      {"POST", "/v2/models/stories260K/config", kAllPlanes},
      {"PUT", "/v1/completions", kAllPlanes},
      {"DELETE", "/v1/models", kAllPlanes},
      {"POST", "/metrics", kAllPlanes},
      {"GET", "/health", kServicePlane | kMetricsPlane},
      {"GET", "/metrics", kServicePlane | kManagementPlane},
      {"POST", "/v1/completions", kManagementPlane | kMetricsPlane},
      {"GET", "/v1/models", kManagementPlane},
  };
  for (const auto& c : cases) {
    auto r = Send(c.method, c.path, R"({"model":"stories260K","prompt":"x"})", c.planes);
    ASSERT_TRUE(r.response.has_value()) << c.method << " " << c.path;
    EXPECT_EQ(r.response->status, 404) << c.method << " " << c.path;
    EXPECT_EQ(
        r.response->body,
        ErrorResponse(404, std::string("Route ") + c.method + " " + c.path + " not found.").body);
  }
  EXPECT_EQ(metrics_->received(), 0u);  // no route, no request counted
}

TEST_F(RouterTest, AnotherModelInThePathAnswers404BeforeAnythingElse) {
  ctx_.stopped = true;  // would answer 503 on the POST routes
  for (auto [method, path] : {std::pair{"GET", "/v2/models/other"},
                              {"GET", "/v2/models/other/config"},
                              {"GET", "/v2/models/other/ready"},
                              {"GET", "/v2/models/other/getSlotCount"},
                              {"POST", "/v2/models/other/generate"},
                              {"POST", "/v2/models/other/stopInfer"}}) {
    auto r = Send(method, path, "not json");
    ASSERT_TRUE(r.response.has_value()) << path;
    EXPECT_EQ(r.response->status, 404) << path;
    EXPECT_EQ(r.response->body, ErrorResponse(404, "Model other not found.").body) << path;
  }
  EXPECT_EQ(metrics_->received(), 0u);
}

TEST_F(RouterTest, HandlersAreReachedThroughTheirRows) {
  // Service plane, GET.
  EXPECT_EQ(json::parse(Get("/v1/models").response->body)["object"], "list");
  EXPECT_EQ(json::parse(Get("/v1/models/stories260K").response->body)["id"], "stories260K");
  EXPECT_EQ(json::parse(Get("/v2").response->body)["name"], "MindIE Server");
  EXPECT_EQ(json::parse(Get("/v2/models/stories260K").response->body)["platform"], "MindIE Server");
  EXPECT_TRUE(json::parse(Get("/v2/models/stories260K/config").response->body)
                  .contains("model_weight_path"));
  EXPECT_TRUE(json::parse(Send("GET", "/info", "", kServicePlane).response->body)
                  .contains("max_input_length"));
  // Management and metrics planes.
  EXPECT_EQ(Get("/health").response->status, 200);
  EXPECT_EQ(Get("/health/timed").job->timeout_s, 10);
  EXPECT_EQ(Get("/health/timed-7").job->timeout_s, 7);
  EXPECT_EQ(Get("/v2/health/live").response->status, 200);
  EXPECT_EQ(Get("/v2/health/ready").response->status, 200);
  EXPECT_EQ(Get("/v2/models/stories260K/ready").response->status, 200);
  EXPECT_TRUE(json::parse(Get("/v2/models/stories260K/getSlotCount").response->body)
                  .contains("free_slots"));
  EXPECT_EQ(json::parse(Get("/v1/config").response->body)["modelName"], "stories260K");
  EXPECT_FALSE(json::parse(Get("/v1/status").response->body)["resource"].contains("dpInstMap"));
  EXPECT_TRUE(json::parse(Get("/v2/status").response->body)["resource"].contains("dpInstMap"));
  EXPECT_EQ(json::parse(Get("/metrics-json").response->body)["result"][0]["metric"][0]["__name__"],
            "TTFT");
  EXPECT_THAT(Get("/metrics").response->body, HasSubstr("MIES_SERVICE_MONITOR_MODE"));
  // Service plane, POST: each generation route builds its API's job.
  EXPECT_EQ(Post("/", R"({"inputs":"Once"})").job->request.stop.max_tokens, 20);
  EXPECT_EQ(Post("/generate", R"({"inputs":"Once"})").job->formatter->stream_content_type(),
            "text/event-stream");  // TGI
  EXPECT_EQ(Post("/generate", R"({"prompt":"Once"})").job->formatter->stream_content_type(),
            "application/json");  // vLLM
  EXPECT_TRUE(Post("/generate_stream", R"({"inputs":"Once"})").job->formatter->stream());
  const char* chat = R"({"model":"stories260K","messages":[{"role":"user","content":"Hi"}]})";
  EXPECT_EQ(Post("/v1/chat/completions", chat).job->request.prompt_ids,
            Encode("<s>user: Hi\nassistant:", false));
  EXPECT_EQ(Post("/v1/completions", R"({"model":"stories260K","prompt":[1,400]})")
                .job->request.prompt_ids,
            (std::vector<int32_t>{1, 400}));
  EXPECT_EQ(Post("/infer", R"({"input_id":[1,401]})").job->request.prompt_ids,
            (std::vector<int32_t>{1, 401}));
  EXPECT_EQ(Post("/infer_token", R"({"input_id":[1,402]})").job->request.prompt_ids,
            (std::vector<int32_t>{1, 402}));
  EXPECT_TRUE(json::parse(Post("/v1/tokenizer", R"({"inputs":"Once"})").response->body)
                  .contains("token_number"));
  EXPECT_TRUE(
      json::parse(Post("/tokenize", R"({"model":"stories260K","prompt":"Once"})").response->body)
          .contains("count"));
  EXPECT_TRUE(
      json::parse(Post("/detokenize", R"({"model":"stories260K","tokens":[400]})").response->body)
          .contains("prompt"));
  EXPECT_EQ(Post("/v2/models/stories260K/infer",
                 R"({"id":"a","inputs":[{"name":"i","shape":[1],"datatype":"UINT32","data":[9]}]})")
                .job->public_id,
            "a");
  EXPECT_FALSE(Post("/v2/models/stories260K/generate", R"({"id":"b","text_input":"Once"})")
                   .job->formatter->stream());
  EXPECT_TRUE(Post("/v2/models/stories260K/generate_stream", R"({"id":"c","text_input":"Once"})")
                  .job->formatter->stream());
  EXPECT_EQ(Post("/v2/models/stories260K/stopInfer", R"({"id":"zz"})").response->body,
            ErrorResponse(404, "RequestId is zz not found.").body);
  // Last: it stops the service.
  EXPECT_EQ(Get("/stopService", "mode=Force").action, ServiceAction::kStopServiceForce);
}

TEST_F(RouterTest, JsonRoutesCheckReadinessThenTheBodyAndCountGenerations) {
  auto bad = Post("/v1/completions", "{not json");
  EXPECT_EQ(bad.response->status, 422);
  EXPECT_TRUE(json::parse(bad.response->body)["error"].is_object());  // OpenAI shape
  auto tokenize = Post("/v1/tokenizer", "{not json");
  EXPECT_EQ(tokenize.response->status, 422);
  EXPECT_TRUE(json::parse(tokenize.response->body)["error"].is_string());  // MindIE shape
  EXPECT_EQ(metrics_->received(), 1u);  // /v1/tokenizer is not a generation
  ctx_.ready = false;
  auto not_ready = Post("/generate", "{not json");
  EXPECT_EQ(not_ready.response->status, 503);
  EXPECT_THAT(not_ready.response->body, HasSubstr("The service is not ready."));
  EXPECT_EQ(metrics_->received(), 2u);
  EXPECT_THAT(metrics_->RenderPrometheus({}),
              HasSubstr("request_failed_total{model_name=\"stories260K\"} 2\n"));
}

TEST_F(RouterTest, HealthProbesAnswerAbnormalNodesBeforeRouting) {
  engine::EngineStats stats;
  stats.healthy = true;
  stats.abnormal_nodes = {"127.0.1.2"};
  engine_.set_stats(stats);
  for (const char* path : {"/health", "/v2/health/ready", "/v2/models/other/ready"}) {
    auto r = Get(path);
    ASSERT_TRUE(r.response.has_value()) << path;
    EXPECT_EQ(r.response->status, 500) << path;
    EXPECT_EQ(json::parse(r.response->body)["message"], "Abnormal node detected") << path;
  }
  // Not on a service-only listener, and not for other routes.
  EXPECT_EQ(Send("GET", "/health", "", kServicePlane).response->status, 404);
  EXPECT_EQ(Get("/v1/config").response->status, 200);
}

}  // namespace
}  // namespace mies::server
