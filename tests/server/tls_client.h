// A blocking TLS client over an already connected socket (OpenSSL), for tests that must hold
// raw TCP connections first (maxLinkNum) and speak TLS on some of them afterwards.
#pragma once

#include <chrono>
#include <string>

namespace mies::server::testing {

struct TlsClientFiles {
  std::string ca;    // trusted server CA
  std::string cert;  // client certificate (empty: none)
  std::string key;
};

// Handshakes on `fd` (TLS 1.2+, server name not checked), sends `request` and reads until the
// server closes or `timeout` passes. The raw response; "" and `error` set when the handshake or
// the send failed. Does not close `fd`.
std::string TlsExchange(int fd, const TlsClientFiles& files, const std::string& request,
                        std::chrono::milliseconds timeout, std::string* error);

}  // namespace mies::server::testing
