#include "load/load_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "server/http_client.h"

namespace mies::load {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace http = ::mies::server::testing;

std::string CompletionBody(const Target& t, const Prompts& p, const Request& r) {
  json body = {{"model", t.model}, {"prompt", p.text(r.tag)}, {"max_tokens", r.max_tokens}};
  if (r.kind != Kind::kPlain) body["stream"] = true;
  // A cancelled stream must still be running when we hang up.
  if (r.kind == Kind::kCancel || r.kind == Kind::kAbandon) body["ignore_eos"] = true;
  if (r.sample) {
    body["temperature"] = 0.8;
    body["top_p"] = 0.9;
    body["seed"] = r.seed;
  } else {
    body["temperature"] = 0;
  }
  return body.dump();
}

std::string PostBytes(const Target& t, const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: " + t.ip +
         "\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// An error answer is "clear" when it has a status and a JSON body naming the error.
Result ClassifyError(const http::Reply& reply) {
  json body = json::parse(reply.body, nullptr, false);
  if (body.is_discarded() || !body.contains("error")) {
    return {Outcome::kMismatch, "status " + std::to_string(reply.status) +
                                    " without a JSON error body: " + reply.body.substr(0, 200)};
  }
  if (reply.status == 503 && reply.body.find("maxLinkNum") != std::string::npos) {
    return {Outcome::kRefused, ""};
  }
  return {Outcome::kHttpError, std::to_string(reply.status) + " " + reply.body.substr(0, 200)};
}

// Checks the usage and finish of one answer against the request; empty when it matches.
std::string CheckUsage(const json& usage, const Prompts& p, const Request& r) {
  if (!usage.is_object()) return "no usage";
  int64_t prompt = usage.value("prompt_tokens", int64_t{-1});
  int64_t completion = usage.value("completion_tokens", int64_t{-1});
  if (prompt != p.tokens(r.tag)) {
    return "prompt_tokens " + std::to_string(prompt) + " but the request (tag " +
           std::to_string(r.tag) + ") has " + std::to_string(p.tokens(r.tag)) +
           ": an answer for another request";
  }
  if (completion < 1 || completion > r.max_tokens) {
    return "completion_tokens " + std::to_string(completion) + " outside [1, " +
           std::to_string(r.max_tokens) + "]";
  }
  return "";
}

// A streaming body: text_completion chunks, one of them finished with usage, then [DONE] last.
Result CheckStream(const std::string& body, const Prompts& p, const Request& r, std::string* id) {
  size_t done = 0, finished = 0, events = 0;
  std::string usage_error = "no usage on the finishing chunk";
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) return {Outcome::kTruncated, "partial SSE event at the end"};
    std::string ev = body.substr(pos, end - pos);
    pos = end + 2;
    if (ev.rfind("data: ", 0) != 0) return {Outcome::kMismatch, "not an SSE data event: " + ev};
    std::string data = ev.substr(6);
    if (done > 0) return {Outcome::kDuplicate, "events after [DONE]"};
    if (data == "[DONE]") {
      ++done;
      continue;
    }
    ++events;
    json j = json::parse(data, nullptr, false);
    if (j.is_discarded()) return {Outcome::kMismatch, "event is not JSON: " + data};
    if (j.contains("error")) return {Outcome::kHttpError, "error event: " + data};
    std::string this_id = j.value("id", "");
    if (this_id.empty()) return {Outcome::kMismatch, "chunk without id"};
    if (id->empty()) *id = this_id;
    if (this_id != *id) return {Outcome::kMismatch, "two completion ids in one stream"};
    if (!j["choices"].is_array() || j["choices"].size() != 1) {
      return {Outcome::kMismatch, "chunk without exactly one choice: " + data};
    }
    if (!j["choices"][0]["finish_reason"].is_null()) {
      ++finished;
      usage_error = CheckUsage(j["usage"], p, r);
    }
  }
  if (done == 0) return {Outcome::kTruncated, "no [DONE]"};
  if (finished != 1) {
    return {Outcome::kMismatch, std::to_string(finished) + " finishing chunks in " +
                                    std::to_string(events) + " events"};
  }
  if (!usage_error.empty()) return {Outcome::kMismatch, usage_error};
  return {Outcome::kOk, ""};
}

Result CheckPlain(const std::string& body, const Prompts& p, const Request& r, std::string* id) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return {Outcome::kTruncated, "body is not JSON: " + body.substr(0, 200)};
  *id = j.value("id", "");
  if (id->empty() || j.value("object", "") != "text_completion") {
    return {Outcome::kMismatch, "not a text_completion: " + body.substr(0, 200)};
  }
  if (!j["choices"].is_array() || j["choices"].size() != 1 ||
      !j["choices"][0]["finish_reason"].is_string()) {
    return {Outcome::kMismatch, "choices: " + body.substr(0, 200)};
  }
  if (auto e = CheckUsage(j["usage"], p, r); !e.empty()) return {Outcome::kMismatch, e};
  return {Outcome::kOk, ""};
}

// Closes with an RST instead of a FIN: the other way a client vanishes.
void Reset(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

Result RunOne(const Target& t, const Prompts& p, const Request& r, std::string* id) {
  int fd = http::Connect(t.ip, t.port);
  if (fd < 0) return {Outcome::kLost, "connect failed"};
  if (!http::SendAll(fd, PostBytes(t, "/v1/completions", CompletionBody(t, p, r)))) {
    close(fd);
    return {Outcome::kLost, "send failed"};
  }
  if (r.kind == Kind::kAbandon) {
    if (r.seed % 2)
      Reset(fd);
    else
      close(fd);
    return {Outcome::kAbandoned, ""};
  }
  std::string raw;
  auto until = Clock::now() + t.timeout;
  char buf[16384];
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
    if (r.kind == Kind::kCancel && raw.rfind("HTTP/1.1 200", 0) == 0 &&
        raw.find("\"text\":\"", raw.find("\r\n\r\n")) != std::string::npos) {
      if (r.seed % 2)
        Reset(fd);
      else
        close(fd);
      return {Outcome::kCancelled, ""};
    }
  }
  close(fd);
  if (raw.empty())
    return {Outcome::kLost,
            timed_out ? "no answer before the timeout" : "closed without an answer"};
  if (raw.find("HTTP/1.", 1) != std::string::npos)
    return {Outcome::kDuplicate, "two HTTP answers on one connection"};
  http::Reply reply = http::Parse(raw);
  if (reply.status == 0)
    return {Outcome::kTruncated, "no complete HTTP head: " + raw.substr(0, 200)};
  if (reply.status != 200) return ClassifyError(reply);
  Result res =
      r.kind == Kind::kPlain ? CheckPlain(reply.body, p, r, id) : CheckStream(reply.body, p, r, id);
  // A planned cancel whose stream finished before the first text chunk reached us is fine too.
  if (r.kind == Kind::kCancel && res.outcome == Outcome::kOk) res.outcome = Outcome::kCancelled;
  if (timed_out && res.outcome == Outcome::kOk) res = {Outcome::kTruncated, "timed out"};
  return res;
}

int64_t ReadVmRss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

int64_t CountFds(pid_t pid) {
  std::error_code ec;
  int64_t n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : n;
}

}  // namespace

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kCancelled:
      return "cancelled";
    case Outcome::kAbandoned:
      return "abandoned";
    case Outcome::kRefused:
      return "refused_503";
    case Outcome::kHttpError:
      return "http_error";
    case Outcome::kLost:
      return "lost";
    case Outcome::kTruncated:
      return "truncated";
    case Outcome::kMismatch:
      return "mismatch";
    case Outcome::kDuplicate:
      return "duplicate";
    case Outcome::kCount:
      break;
  }
  return "?";
}

std::string Prompts::Build(const Target& t, int count) {
  texts_.clear();
  tokens_.clear();
  std::set<int64_t> seen;
  int64_t offset = 0;  // what the completion counts beyond /tokenize (a BOS token, say)
  for (int i = 0; i < count; ++i) {
    std::string text = "Once upon a time";
    for (int w = 0; w < i; ++w) text += " and";
    auto reply = http::Request(t.ip, t.port, "POST", "/tokenize",
                               json{{"model", t.model}, {"prompt", text}}.dump(), t.timeout);
    json j = json::parse(reply.body, nullptr, false);
    if (reply.status != 200 || j.is_discarded() || !j["tokens"].is_array()) {
      return "/tokenize answered " + std::to_string(reply.status) + ": " + reply.body;
    }
    int64_t n = static_cast<int64_t>(j["tokens"].size());
    if (i == 0) {
      auto c = http::Request(t.ip, t.port, "POST", "/v1/completions",
                             json{{"model", t.model}, {"prompt", text}, {"max_tokens", 1}}.dump(),
                             t.timeout);
      json cj = json::parse(c.body, nullptr, false);
      if (c.status != 200 || cj.is_discarded()) return "calibration completion failed: " + c.body;
      offset = cj["usage"].value("prompt_tokens", int64_t{0}) - n;
    }
    if (!seen.insert(n + offset).second) {
      return "prompt " + std::to_string(i) + " has as many tokens as an earlier one";
    }
    texts_.push_back(std::move(text));
    tokens_.push_back(n + offset);
  }
  return "";
}

Result Run(const Target& t, const Prompts& prompts, const Request& r) {
  std::string id;
  return RunOne(t, prompts, r, &id);
}

void RunAndCount(const Target& t, const Prompts& prompts, const Request& r, Tally* tally) {
  std::string id;
  Result res = RunOne(t, prompts, r, &id);
  tally->Add(res, id);
}

void Tally::Add(const Result& r, const std::string& id) {
  std::lock_guard lock(mu_);
  Result res = r;
  if (!id.empty() && !ids_.insert(id).second)
    res = {Outcome::kDuplicate, "completion id " + id + " seen twice"};
  ++counts_[static_cast<size_t>(res.outcome)];
  if (!res.detail.empty() && details_.size() < 20) {
    details_.push_back(std::string(OutcomeName(res.outcome)) + ": " + res.detail);
  }
}

int64_t Tally::count(Outcome o) const {
  std::lock_guard lock(mu_);
  return counts_[static_cast<size_t>(o)];
}

int64_t Tally::total() const {
  std::lock_guard lock(mu_);
  int64_t n = 0;
  for (auto c : counts_) n += c;
  return n;
}

int64_t Tally::failures() const {
  return count(Outcome::kLost) + count(Outcome::kTruncated) + count(Outcome::kMismatch) +
         count(Outcome::kDuplicate);
}

std::string Tally::Summary() const {
  std::ostringstream out;
  out << "requests=" << total();
  for (size_t i = 0; i < static_cast<size_t>(Outcome::kCount); ++i) {
    out << " " << OutcomeName(static_cast<Outcome>(i)) << "=" << count(static_cast<Outcome>(i));
  }
  return out.str();
}

std::vector<std::string> Tally::details() const {
  std::lock_guard lock(mu_);
  return details_;
}

Sample Probe(pid_t pid, const Target& metrics, const Target& management) {
  Sample s;
  s.rss_kib = ReadVmRss(pid);
  s.fds = CountFds(pid);
  auto m = http::Request(metrics.ip, metrics.port, "GET", "/metrics", "", std::chrono::seconds(30));
  std::istringstream lines(m.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("kv_blocks_used{", 0) == 0) {
      s.kv_blocks_used = static_cast<int64_t>(std::stod(line.substr(line.rfind(' ') + 1)));
    }
  }
  auto st = http::Request(management.ip, management.port, "GET", "/v1/status", "",
                          std::chrono::seconds(30));
  json j = json::parse(st.body, nullptr, false);
  if (!j.is_discarded() && j["resource"].is_object()) {
    s.running = j["resource"].value("runningRequestNum", int64_t{0}) +
                j["resource"].value("waitingRequestNum", int64_t{0});
  }
  return s;
}

std::string Format(const Sample& s) {
  std::ostringstream out;
  out << "rss=" << s.rss_kib / 1024 << "MiB fds=" << s.fds << " kv_blocks_used=" << s.kv_blocks_used
      << " in_engine=" << s.running;
  return out.str();
}

}  // namespace mies::load
