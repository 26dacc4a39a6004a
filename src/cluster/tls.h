// gRPC credentials of the inter-node control plane: mutual TLS (interNodeTLSEnabled) or, with a
// warning logged once, plaintext.
//
// gRPC 1.51 specifics handled here: it takes no key password (the key is decrypted in memory by
// certs::LoadPlainPrivateKey and handed over as PEM), and it reads CRLs only from a directory of
// OpenSSL-hashed names (<issuer hash>.r<n>) where a CRL whose issuer matches nothing is silently
// ignored: revocation would fail open. So the hashed directory is built here from the
// configured CRL files, each of which must parse and be issued (name and signature) by one of
// the configured CAs, or startup fails naming the file.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "certs/plane.h"
#include "common/status.h"

namespace mies::cluster {

struct TlsSettings {
  bool enabled = false;
  certs::PlaneMaterial material;  // plane kInterNode; absolute paths
  // Run the certs library's checks over our own material at startup (file rules, key match,
  // chain, validity, CRLs). Tests turn this off to show that the *peer* refuses bad material.
  bool check_local_material = true;
  bool apply_file_rules = true;
  // Test only: a client with TLS but without a certificate (must be refused by the master).
  bool omit_identity = false;
};

class TlsContext {
 public:
  static StatusOr<std::unique_ptr<TlsContext>> Prepare(const TlsSettings& settings);
  ~TlsContext();

  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;
  std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials() const;
  bool enabled() const { return enabled_; }
  const std::string& crl_directory() const { return crl_dir_; }

 private:
  TlsContext() = default;
  bool enabled_ = false;
  bool omit_identity_ = false;
  std::string ca_pem_, cert_pem_;
  std::string key_pem_;  // plain key, wiped on destruction
  std::string crl_dir_;  // our hashed CRL directory (removed on destruction), "" when no CRLs
};

// Routes gRPC's own log lines (handshake failures name the peer and the verify error) into the
// mies log. Idempotent.
void RouteGrpcLogging();

}  // namespace mies::cluster
