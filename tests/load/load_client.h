// The load and soak client: one blocking HTTP/1.1 connection per request (MindIE closes the
// connection after every generation), each request tagged so that its answer can be checked,
// every outcome counted by kind; and probes of the daemon's RSS, open fds and KV blocks in use.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace mies::load {

// What the client does with one request.
enum class Kind {
  kStream,   // streaming /v1/completions, read to [DONE]
  kPlain,    // non-streaming /v1/completions
  kCancel,   // streaming, closes the connection after the first text chunk
  kAbandon,  // sends the request and closes at once, before any answer
};

// What came of it. kOk..kRefused are acceptable; the rest are failures of the server.
enum class Outcome {
  kOk,         // complete, well-formed answer that belongs to this request
  kCancelled,  // we closed mid-stream as planned (or it finished before we could: also fine)
  kAbandoned,  // we closed before any answer, as planned
  kRefused,    // 503 "maxLinkNum reached" with an error body
  kHttpError,  // any other status with a JSON error body: a clear error, counted separately
  kLost,       // no HTTP answer at all (connect failed, reset, timed out)
  kTruncated,  // the stream ended without [DONE] / the body was cut
  kMismatch,   // an answer that is malformed or belongs to another request (wrong prompt length)
  kDuplicate,  // a completion id seen before, or two HTTP answers on one connection
  kCount
};
const char* OutcomeName(Outcome o);

struct Target {
  std::string ip;
  int port = 0;
  std::string model = "stories260K";
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
};

// Prompts whose token counts are all different, so that usage.prompt_tokens identifies the
// request an answer was computed for. Built by asking the daemon's /tokenize.
class Prompts {
 public:
  // Empty error string on success.
  std::string Build(const Target& t, int count);
  const std::string& text(int tag) const { return texts_[static_cast<size_t>(tag)]; }
  int64_t tokens(int tag) const { return tokens_[static_cast<size_t>(tag)]; }
  int size() const { return static_cast<int>(texts_.size()); }

 private:
  std::vector<std::string> texts_;
  std::vector<int64_t> tokens_;  // as the completion's usage.prompt_tokens reports them
};

struct Request {
  Kind kind = Kind::kStream;
  int tag = 0;  // prompt index
  int max_tokens = 16;
  bool sample = false;  // temperature 0.8 / top_p 0.9 with a seed instead of greedy
  uint64_t seed = 0;
};

struct Result {
  Outcome outcome = Outcome::kLost;
  std::string detail;  // why, for failures
};

// Runs one request to the end and checks the answer against the request.
Result Run(const Target& t, const Prompts& prompts, const Request& r);

// Thread-safe counts by outcome, the set of completion ids seen, and the first failures' details.
class Tally {
 public:
  // Records the result; a completion id that was seen before turns it into kDuplicate.
  void Add(const Result& r, const std::string& id);
  int64_t count(Outcome o) const;
  int64_t total() const;
  int64_t failures() const;  // kLost + kTruncated + kMismatch + kDuplicate
  std::string Summary() const;
  std::vector<std::string> details() const;

 private:
  mutable std::mutex mu_;
  std::array<int64_t, static_cast<size_t>(Outcome::kCount)> counts_{};
  std::set<std::string> ids_;
  std::vector<std::string> details_;
};

// Runs one request and adds it to the tally.
void RunAndCount(const Target& t, const Prompts& prompts, const Request& r, Tally* tally);

// The daemon's resources as /proc and /metrics see them.
struct Sample {
  int64_t rss_kib = -1;
  int64_t fds = -1;
  int64_t kv_blocks_used = -1;
  int64_t running = -1;  // requests running + waiting in the engine
};
Sample Probe(pid_t pid, const Target& metrics, const Target& management);
std::string Format(const Sample& s);

}  // namespace mies::load
