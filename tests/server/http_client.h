// A tiny blocking HTTP/1.1 client over raw sockets for the process tests: whole exchanges, and
// the abuse cases a library client would refuse to send (slow headers, header floods, huge
// bodies, many idle connections).
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace mies::server::testing {

struct Reply {
  int status = 0;       // 0: no HTTP answer (refused, reset, closed)
  std::string headers;  // raw header block
  std::string body;     // de-chunked
};

// Connects with a timeout; -1 on failure.
int Connect(const std::string& ip, int port);
bool SendAll(int fd, const std::string& bytes);
// Reads until the peer closes or `timeout` passes.
std::string ReadAll(int fd, std::chrono::milliseconds timeout);
// Parses a raw response (chunked bodies are joined).
Reply Parse(const std::string& raw);
// One request with Connection: close.
Reply Request(const std::string& ip, int port, const std::string& method, const std::string& path,
              const std::string& body = "",
              std::chrono::milliseconds timeout = std::chrono::seconds(60),
              const std::string& extra_headers = "");

}  // namespace mies::server::testing
