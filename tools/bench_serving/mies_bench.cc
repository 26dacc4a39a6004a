// mies-bench: a serving benchmark client in the style of vLLM's benchmark_serving. Sends N
// streaming /v1/completions requests at concurrency C to any OpenAI-compatible server (prompts
// are random token ids of a fixed length, outputs forced to a fixed length with ignore_eos) and
// reports request/s, output tokens/s, TTFT and inter-token latency percentiles.
//
//   mies-bench --url http://127.0.1.1:1025/v1 --model stories260K -n 64 -c 8
//              --input-len 32 --output-len 64
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Target {
  std::string host;
  int port = 80;
  std::string prefix;  // e.g. "/v1"
};

bool ParseUrl(const std::string& url, Target* t) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  t->prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!t->prefix.empty() && t->prefix.back() == '/') t->prefix.pop_back();
  size_t colon = hostport.rfind(':');
  t->host = hostport.substr(0, colon);
  if (colon != std::string::npos) t->port = std::stoi(hostport.substr(colon + 1));
  return true;
}

int Connect(const Target& t) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(t.host.c_str(), std::to_string(t.port).c_str(), &hints, &res) != 0) return -1;
  int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return fd;
}

struct Result {
  bool ok = false;
  std::string error;
  double ttft = 0;
  double e2e = 0;
  std::vector<double> itl;  // seconds between content events
  int64_t output_tokens = 0;
};

// One streaming completion; parses the chunked SSE as it arrives to time each event.
Result RunOne(const Target& t, const std::string& model, const std::vector<int>& prompt,
              int output_len) {
  Result r;
  json body = {{"model", model},
               {"prompt", prompt},
               {"max_tokens", output_len},
               {"temperature", 0},
               {"ignore_eos", true},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  std::string payload = body.dump();
  std::string req = "POST " + t.prefix + "/completions HTTP/1.1\r\nHost: " + t.host +
                    "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                    std::to_string(payload.size()) + "\r\n\r\n" + payload;
  auto start = Clock::now();
  int fd = Connect(t);
  if (fd < 0) {
    r.error = "connect failed";
    return r;
  }
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    close(fd);
    r.error = "send failed";
    return r;
  }
  std::string buf;  // raw bytes not yet consumed
  bool headers_done = false;
  std::string sse;  // de-chunked SSE text not yet consumed
  auto last = start;
  bool first = true;
  char tmp[16384];
  for (;;) {
    ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) break;
    auto now = Clock::now();
    buf.append(tmp, static_cast<size_t>(n));
    if (!headers_done) {
      size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      if (buf.compare(0, 12, "HTTP/1.1 200") != 0) {
        r.error = buf.substr(0, buf.find("\r\n"));
        close(fd);
        return r;
      }
      headers_done = true;
      buf.erase(0, end + 4);
    }
    // De-chunk what is complete.
    for (;;) {
      size_t line = buf.find("\r\n");
      if (line == std::string::npos) break;
      size_t len = std::stoul(buf.substr(0, line), nullptr, 16);
      if (buf.size() < line + 2 + len + 2) break;
      sse.append(buf, line + 2, len);
      buf.erase(0, line + 2 + len + 2);
    }
    size_t ev;
    while ((ev = sse.find("\n\n")) != std::string::npos) {
      std::string event = sse.substr(0, ev);
      sse.erase(0, ev + 2);
      if (event.rfind("data: ", 0) != 0) continue;
      std::string data = event.substr(6);
      if (data == "[DONE]") {
        r.ok = true;
        continue;
      }
      json j = json::parse(data, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("usage") && j["usage"].is_object()) {
        r.output_tokens = j["usage"].value("completion_tokens", 0);
      }
      bool content = false;
      if (j.contains("choices")) {
        for (const auto& c : j["choices"]) {
          if (c.contains("text") && c["text"].is_string() &&
              !c["text"].get<std::string>().empty()) {
            content = true;
          }
        }
      }
      if (!content) continue;
      double since = std::chrono::duration<double>(now - (first ? start : last)).count();
      if (first) {
        r.ttft = since;
        first = false;
      } else {
        r.itl.push_back(since);
      }
      last = now;
    }
  }
  close(fd);
  r.e2e = std::chrono::duration<double>(Clock::now() - start).count();
  if (!r.ok && r.error.empty()) r.error = "stream ended without [DONE]";
  return r;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double idx = p / 100.0 * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(idx);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mies-bench: serving benchmark against an OpenAI-compatible /v1/completions"};
  std::string url = "http://127.0.0.1:1025/v1", model = "stories260K";
  int num = 64, concurrency = 8, input_len = 32, output_len = 64, vocab_low = 10, vocab_high = 250;
  unsigned seed = 0;
  bool json_out = false;
  app.add_option("--url", url, "base URL (http only), e.g. http://127.0.1.1:1025/v1");
  app.add_option("--model", model, "model name");
  app.add_option("-n,--num-requests", num, "requests in total")->check(CLI::PositiveNumber);
  app.add_option("-c,--concurrency", concurrency, "requests in flight")->check(CLI::PositiveNumber);
  app.add_option("--input-len", input_len, "prompt tokens")->check(CLI::PositiveNumber);
  app.add_option("--output-len", output_len, "output tokens")->check(CLI::PositiveNumber);
  app.add_option("--token-range", vocab_low, "lowest random prompt id");
  app.add_option("--token-high", vocab_high, "one past the highest random prompt id");
  app.add_option("--seed", seed, "prompt RNG seed");
  app.add_flag("--json", json_out, "print one JSON object instead of a table");
  CLI11_PARSE(app, argc, argv);
  Target target;
  if (!ParseUrl(url, &target)) {
    std::fprintf(stderr, "mies-bench: --url must look like http://host:port/v1, got %s\n",
                 url.c_str());
    return 2;
  }
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(vocab_low, vocab_high - 1);
  std::vector<std::vector<int>> prompts(static_cast<size_t>(num));
  for (auto& p : prompts) {
    p.resize(static_cast<size_t>(input_len));
    for (auto& id : p) id = dist(rng);
  }
  std::vector<Result> results(static_cast<size_t>(num));
  std::atomic<int> next{0};
  auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < concurrency; ++w) {
    workers.emplace_back([&] {
      for (int i; (i = next++) < num;) {
        results[static_cast<size_t>(i)] =
            RunOne(target, model, prompts[static_cast<size_t>(i)], output_len);
      }
    });
  }
  for (auto& t : workers) t.join();
  double wall = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> ttft, itl, e2e;
  int64_t tokens = 0;
  int ok = 0;
  std::string first_error;
  for (const auto& r : results) {
    if (!r.ok) {
      if (first_error.empty()) first_error = r.error;
      continue;
    }
    ++ok;
    tokens += r.output_tokens;
    ttft.push_back(r.ttft * 1000);
    e2e.push_back(r.e2e * 1000);
    for (double x : r.itl) itl.push_back(x * 1000);
  }
  json report = {
      {"requests", num},
      {"succeeded", ok},
      {"concurrency", concurrency},
      {"input_len", input_len},
      {"output_len", output_len},
      {"duration_s", wall},
      {"request_per_s", ok / wall},
      {"output_tok_per_s", static_cast<double>(tokens) / wall},
      {"ttft_ms",
       {{"p50", Percentile(ttft, 50)},
        {"p90", Percentile(ttft, 90)},
        {"p99", Percentile(ttft, 99)}}},
      {"itl_ms",
       {{"p50", Percentile(itl, 50)}, {"p90", Percentile(itl, 90)}, {"p99", Percentile(itl, 99)}}},
      {"e2e_ms",
       {{"p50", Percentile(e2e, 50)}, {"p90", Percentile(e2e, 90)}, {"p99", Percentile(e2e, 99)}}}};
  if (json_out) {
    std::printf("%s\n", report.dump().c_str());
  } else {
    std::printf("requests %d ok %d  concurrency %d  input %d  output %d  duration %.2f s\n", num,
                ok, concurrency, input_len, output_len, wall);
    std::printf("request/s %.2f  output tok/s %.1f\n", ok / wall,
                static_cast<double>(tokens) / wall);
    std::printf("TTFT ms  p50 %.2f  p90 %.2f  p99 %.2f\n", Percentile(ttft, 50),
                Percentile(ttft, 90), Percentile(ttft, 99));
    std::printf("ITL  ms  p50 %.3f  p90 %.3f  p99 %.3f\n", Percentile(itl, 50), Percentile(itl, 90),
                Percentile(itl, 99));
    std::printf("E2E  ms  p50 %.1f  p90 %.1f  p99 %.1f\n", Percentile(e2e, 50), Percentile(e2e, 90),
                Percentile(e2e, 99));
  }
  if (ok < num) {
    std::fprintf(stderr, "mies-bench: %d of %d requests failed; first: %s\n", num - ok, num,
                 first_error.c_str());
    return 1;
  }
  return 0;
}
