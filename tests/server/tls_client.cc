#include "server/tls_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <memory>

namespace mies::server::testing {

namespace {

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error queued" : out;
}

}  // namespace

std::string TlsExchange(int fd, const TlsClientFiles& files, const std::string& request,
                        std::chrono::milliseconds timeout, std::string* error) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  if (!ctx || SSL_CTX_load_verify_locations(ctx.get(), files.ca.c_str(), nullptr) != 1) {
    *error = "CA " + files.ca + ": " + OpenSslErrors();
    return "";
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!files.cert.empty() &&
      (SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert.c_str()) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx.get(), files.key.c_str(), SSL_FILETYPE_PEM) != 1)) {
    *error = "client certificate " + files.cert + ": " + OpenSslErrors();
    return "";
  }
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  if (SSL_connect(ssl.get()) != 1) {
    *error = "handshake: " + OpenSslErrors();
    return "";
  }
  size_t written = 0;
  if (SSL_write_ex(ssl.get(), request.data(), request.size(), &written) != 1 ||
      written != request.size()) {
    *error = "write: " + OpenSslErrors();
    return "";
  }
  std::string out;
  char buf[16384];
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    size_t n = 0;
    if (SSL_read_ex(ssl.get(), buf, sizeof(buf), &n) != 1) break;  // closed, timeout or error
    out.append(buf, n);
  }
  ERR_clear_error();
  return out;
}

}  // namespace mies::server::testing
