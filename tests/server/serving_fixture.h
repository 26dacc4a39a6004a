// A ServingContext as the daemon builds it, without sockets: the real stories260K tokenizer, a
// small chat template, real metrics and a FakeEngine, with a Router over them; helpers send
// requests through the router and build engine outputs.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/fake_engine.h"
#include "server/metrics.h"
#include "server/router.h"

namespace mies::server::testing {

inline constexpr unsigned kAllPlanes = kServicePlane | kManagementPlane | kMetricsPlane;

class ServingFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tok = tokenizer::Tokenizer::Load(std::string(MIES_SHARED_DIR) + "/models/stories260K");
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = std::move(*tok);
    auto tmpl = jinja::ChatTemplate::FromString(
        "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if tools %}tools: {{ tools | length }}\n{% endif %}"
        "{% if add_generation_prompt %}assistant:{% endif %}",
        {{"bos_token", "<s>"}});
    ASSERT_TRUE(tmpl.ok()) << tmpl.status();
    template_.emplace(std::move(*tmpl));
    metrics_ = std::make_unique<Metrics>("stories260K");
    ctx_.model.name = "stories260K";
    ctx_.model.weight_path = "/models/stories260K";
    ctx_.model.vocab_size = tokenizer_->vocab_size();
    ctx_.model.max_batch_size = 16;
    ctx_.model.max_prefill_batch_size = 16;
    ctx_.model.max_n = 8;
    ctx_.tokenizer = tokenizer_.get();
    ctx_.chat_template = &*template_;
    ctx_.engine = &engine_;
    ctx_.metrics = metrics_.get();
    router_ = std::make_unique<Router>(&ctx_);
  }

  RouteResult Send(const std::string& method, const std::string& path, const std::string& body,
                   unsigned planes = kAllPlanes, const std::string& query = "") {
    HttpRequest req;
    req.method = method;
    req.path = path;
    req.query = query;
    req.body = body;
    return router_->Handle(req, planes, "127.0.0.1:1");
  }
  RouteResult Post(const std::string& path, const std::string& body) {
    return Send("POST", path, body);
  }
  RouteResult Get(const std::string& path, const std::string& query = "") {
    return Send("GET", path, "", kAllPlanes, query);
  }

  std::vector<int32_t> Encode(const std::string& text, bool special) {
    auto ids = tokenizer_->Encode(text, special);
    return std::vector<int32_t>(ids->begin(), ids->end());
  }

  // An output with one event per (index, ids, text) and an optional finish.
  static engine::RequestOutput Out(int index, std::vector<int32_t> ids, std::string text,
                                   engine::FinishReason finish = engine::FinishReason::kNone,
                                   bool finished = false, int64_t completion = 0) {
    engine::RequestOutput out;
    engine::SequenceEvent ev;
    ev.index = index;
    ev.new_token_ids = std::move(ids);
    ev.text_delta = std::move(text);
    ev.finish = finish;
    out.events.push_back(ev);
    out.finished = finished;
    out.usage.completion_tokens = completion;
    return out;
  }

  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::optional<jinja::ChatTemplate> template_;
  std::unique_ptr<Metrics> metrics_;
  FakeEngine engine_;
  ServingContext ctx_;
  std::unique_ptr<Router> router_;
};

}  // namespace mies::server::testing
