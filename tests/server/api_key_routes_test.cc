// API keys in the router (ServingContext::api_keys): which requests need a key, OpenAI's 401
// answer to a missing or wrong one, and what stays open (management and metrics routes, also on
// a merged listener; CORS preflights).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "server/api_key_store.h"
#include "server/routes.h"
#include "server/serving_fixture.h"

namespace mies::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;
using testing::kAllPlanes;

constexpr char kKey[] = "sk-mies-test-0123456789";
constexpr char kChat[] =
    R"({"model":"stories260K","messages":[{"role":"user","content":"Hi"}],"max_tokens":2})";

class ApiKeyRoutesTest : public testing::ServingFixture {
 protected:
  void SetUp() override {
    ServingFixture::SetUp();
    char tmpl[] = "/tmp/mies_api_key_routes_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const std::string path = dir_ + "/keys";
    std::ofstream(path) << "# test key\n" << kKey << "\n";
    ASSERT_EQ(chmod(path.c_str(), 0600), 0);
    auto store = ApiKeyStore::Create(path, "ServerConfig.apiKeyFile");
    ASSERT_TRUE(store.ok()) << store.status();
    keys_ = std::move(*store);
    ctx_.api_keys = keys_.get();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // `authorization` empty: no Authorization header.
  RouteResult Call(const std::string& method, const std::string& path, unsigned planes,
                   const std::string& authorization = "", const std::string& body = "",
                   const std::string& header_name = "Authorization") {
    HttpRequest req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.headers.emplace_back("Host", "127.0.1.1");
    if (!authorization.empty()) req.headers.emplace_back(header_name, authorization);
    return router_->Handle(req, planes, "127.0.1.1:1025");
  }
  static int StatusOf(const RouteResult& r) {
    if (r.response) return r.response->status;
    return r.job ? 200 : 0;  // a generation: the transport answers
  }
  static void ExpectUnauthorized(const RouteResult& r, const std::string& message) {
    ASSERT_TRUE(r.response.has_value());
    EXPECT_EQ(r.response->status, 401);
    EXPECT_EQ(r.response->content_type, "application/json");
    EXPECT_THAT(r.response->headers, ::testing::Contains(std::pair<std::string, std::string>(
                                         "WWW-Authenticate", "Bearer")));
    const json body = json::parse(r.response->body);
    EXPECT_EQ(body, (json{{"error",
                           {{"message", message},
                            {"type", "invalid_request_error"},
                            {"param", nullptr},
                            {"code", "invalid_api_key"}}}}))
        << r.response->body;
  }

  std::string dir_;
  std::unique_ptr<ApiKeyStore> keys_;
};

constexpr char kMissing[] =
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).";
constexpr char kIncorrect[] = "Incorrect API key provided.";

TEST_F(ApiKeyRoutesTest, MissingKeyIs401WithOpenAiBody) {
  ExpectUnauthorized(Call("POST", "/v1/chat/completions", kServicePlane, "", kChat), kMissing);
  // Another scheme, or Bearer without a token, is no key either.
  ExpectUnauthorized(Call("POST", "/v1/chat/completions", kServicePlane, "Basic c2s6", kChat),
                     kMissing);
  ExpectUnauthorized(Call("GET", "/v1/models", kServicePlane, "Bearer "), kMissing);
  // Refused before the request counters: not a received request, but an unauthorized one.
  EXPECT_EQ(metrics_->received(), 0u);
  EXPECT_EQ(metrics_->unauthorized(), 3u);
  EXPECT_THAT(metrics_->RenderPrometheus({}),
              HasSubstr("request_unauthorized_total{model_name=\"stories260K\"} 3\n"));
}

TEST_F(ApiKeyRoutesTest, WrongKeyIs401AndNotEchoed) {
  const std::string wrong = "sk-wrong-key-abcdef";
  auto r = Call("POST", "/v1/completions", kServicePlane, "Bearer " + wrong,
                R"({"model":"stories260K","prompt":"x","max_tokens":2})");
  ExpectUnauthorized(r, kIncorrect);
  EXPECT_THAT(r.response->body, Not(HasSubstr(wrong)));
  EXPECT_FALSE(r.job.has_value());
  // Keys are exact: no prefix, no other case.
  ExpectUnauthorized(Call("GET", "/v1/models", kServicePlane, "Bearer sk-mies-test"), kIncorrect);
  ExpectUnauthorized(Call("GET", "/v1/models", kServicePlane, "Bearer SK-MIES-TEST-0123456789"),
                     kIncorrect);
}

TEST_F(ApiKeyRoutesTest, RightKeyPasses) {
  auto chat =
      Call("POST", "/v1/chat/completions", kServicePlane, std::string("Bearer ") + kKey, kChat);
  // A generation job for the transport to run.
  ASSERT_TRUE(chat.job.has_value()) << (chat.response ? chat.response->body : "");
  // Header name and scheme in any case, blanks around the token.
  auto models = Call("GET", "/v1/models", kServicePlane, std::string("bearer  ") + kKey + " ", "",
                     "authorization");
  ASSERT_TRUE(models.response.has_value());
  EXPECT_EQ(models.response->status, 200) << models.response->body;
  EXPECT_EQ(metrics_->unauthorized(), 0u);
}

// Every row the service plane serves needs the key, on a service-only listener and on a merged
// one; every row only the management or metrics planes serve stays open, also merged.
TEST_F(ApiKeyRoutesTest, EveryServiceRouteNeedsTheKeyAndOthersStayOpen) {
  int service_rows = 0, open_rows = 0;
  for (const Route& route : RouteTable()) {
    std::string path = route.pattern;
    if (auto at = path.find("{model}"); at != std::string::npos) {
      path.replace(at, 7, "stories260K");
    }
    if (auto at = path.find("{*}"); at != std::string::npos) path.replace(at, 3, "1");
    if (path == "/stopService") continue;  // its answer ends the service: not needed here
    const std::string body = std::string(route.method) == "POST" ? "{}" : "";
    if (route.planes & kServicePlane) {
      ++service_rows;
      for (unsigned planes : {unsigned{kServicePlane}, kAllPlanes}) {
        SCOPED_TRACE(std::string(route.name) + " on planes " + std::to_string(planes));
        ExpectUnauthorized(Call(route.method, path, planes, "", body), kMissing);
        ExpectUnauthorized(Call(route.method, path, planes, "Bearer nope", body), kIncorrect);
        EXPECT_NE(StatusOf(Call(route.method, path, planes, std::string("Bearer ") + kKey, body)),
                  401);
      }
    } else {
      ++open_rows;
      SCOPED_TRACE(std::string(route.name) + " merged");
      EXPECT_NE(StatusOf(Call(route.method, path, kAllPlanes, "", body)), 401);
      EXPECT_NE(StatusOf(Call(route.method, path, kAllPlanes, "Bearer nope", body)), 401);
    }
  }
  EXPECT_GT(service_rows, 15);
  EXPECT_GT(open_rows, 10);
  // /info is on both planes: open on a management listener, guarded where the service plane is.
  EXPECT_EQ(StatusOf(Call("GET", "/info", kManagementPlane)), 200);
  EXPECT_EQ(StatusOf(Call("GET", "/info", kManagementPlane | kMetricsPlane)), 200);
  ExpectUnauthorized(Call("GET", "/info", kAllPlanes), kMissing);
}

TEST_F(ApiKeyRoutesTest, HealthRoutesStayOpenOnMergedPlanes) {
  for (const char* path : {"/health", "/v2/health/live", "/v2/health/ready",
                           "/v2/models/stories260K/ready", "/health/timed-1"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(StatusOf(Call("GET", path, kAllPlanes)), 200);  // /health/timed-1: a probe job
  }
  // The management listener of split planes never asks.
  EXPECT_EQ(StatusOf(Call("GET", "/v1/status", kManagementPlane)), 200);
  EXPECT_EQ(metrics_->unauthorized(), 0u);
}

TEST_F(ApiKeyRoutesTest, UnknownPathsOnTheServicePlaneNeedTheKey) {
  // Without a key a client learns nothing of the route table.
  ExpectUnauthorized(Call("GET", "/no/such/route", kServicePlane), kMissing);
  ExpectUnauthorized(Call("POST", "/v1/embeddings", kAllPlanes, "Bearer nope", "{}"), kIncorrect);
  ExpectUnauthorized(Call("DELETE", "/v1/models", kServicePlane), kMissing);
  // With one, the router's 404.
  auto found = Call("GET", "/no/such/route", kServicePlane, std::string("Bearer ") + kKey);
  ASSERT_TRUE(found.response.has_value());
  EXPECT_EQ(found.response->status, 404);
  EXPECT_THAT(found.response->body, HasSubstr("Route GET /no/such/route not found."));
  // A listener without the service plane keeps its 404.
  EXPECT_EQ(StatusOf(Call("GET", "/no/such/route", kManagementPlane | kMetricsPlane)), 404);
}

TEST_F(ApiKeyRoutesTest, OptionsPassesTheCheck) {
  // CORS preflights carry no Authorization header; what answers them is not the key check.
  for (unsigned planes : {unsigned{kServicePlane}, kAllPlanes}) {
    EXPECT_NE(StatusOf(Call("OPTIONS", "/v1/chat/completions", planes)), 401);
    EXPECT_NE(StatusOf(Call("OPTIONS", "/no/such/route", planes)), 401);
  }
  EXPECT_EQ(metrics_->unauthorized(), 0u);
}

TEST_F(ApiKeyRoutesTest, KeysOffAsksNothing) {
  ctx_.api_keys = nullptr;
  EXPECT_EQ(StatusOf(Call("GET", "/v1/models", kServicePlane)), 200);
  EXPECT_EQ(StatusOf(Call("POST", "/v1/chat/completions", kServicePlane, "", kChat)), 200);
  EXPECT_EQ(StatusOf(Call("GET", "/no/such/route", kServicePlane)), 404);
}

}  // namespace
}  // namespace mies::server
