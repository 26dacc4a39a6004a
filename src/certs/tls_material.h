// Hands a checked plane's material to a TLS stack: PEM strings for APIs that take data
// (gRPC's StaticDataCertificateProvider, SSL_CTX from memory), with the private key decrypted in
// memory only, and the hashed CRL directory that gRPC 1.51 / OpenSSL's by_dir lookup reads.
#pragma once

#include <string>
#include <vector>

#include "certs/ossl.h"
#include "certs/plane.h"
#include "common/status.h"

namespace mies::certs {

struct PlanePem {
  std::string ca_bundle;          // every CA file, concatenated
  std::string cert_chain;         // the certificate file (leaf first)
  SecretString private_key;       // unencrypted PKCS#8 PEM; wiped when destroyed
  std::vector<std::string> crls;  // one PEM text per CRL file
};

// Runs CheckPlaneMaterial first, so nothing unchecked reaches a TLS stack.
StatusOr<PlanePem> LoadPlanePem(const PlaneMaterial& material, const CheckOptions& options = {});

// Writes every CRL of `crl_files` into `dir` as <issuer-hash>.r<n> (the names `openssl rehash`
// gives), creating `dir` (0700) when missing and replacing earlier .r files. Returns the names
// written. gRPC fails open when no CRL matches a peer's issuer, so callers should compare the
// issuers with their CAs (CheckCrl does) before relying on this directory.
StatusOr<std::vector<std::string>> WriteHashedCrlDir(const std::vector<std::string>& crl_files,
                                                     const std::string& dir);

}  // namespace mies::certs
