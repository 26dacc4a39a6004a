// The HTTP/HTTPS listeners of the three planes (Boost.Beast, C++20 coroutines, a few threads):
// limits (maxLinkNum, body size, header size, read/idle timeouts), mutual TLS with CRLs (reloaded
// when a CRL file changes), chunked/SSE streaming, cancel-on-disconnect, and graceful
// /stopService. Requests are routed through Router; a generation runs through GenerationStream
// (engine, token/e2e deadlines, metrics), which reaches the engine through EngineInterface only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "server/router.h"

namespace mies::server {

struct TlsSettings {
  std::vector<std::string> ca_files;  // absolute paths; client certificates must chain to one
  std::string cert_file;
  std::string key_file;
  std::string key_password_file;       // empty: the key is not encrypted
  std::vector<std::string> crl_files;  // revoked client certificates are refused
  std::string min_version = "1.3";     // "1.2" or "1.3"
};

struct ListenerSpec {
  std::string ip;
  int port = 0;
  unsigned planes = 0;  // PlaneBits
  std::optional<TlsSettings> tls;

  std::string Address() const;  // "ip:port" ("[v6]:port")
};

// The listeners a configuration asks for, with MindIE's merge rules: planes whose address and
// port coincide share one listener; the service plane binds ipAddress:port, management
// managementIpAddress:managementPort and metrics managementIpAddress:metricsPort. Each listener
// takes the TLS material of its first plane (service, then management, then metrics).
StatusOr<std::vector<ListenerSpec>> PlanListeners(const config::Config& config);

struct HttpServerOptions {
  int threads = 2;
  int max_connections = 1000;                     // per listener (maxLinkNum)
  size_t max_body_bytes = 40u << 20;              // maxRequestLength MB
  size_t max_header_bytes = 64u << 10;            // whole header section
  std::chrono::milliseconds read_timeout{60000};  // one whole request, and keep-alive idle
  std::chrono::milliseconds write_timeout{600000};
  std::chrono::seconds token_timeout{600};
  std::chrono::seconds e2e_timeout{600};
  // How often, at most, a TLS handshake checks whether a CRL file changed on disk.
  std::chrono::milliseconds crl_check_interval{1000};
  // Called (from an I/O thread) after /stopService answered: graceful or forced.
  std::function<void(ServiceAction)> on_stop;
};

class HttpServer {
 public:
  // Binds every listener (an error names the address that could not be bound) and starts the
  // I/O threads.
  static StatusOr<std::unique_ptr<HttpServer>> Start(Router* router,
                                                     std::vector<ListenerSpec> listeners,
                                                     HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Cancels live generations, closes listeners and connections, joins the threads.
  void Stop();
  // Generations submitted to the engine and not finished yet.
  int active_generations() const;
  // Bound ports (useful when a spec asked for port 0).
  std::vector<int> ports() const;

  struct State;

 private:
  HttpServer() = default;
  std::shared_ptr<State> state_;
};

}  // namespace mies::server
