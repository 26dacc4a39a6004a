// Small RAII layer over OpenSSL 3 for the certificate tool: owning pointers for the objects we
// load, PEM loaders that return every object of a file, the library's error queue as text, and
// a string that wipes itself (for passwords and plain private keys, which must stay in memory).
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mies::certs {

struct X509Deleter {
  void operator()(X509* p) const { X509_free(p); }
};
struct X509CrlDeleter {
  void operator()(X509_CRL* p) const { X509_CRL_free(p); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using X509CrlPtr = std::unique_ptr<X509_CRL, X509CrlDeleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// A std::string whose bytes are cleansed (OPENSSL_cleanse) when it is destroyed or replaced.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string value) : value_(std::move(value)) {}
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  SecretString(SecretString&& other) noexcept;
  SecretString& operator=(SecretString&& other) noexcept;
  ~SecretString();

  const std::string& str() const { return value_; }
  bool empty() const { return value_.empty(); }

 private:
  void Wipe();
  std::string value_;
};

// Drains OpenSSL's error queue into one line ("" when empty).
std::string TakeOpenSslErrors();

// Every certificate in a PEM text. Error when the text holds none or a block does not parse.
StatusOr<std::vector<X509Ptr>> ParseCertificatesPem(std::string_view pem);
// Every CRL in a PEM text. Error when the text holds none or a block does not parse.
StatusOr<std::vector<X509CrlPtr>> ParseCrlsPem(std::string_view pem);

// Whether a PEM private key is encrypted (PKCS#8 "ENCRYPTED PRIVATE KEY" or a traditional key
// with "Proc-Type: 4,ENCRYPTED").
bool IsEncryptedKeyPem(std::string_view pem);

// Parses a private key. `password` is used only when the key is encrypted; an encrypted key
// without a password, or with the wrong one, is an error that says so.
StatusOr<EvpPkeyPtr> ParsePrivateKeyPem(std::string_view pem,
                                        const std::optional<SecretString>& password);

// The key as unencrypted PKCS#8 PEM, for consumers that cannot take a password (gRPC).
StatusOr<SecretString> PlainPrivateKeyPem(EVP_PKEY* key);

// Reads a password file: its content up to the first line break (MindIE writes one line).
StatusOr<SecretString> ReadPasswordFile(const std::string& path);

// "CN=server,O=mies" style one-line subject / issuer.
std::string NameOneLine(const X509_NAME* name);
std::string SubjectOf(const X509* cert);

// ASN1_TIME to time_t (UTC) and to "2027-01-31 12:00:00 UTC".
std::optional<std::time_t> AsnTimeToTimeT(const ASN1_TIME* t);
std::string FormatUtc(std::time_t t);

// "RSA 3072 bits", "EC prime256v1 (256 bits)", "ED25519".
std::string DescribeKey(const EVP_PKEY* key);

}  // namespace mies::certs
