// HTTP request bodies of each API family through the server's Router (the same parse and
// validate code the listeners call), on the stories260K tokenizer with a real chat template.
// An accepted request then goes where the HTTP layer sends it: the engine's request validation
// (ResolveRequest, as Engine::Submit does), and its formatter with outputs shaped as the engine
// makes them. Every JSON body the server answers must parse as JSON.
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include "engine/request_validation.h"
#include "entries.h"
#include "jinja/chat_template.h"
#include "model/hf_config.h"
#include "server/metrics.h"
#include "server/router.h"
#include "support.h"

namespace mies::fuzz {
namespace {

using nlohmann::json;

// Engine::Submit's validation without the engine: requests it would reject are rejected here.
class ValidatingEngine : public engine::EngineInterface {
 public:
  explicit ValidatingEngine(engine::RequestLimits limits) : limits_(limits) {}
  Status Submit(engine::GenerateRequest request, engine::OutputSink) override {
    auto r = engine::ResolveRequest(request, defaults_, limits_, 1234);
    return r.ok() ? OkStatus() : r.status();
  }
  void Cancel(const std::string&) override {}
  engine::EngineStats Stats() const override { return {}; }

 private:
  model::GenerationDefaults defaults_;
  engine::RequestLimits limits_;
};

struct Server {
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::optional<jinja::ChatTemplate> chat_template;
  std::unique_ptr<server::Metrics> metrics;
  std::unique_ptr<ValidatingEngine> engine;
  server::ServingContext ctx;
  std::unique_ptr<server::Router> router;
};

Server& TheServer() {
  static Server* s = [] {
    QuietLogging();
    auto* srv = new Server();
    auto tok = tokenizer::Tokenizer::Load(SharedDir() + "/models/stories260K");
    if (!tok.ok()) Die("cannot load the stories260K tokenizer");
    srv->tokenizer = std::move(*tok);
    // Qwen3's template: tools, tool calls, reasoning and content lists take real paths.
    std::ifstream in(SharedDir() + "/tokenizers/qwen3/tokenizer_config.json");
    std::stringstream ss;
    ss << in.rdbuf();
    auto cfg = nlohmann::ordered_json::parse(ss.str(), nullptr, false);
    auto tmpl = jinja::ChatTemplate::FromTokenizerConfig(cfg);
    if (!tmpl.ok()) Die("cannot load the qwen3 chat template");
    srv->chat_template.emplace(std::move(*tmpl));
    srv->metrics = std::make_unique<server::Metrics>("stories260K");
    server::ModelInfo& m = srv->ctx.model;
    m.name = "stories260K";
    m.weight_path = "/models/stories260K";
    m.vocab_size = srv->tokenizer->vocab_size();
    m.max_seq_len = 2560;
    m.max_input_tokens = 2048;
    m.max_iter_times = 256;
    m.max_batch_size = 16;
    m.max_prefill_batch_size = 16;
    m.max_n = 8;
    m.max_request_chars = 1 << 20;
    engine::RequestLimits limits;
    limits.max_seq_len = m.max_seq_len;
    limits.max_input_tokens = m.max_input_tokens;
    limits.max_iter_times = m.max_iter_times;
    limits.max_n = m.max_n;
    limits.max_batch_size = m.max_batch_size;
    limits.vocab_size = m.vocab_size;
    srv->engine = std::make_unique<ValidatingEngine>(limits);
    srv->ctx.tokenizer = srv->tokenizer.get();
    srv->ctx.chat_template = &*srv->chat_template;
    srv->ctx.engine = srv->engine.get();
    srv->ctx.metrics = srv->metrics.get();
    srv->router = std::make_unique<server::Router>(&srv->ctx);
    return srv;
  }();
  return *s;
}

void CheckJsonBody(const server::HttpResponse& r, const char* what) {
  if (r.content_type != "application/json") return;
  if (json::parse(r.body, nullptr, false).is_discarded()) {
    Die(std::string(what) + " is not valid JSON: " + r.body.substr(0, 200));
  }
}

// Outputs as the engine produces them: n sequences, two tokens each (with logprobs when asked),
// then a finish; prompt logprobs in the first output when asked.
void DriveFormatter(server::GenerationJob& job) {
  const engine::GenerateRequest& q = job.request;
  const int n = std::max(1, q.sampling.n);
  auto token = [&](int32_t id) {
    engine::TokenLogprob lp;
    lp.token_id = id;
    lp.logprob = -0.5f;
    for (int k = 0; k < q.sampling.logprobs.value_or(0); ++k) {
      lp.top.push_back({static_cast<int32_t>(k % 300), -1.0f - k});
    }
    return lp;
  };
  for (int step = 0; step < 2; ++step) {
    engine::RequestOutput out;
    out.request_id = q.request_id;
    if (step == 0 && q.sampling.prompt_logprobs) {
      for (int32_t id : q.prompt_ids) out.prompt_logprobs.push_back(token(id));
    }
    for (int i = 0; i < n; ++i) {
      engine::SequenceEvent ev;
      ev.index = i;
      ev.new_token_ids = {static_cast<int32_t>(100 + step), static_cast<int32_t>(300 + i)};
      ev.text_delta = step == 0 ? "Once \xE4\xBD\xA0" : " upon";
      if (q.sampling.logprobs) {
        for (int32_t id : ev.new_token_ids) ev.logprobs.push_back(token(id));
      }
      if (step == 1) {
        ev.finish = i % 2 ? engine::FinishReason::kStop : engine::FinishReason::kLength;
        if (i % 2) ev.stop_reason = "\n";
      }
      out.events.push_back(std::move(ev));
    }
    out.finished = step == 1;
    out.usage.prompt_tokens = static_cast<int64_t>(q.prompt_ids.size());
    out.usage.completion_tokens = 4 * n;
    (void)job.formatter->OnOutput(out);
  }
  const std::string tail = job.formatter->Finish();
  if (!job.formatter->stream() && json::parse(tail, nullptr, false).is_discarded()) {
    Die("a non-stream response body is not valid JSON: " + tail.substr(0, 200));
  }
}

// The first byte picks the route (and variants); the rest is the body.
Status Post(std::string_view data, std::initializer_list<const char*> routes,
            bool vary_openai_flavour = false) {
  if (data.empty()) return InvalidArgument("empty input");
  Server& srv = TheServer();
  const uint8_t sel = static_cast<uint8_t>(data[0]);
  const auto* route = routes.begin() + sel % routes.size();
  srv.ctx.model.native_openai = vary_openai_flavour && (sel & 0x80);
  server::HttpRequest req;
  req.method = "POST";
  req.path = *route;
  req.body = std::string(data.substr(1));
  req.peer = "127.0.0.1:9";
  server::RouteResult r = srv.router->Handle(
      req, server::kServicePlane | server::kManagementPlane | server::kMetricsPlane,
      "127.0.0.1:1025");
  if (r.response) {
    CheckJsonBody(*r.response, "a response");
    if (r.response->status >= 400) {
      return InvalidArgument("HTTP ", r.response->status, ": ", r.response->body);
    }
    return OkStatus();
  }
  if (!r.job) Die("the router returned neither a response nor a job");
  if (r.job->formatter == nullptr) Die("a job without a formatter");
  Status submitted = srv.engine->Submit(r.job->request, nullptr);
  if (!submitted.ok()) {
    // The HTTP layer answers this error through the route's error style.
    CheckJsonBody(
        server::ErrorResponse(server::HttpStatusFor(submitted), std::string(submitted.message()),
                              r.job->formatter->error_style()),
        "an engine rejection");
    return submitted;
  }
  DriveFormatter(*r.job);
  return OkStatus();
}

}  // namespace

void InitHttpServer() { (void)TheServer(); }

Status FuzzHttpOpenAi(std::string_view data) {
  return Post(data, {"/v1/chat/completions", "/v1/completions"}, /*vary_openai_flavour=*/true);
}

Status FuzzHttpVllm(std::string_view data) {
  return Post(data, {"/generate", "/tokenize", "/detokenize"});
}

Status FuzzHttpTgi(std::string_view data) {
  return Post(data, {"/", "/generate", "/generate_stream"});
}

Status FuzzHttpTriton(std::string_view data) {
  return Post(data, {"/v2/models/stories260K/generate", "/v2/models/stories260K/generate_stream",
                     "/v2/models/stories260K/infer", "/v2/models/stories260K/stopInfer"});
}

Status FuzzHttpNative(std::string_view data) {
  return Post(data, {"/infer", "/infer_token", "/v1/tokenizer"});
}

}  // namespace mies::fuzz
