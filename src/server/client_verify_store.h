// The store a TLS listener verifies client certificates against: the plane's CA certificates
// and its CRLs. Operators revoke a client by replacing a CRL file, without a restart (MindIE
// re-reads CRLs on every handshake), so the CRL files are watched: on a handshake, at most once
// per `check_interval`, their stat stamps are compared with those the current store was built
// from; when one changed, a new store is built and later handshakes use it (handshakes already
// running keep theirs: each SSL holds a reference). A new CRL that fails MindIE's file rules,
// does not parse or fails the start-up CRL checks (signed by one of the plane's CAs, within
// lastUpdate..nextUpdate) leaves the current store in place and logs an error naming the file;
// it is retried once the file changes again.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "certs/ossl.h"
#include "common/status.h"

namespace mies::server {

class ClientVerifyStore {
 public:
  // Loads `ca_files` once and builds the first store from `crl_files` (which must not be empty).
  // `what` names the listener in log lines.
  static StatusOr<std::unique_ptr<ClientVerifyStore>> Create(
      std::string what, const std::vector<std::string>& ca_files,
      std::vector<std::string> crl_files, std::chrono::milliseconds check_interval);
  ~ClientVerifyStore();
  ClientVerifyStore(const ClientVerifyStore&) = delete;
  ClientVerifyStore& operator=(const ClientVerifyStore&) = delete;

  // Reloads when due and changed, then makes `ssl` (a connection before its handshake) verify
  // its peer against the current store. Thread-safe.
  void Apply(SSL* ssl);
  // The same without a connection (the SSL_CTX default, tests): a new reference to the current
  // store; the caller frees it with X509_STORE_free.
  X509_STORE* Current();
  // Successful rebuilds since start (not counting the first).
  int reloads() const;

 private:
  struct Stamp {
    bool exists = false;
    unsigned long long dev = 0, ino = 0, size = 0;
    long long mtime_ns = 0, ctime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };
  struct StoreDeleter {
    void operator()(X509_STORE* s) const { X509_STORE_free(s); }
  };
  using StorePtr = std::unique_ptr<X509_STORE, StoreDeleter>;

  ClientVerifyStore() = default;
  std::vector<Stamp> TakeStamps() const;
  StatusOr<StorePtr> Build() const;
  void MaybeReload();  // with mu_ held

  std::string what_;
  std::vector<certs::X509Ptr> cas_;
  std::vector<std::string> crl_files_;
  std::chrono::milliseconds interval_{1000};

  mutable std::mutex mu_;
  StorePtr current_;
  std::vector<Stamp> stamps_;  // of the last build attempt, good or bad
  std::chrono::steady_clock::time_point next_check_;
  int reloads_ = 0;
};

}  // namespace mies::server
