// The console on the management plane: GET /v1/cluster (one node, or a cluster's snapshot from
// the daemon), the embedded page and its files, GET / next to TGI's POST /, the console's
// figures in /metrics-json, and CORS on the service plane (preflights, headers on answers and
// on generations, which the transport puts on streamed headers too).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/console_assets.h"
#include "server/cors.h"
#include "server/routes.h"
#include "server/serving_fixture.h"

namespace mies::server {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using json = nlohmann::json;
using testing::kAllPlanes;

class ConsoleTest : public testing::ServingFixture {
 protected:
  void SetUp() override {
    ServingFixture::SetUp();
    ctx_.layout.architecture = "LlamaForCausalLM";
    ctx_.layout.dtype = "float32";
    ctx_.layout.world_size = 2;
    ctx_.layout.tp = 2;
    ctx_.layout.num_kv_blocks = 40;
    ctx_.layout.block_size = 128;
    ctx_.resources.kv_pool_bytes_per_rank = 1 << 20;
    ctx_.service_url = "http://127.0.1.5:1025";
    ctx_.allowed_origins = {"http://127.0.1.5:1026"};
  }
  RouteResult SendWith(const std::string& method, const std::string& path,
                       const std::string& origin, unsigned planes, const std::string& body = "") {
    HttpRequest req;
    req.method = method;
    req.path = path;
    req.body = body;
    if (!origin.empty()) req.headers.emplace_back("origin", origin);
    return router_->Handle(req, planes, "127.0.1.5:1026");
  }
};

TEST_F(ConsoleTest, ClusterOfOneNodeWithoutAClusterView) {
  auto r = Send("GET", "/v1/cluster", "", kManagementPlane);
  ASSERT_TRUE(r.response);
  EXPECT_EQ(r.response->status, 200);
  EXPECT_THAT(r.response->headers, Contains(Pair("Cache-Control", "no-cache")));
  json body = json::parse(r.response->body);
  EXPECT_EQ(body["state"], "single");
  EXPECT_EQ(body["epoch"], 0);
  EXPECT_EQ(body["serviceUrl"], "http://127.0.1.5:1025");
  EXPECT_EQ(body["model"], json({{"name", "stories260K"},
                                 {"architecture", "LlamaForCausalLM"},
                                 {"dtype", "float32"},
                                 {"worldSize", 2},
                                 {"tp", 2},
                                 {"moe", false},
                                 {"expertParallel", false},
                                 {"moeEp", 1},
                                 {"kvBlocksPerRank", 40},
                                 {"blockSize", 128},
                                 {"kvPoolBytesPerRank", 1 << 20},
                                 {"maxSeqLen", 2560}}));
  ASSERT_EQ(body["nodes"].size(), 1u);
  EXPECT_EQ(body["nodes"][0]["role"], "master");
  EXPECT_EQ(body["nodes"][0]["status"], "healthy");
  EXPECT_EQ(body["nodes"][0]["ranks"], json({0, 1}));
  EXPECT_EQ(body["nodes"][0]["kvPoolBytes"], 2 << 20);
  EXPECT_TRUE(body["nodes"][0]["msSinceHeartbeat"].is_null());
  EXPECT_TRUE(body["events"].empty());
}

TEST_F(ConsoleTest, ClusterFromTheDaemonsSnapshot) {
  ctx_.cluster_view = [] {
    ClusterSnapshot s;
    s.state = "broken";
    s.epoch = 3;
    s.nodes.push_back({"127.0.1.5", "master", {0}, {0}, "healthy", -1, "", 1000});
    s.nodes.push_back(
        {"127.0.1.6", "slave", {1}, {4}, "lost", 3200, "no heartbeat for 3200 ms", 0});
    s.events.push_back({7, 1700000000000, "lost", true, "127.0.1.6",
                        "node 127.0.1.6 lost: no heartbeat for 3200 ms"});
    return s;
  };
  json body = json::parse(Send("GET", "/v1/cluster", "", kManagementPlane).response->body);
  EXPECT_EQ(body["state"], "broken");
  EXPECT_EQ(body["epoch"], 3);
  ASSERT_EQ(body["nodes"].size(), 2u);
  EXPECT_EQ(body["nodes"][0]["rssBytes"], 1000);
  EXPECT_EQ(body["nodes"][1], json({{"address", "127.0.1.6"},
                                    {"role", "slave"},
                                    {"ranks", {1}},
                                    {"deviceIds", {4}},
                                    {"status", "lost"},
                                    {"msSinceHeartbeat", 3200},
                                    {"lostReason", "no heartbeat for 3200 ms"},
                                    {"rssBytes", nullptr},
                                    {"kvPoolBytes", 1 << 20}}));
  EXPECT_EQ(body["events"],
            json::array({{{"seq", 7},
                          {"time", 1700000000000},
                          {"kind", "lost"},
                          {"error", true},
                          {"node", "127.0.1.6"},
                          {"message", "node 127.0.1.6 lost: no heartbeat for 3200 ms"}}}));
  // Only on the management plane.
  EXPECT_EQ(Send("GET", "/v1/cluster", "", kServicePlane).response->status, 404);
}

TEST_F(ConsoleTest, ThePageAndItsFilesAreEmbeddedWithTheirTypesAndNoCache) {
  struct Case {
    const char* path;
    const char* type;
    const char* text;
  };
  for (const Case& c :
       {Case{"/console", "text/html; charset=utf-8", "<title>mies console"},
        Case{"/console/", "text/html; charset=utf-8", "/console/console.js"},
        Case{"/console/index.html", "text/html; charset=utf-8", "aria-live"},
        Case{"/console/console.js", "text/javascript; charset=utf-8", "/v1/cluster"},
        Case{"/console/console.css", "text/css; charset=utf-8", "@media"}}) {
    auto r = Send("GET", c.path, "", kManagementPlane);
    ASSERT_TRUE(r.response) << c.path;
    EXPECT_EQ(r.response->status, 200) << c.path;
    EXPECT_EQ(r.response->content_type, c.type) << c.path;
    EXPECT_THAT(r.response->body, HasSubstr(c.text)) << c.path;
    EXPECT_THAT(r.response->headers, Contains(Pair("Cache-Control", "no-cache"))) << c.path;
  }
  EXPECT_EQ(Send("GET", "/console/nope.js", "", kManagementPlane).response->status, 404);
  EXPECT_EQ(Send("GET", "/console/../conf/config.json", "", kManagementPlane).response->status,
            404);
  EXPECT_EQ(FindConsoleFile("console.css")->name, "console.css");
  EXPECT_EQ(ConsoleContentType("x.svg"), "image/svg+xml");
}

TEST_F(ConsoleTest, GetRootRedirectsToTheConsoleWhilePostRootStaysTgis) {
  for (unsigned planes : {unsigned{kManagementPlane}, kAllPlanes}) {
    auto r = Send("GET", "/", "", planes);
    ASSERT_TRUE(r.response);
    EXPECT_EQ(r.response->status, 302);
    EXPECT_THAT(r.response->headers, Contains(Pair("Location", "/console")));
  }
  // The service plane alone has no GET /.
  EXPECT_EQ(Send("GET", "/", "", kServicePlane).response->status, 404);
  std::string_view arg;
  EXPECT_STREQ(FindRoute("POST", "/", kAllPlanes, &arg)->name, "tgi_root");
  EXPECT_STREQ(FindRoute("POST", "/", kServicePlane, &arg)->name, "tgi_root");
  EXPECT_EQ(FindRoute("POST", "/", kManagementPlane, &arg), nullptr);
  // TGI's POST / still generates on a merged listener.
  auto tgi = Send("POST", "/", R"({"inputs":"Once upon a time"})", kAllPlanes);
  EXPECT_TRUE(tgi.job.has_value());
}

TEST_F(ConsoleTest, MetricsJsonCarriesTheConsolesFigures) {
  metrics_->ObserveGeneration(4, 3, 0.020, {0.010, 0.030}, 0.1);
  metrics_->ObserveGeneration(4, 3, 0.040, {0.020}, 0.1);
  json body = json::parse(Send("GET", "/metrics-json", "", kManagementPlane).response->body);
  EXPECT_EQ(body["result"][0]["metric"][0]["__name__"], "TTFT");  // MindIE's part unchanged
  const json& m = body["mies"];
  EXPECT_EQ(m["ttftMs"]["count"], 2);
  EXPECT_DOUBLE_EQ(m["ttftMs"]["p50"].get<double>(), 20);
  EXPECT_DOUBLE_EQ(m["ttftMs"]["p99"].get<double>(), 40);
  EXPECT_DOUBLE_EQ(m["interTokenMs"]["p50"].get<double>(), 20);
  EXPECT_DOUBLE_EQ(m["interTokenMs"]["p90"].get<double>(), 30);
  EXPECT_EQ(m["histograms"]["ttftSeconds"]["count"], 2);
  EXPECT_EQ(m["histograms"]["ttftSeconds"]["bounds"].size() + 1,
            m["histograms"]["ttftSeconds"]["counts"].size());
  for (const char* k : {"running", "waiting", "kvBlocksUsed", "kvBlocksTotal",
                        "generationTokensTotal", "promptTokensTotal", "requests"}) {
    EXPECT_TRUE(m.contains(k)) << k;
  }
  json empty = json::parse(Send("GET", "/metrics-json", "", kManagementPlane).response->body);
  EXPECT_EQ(empty["mies"]["requests"]["received"], 0);
}

TEST_F(ConsoleTest, PreflightsOnTheServicePlane) {
  auto ok = SendWith("OPTIONS", "/v1/completions", "http://127.0.1.5:1026", kServicePlane);
  ASSERT_TRUE(ok.response);
  EXPECT_EQ(ok.response->status, 204);
  EXPECT_TRUE(ok.response->body.empty());
  EXPECT_THAT(ok.response->headers,
              Contains(Pair("Access-Control-Allow-Origin", "http://127.0.1.5:1026")));
  EXPECT_THAT(ok.response->headers,
              Contains(Pair("Access-Control-Allow-Methods", "GET, POST, OPTIONS")));
  EXPECT_THAT(ok.response->headers,
              Contains(Pair("Access-Control-Allow-Headers", "Authorization, Content-Type")));
  EXPECT_THAT(ok.response->headers, Contains(Pair("Access-Control-Max-Age", "600")));
  EXPECT_THAT(ok.response->headers, Contains(Pair("Vary", "Origin")));
  // Origins compare without case; GET routes have preflights too.
  EXPECT_EQ(
      SendWith("OPTIONS", "/v1/models", "HTTP://127.0.1.5:1026", kServicePlane).response->status,
      204);

  auto other = SendWith("OPTIONS", "/v1/completions", "http://evil.example", kServicePlane);
  EXPECT_EQ(other.response->status, 403);
  EXPECT_THAT(other.response->body, HasSubstr("allowedOrigins"));
  EXPECT_EQ(SendWith("OPTIONS", "/v1/completions", "", kServicePlane).response->status, 403);
  EXPECT_EQ(SendWith("OPTIONS", "/nope", "http://127.0.1.5:1026", kServicePlane).response->status,
            404);
  // Not on the management plane alone (no CORS there: the console is same-origin).
  EXPECT_EQ(SendWith("OPTIONS", "/v1/completions", "http://127.0.1.5:1026", kManagementPlane)
                .response->status,
            404);

  ctx_.allowed_origins.push_back("*");
  EXPECT_EQ(
      SendWith("OPTIONS", "/v1/completions", "http://evil.example", kServicePlane).response->status,
      204);
  EXPECT_EQ(metrics_->received(), 0u);  // a preflight is not a request
}

TEST_F(ConsoleTest, AnswersAndGenerationsCarryTheAllowedOriginOnly) {
  const std::string origin = "http://127.0.1.5:1026";
  auto models = SendWith("GET", "/v1/models", origin, kServicePlane);
  EXPECT_THAT(models.response->headers, Contains(Pair("Access-Control-Allow-Origin", origin)));
  EXPECT_THAT(models.response->headers, Contains(Pair("Vary", "Origin")));
  // Errors too, so the page can read them.
  auto bad = SendWith("POST", "/v1/completions", origin, kServicePlane, "not json");
  EXPECT_GE(bad.response->status, 400);
  EXPECT_THAT(bad.response->headers, Contains(Pair("Access-Control-Allow-Origin", origin)));
  // A generation: the transport writes the job's headers on the stream's header.
  auto gen = SendWith("POST", "/v1/completions", origin, kServicePlane,
                      R"({"model":"stories260K","prompt":"Once","stream":true})");
  ASSERT_TRUE(gen.job);
  EXPECT_THAT(gen.job->headers, Contains(Pair("Access-Control-Allow-Origin", origin)));

  auto other = SendWith("GET", "/v1/models", "http://evil.example", kServicePlane);
  EXPECT_EQ(other.response->status, 200);
  EXPECT_TRUE(other.response->headers.empty());
  auto none = SendWith("GET", "/v1/models", "", kServicePlane);
  EXPECT_TRUE(none.response->headers.empty());
  auto mgmt = SendWith("GET", "/v1/cluster", origin, kManagementPlane);
  EXPECT_THAT(mgmt.response->headers, Not(Contains(Pair("Vary", "Origin"))));
  EXPECT_FALSE(OriginAllowed({"http://a:1"}, "null"));
}

}  // namespace
}  // namespace mies::server
