// What a route hands the transport when a request needs the engine: the engine request and the
// Formatter that turns its outputs into one API's bytes, streamed or as one body.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/request.h"
#include "server/http_message.h"

namespace mies::server {

// Why a stream ends before its final output, after its 200 header went out.
enum class StreamFailure { kTimeout, kEngineError };

// Turns a request's engine outputs into response bytes, in one API's framing.
class Formatter {
 public:
  virtual ~Formatter() = default;
  virtual bool stream() const = 0;
  virtual ErrorStyle error_style() const { return ErrorStyle::kMindIe; }
  // Stream: the bytes to send now for this output (may be empty). Non-stream: accumulates.
  virtual std::string OnOutput(const engine::RequestOutput& output) = 0;
  // After the final output. Stream: trailing bytes (e.g. "data: [DONE]\n\n"); non-stream: the
  // whole JSON body.
  virtual std::string Finish() = 0;
  // Content type of a streamed body.
  virtual std::string stream_content_type() const { return "text/event-stream"; }
  // The last bytes of a stream that failed (empty: none), before the transport closes it.
  // MindIE's framing: a timeout's message goes raw into the stream; a failed generation ends
  // without a frame.
  virtual std::string OnStreamError(StreamFailure failure, int /*status*/,
                                    const std::string& message) {
    return failure == StreamFailure::kTimeout ? message : "";
  }
};

struct GenerationJob {
  engine::GenerateRequest request;
  std::unique_ptr<Formatter> formatter;
  std::string public_id;         // id clients may pass to stopInfer
  std::optional<int> timeout_s;  // the request's own `timeout` parameter
  int64_t prompt_tokens = 0;
  // Added to whatever answers the job (the stream's header or the whole answer): CORS.
  std::vector<std::pair<std::string, std::string>> headers;
};

}  // namespace mies::server
