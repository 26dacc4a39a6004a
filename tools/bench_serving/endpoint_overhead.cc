// mies-bench-endpoint: the endpoint's own cost per generated token, without a model. An engine
// stand-in emits tokens as fast as it can (incrementally detokenized with the real tokenizer,
// as the engine does), and the per-token time is measured in three layers:
//   detokenize   IncrementalDetokenizer::Feed
//   format       + the OpenAI streaming formatter (JSON chunk per token)
//   http         + the real HTTP server, SSE over loopback, and a client reading every chunk
//
//   mies-bench-endpoint --model-dir ../shared/models/stories260K --tokens 20000
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/http_server.h"
#include "server/metrics.h"
#include "server/router.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace mies;

int32_t TokenAt(int64_t i, int vocab) { return static_cast<int32_t>(3 + (i * 7919) % (vocab - 3)); }

// Emits `max_tokens` tokens on its own thread, one output each, as fast as possible.
class InstantEngine : public engine::EngineInterface {
 public:
  explicit InstantEngine(const tokenizer::Tokenizer& tok) : tok_(tok) {}
  ~InstantEngine() override {
    for (auto& t : threads_) t.join();
  }
  Status Submit(engine::GenerateRequest req, engine::OutputSink sink) override {
    threads_.emplace_back([this, req = std::move(req), sink = std::move(sink)] {
      tokenizer::IncrementalDetokenizer detok(tok_);
      int64_t n = req.stop.max_tokens.value_or(16);
      for (int64_t i = 0; i < n; ++i) {
        engine::RequestOutput out;
        out.request_id = req.request_id;
        engine::SequenceEvent ev;
        ev.new_token_ids = {TokenAt(i, tok_.vocab_size())};
        ev.text_delta = detok.Feed(ev.new_token_ids[0]);
        if (i + 1 == n) {
          ev.finish = engine::FinishReason::kLength;
          out.finished = true;
          out.usage.prompt_tokens = static_cast<int64_t>(req.prompt_ids.size());
          out.usage.completion_tokens = n;
        }
        out.events.push_back(std::move(ev));
        sink(std::move(out));
      }
    });
    return OkStatus();
  }
  void Cancel(const std::string&) override {}
  engine::EngineStats Stats() const override { return {}; }

 private:
  const tokenizer::Tokenizer& tok_;
  std::vector<std::thread> threads_;
};

double NsPer(Clock::duration d, int64_t n) {
  return std::chrono::duration<double, std::nano>(d).count() / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mies-bench-endpoint: the HTTP endpoint's own cost per streamed token"};
  std::string model_dir = "../shared/models/stories260K";
  int64_t tokens = 20000;
  app.add_option("--model-dir", model_dir, "directory with tokenizer.json");
  app.add_option("--tokens", tokens, "tokens to stream")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  auto tok = tokenizer::Tokenizer::Load(model_dir);
  if (!tok.ok()) {
    std::fprintf(stderr, "mies-bench-endpoint: %s\n", std::string(tok.status().message()).c_str());
    return 1;
  }
  const int vocab = (*tok)->vocab_size();

  // 1. detokenize only.
  auto t0 = Clock::now();
  {
    tokenizer::IncrementalDetokenizer detok(**tok);
    size_t bytes = 0;
    for (int64_t i = 0; i < tokens; ++i) bytes += detok.Feed(TokenAt(i, vocab)).size();
    if (bytes == 0) std::fprintf(stderr, "(no text)\n");
  }
  double detok_ns = NsPer(Clock::now() - t0, tokens);

  InstantEngine engine(**tok);
  server::Metrics metrics("bench");
  server::ServingContext ctx;
  ctx.model.name = "bench";
  ctx.model.vocab_size = vocab;
  ctx.tokenizer = tok->get();
  ctx.engine = &engine;
  ctx.metrics = &metrics;
  server::Router router(&ctx);
  const std::string body = nlohmann::json{
      {"model", "bench"},
      {"prompt", {1, 2, 3}},
      {"max_tokens", tokens},
      {"stream", true}}.dump();

  // 2. detokenize + streaming formatter (what the server adds per token before the socket).
  {
    server::HttpRequest req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.body = body;
    auto r = router.Handle(req, server::kServicePlane, "bench");
    tokenizer::IncrementalDetokenizer detok(**tok);
    size_t bytes = 0;
    t0 = Clock::now();
    for (int64_t i = 0; i < tokens; ++i) {
      engine::RequestOutput out;
      engine::SequenceEvent ev;
      ev.new_token_ids = {TokenAt(i, vocab)};
      ev.text_delta = detok.Feed(ev.new_token_ids[0]);
      ev.finish = i + 1 == tokens ? engine::FinishReason::kLength : engine::FinishReason::kNone;
      out.finished = i + 1 == tokens;
      out.events.push_back(std::move(ev));
      bytes += r.job->formatter->OnOutput(out).size();
    }
    bytes += r.job->formatter->Finish().size();
    if (bytes == 0) std::fprintf(stderr, "(no bytes)\n");
  }
  double format_ns = NsPer(Clock::now() - t0, tokens);

  // 3. the whole HTTP path on loopback.
  server::ListenerSpec spec;
  spec.ip = "127.0.0.1";
  spec.port = 0;
  spec.planes = server::kServicePlane;
  server::HttpServerOptions opts;
  opts.threads = 1;
  auto http = server::HttpServer::Start(&router, {spec}, opts);
  if (!http.ok()) {
    std::fprintf(stderr, "mies-bench-endpoint: %s\n", std::string(http.status().message()).c_str());
    return 1;
  }
  int port = (*http)->ports()[0];
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 1;
  std::string req =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  t0 = Clock::now();
  send(fd, req.data(), req.size(), 0);
  std::string got;
  char buf[65536];
  ssize_t n;
  size_t events = 0;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
    got.append(buf, static_cast<size_t>(n));
  }
  double http_ns = NsPer(Clock::now() - t0, tokens);
  for (size_t pos = 0; (pos = got.find("data: ", pos)) != std::string::npos; ++pos) ++events;
  close(fd);
  (*http)->Stop();
  std::printf("tokens %lld  SSE events %zu  bytes %zu\n", static_cast<long long>(tokens), events,
              got.size());
  std::printf("per token: detokenize %.0f ns, +format %.0f ns, whole HTTP/SSE path %.0f ns\n",
              detok_ns, format_ns, http_ns);
  // Tokens that complete no text (held back by the detokenizer) send no event, so events <
  // tokens; a stream that did not end with [DONE] is a failure.
  bool done = got.find("data: [DONE]") != std::string::npos;
  if (!done) std::fprintf(stderr, "mies-bench-endpoint: the stream did not end with [DONE]\n");
  return done ? 0 : 1;
}
