// Test material for the certificate tests, made at test time (no private key is committed):
// scripts/gen-certs.sh runs once per build tree (cached, see test_pki.cc) for the CA, server, node
// and client material, and certificates with special properties (expired, wrong SAN, RSA 2048, ...)
// and CRLs are minted here with the OpenSSL API, signed by those CAs.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "certs/ossl.h"

namespace mies::certs::testing {

// A directory removed (recursively) when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes `content` to `path` with `mode`; fails the test on error.
void WriteFile(const std::string& path, const std::string& content, mode_t mode = 0600);
std::string ReadFile(const std::string& path);

struct CertSpec {
  std::string cn = "mies test leaf";
  EVP_PKEY* key = nullptr;  // subject key
  X509* issuer = nullptr;   // nullptr: self-signed with `key`
  EVP_PKEY* issuer_key = nullptr;
  long not_before_s = -3600;  // relative to now
  long not_after_s = 365L * 86400;
  std::string san = "IP:127.0.0.1,IP:127.0.1.1,DNS:localhost";  // "" for none
  std::string eku = "serverAuth";                               // "" for none
  bool ca = false;
};

// The material of one gen-certs.sh run, loaded.
struct Pki {
  std::string dir;  // gen-certs.sh output
  X509Ptr ca, foreign_ca, server, node, client;
  EvpPkeyPtr ca_key, foreign_ca_key, server_key, node_key, client_key;

  std::string File(const std::string& name) const { return dir + "/" + name; }
};

// gen-certs.sh material (about 7 RSA 3072 keys), made on first use in the build tree.
const Pki& SharedPki();

EvpPkeyPtr GenerateRsa(int bits);
EvpPkeyPtr GenerateEc(const char* curve);  // "P-256", "P-224", ...

X509Ptr MintCert(const CertSpec& spec);
std::string CertPem(const X509* cert);
std::string KeyPem(const EVP_PKEY* key);
std::string EncryptedKeyPem(const EVP_PKEY* key, const std::string& password);
// The pre-PKCS#8 form ("Proc-Type: 4,ENCRYPTED"), as older MindIE deployments made.
std::string TraditionalEncryptedKeyPem(const EVP_PKEY* key, const std::string& password);
// A CRL of `issuer` listing `revoked`, lastUpdate/nextUpdate relative to now.
std::string MintCrlPem(const X509* issuer, EVP_PKEY* issuer_key, const std::vector<X509*>& revoked,
                       long last_update_s = -3600, long next_update_s = 7L * 86400);

}  // namespace mies::certs::testing
