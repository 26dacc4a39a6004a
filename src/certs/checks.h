// The certificate checks, one function per rule. Each returns one Finding: the file it is about,
// the rule, and what was actually found, so an operator reads one line per problem. They take
// already-parsed OpenSSL objects; plane.h runs them over the files of a plane.
#pragma once

#include <openssl/x509.h>

#include <ctime>
#include <span>
#include <string>
#include <string_view>

namespace mies::certs {

enum class Severity { kOk, kWarning, kError };
const char* SeverityName(Severity s);  // "ok", "warning", "error"

struct Finding {
  Severity severity = Severity::kOk;
  std::string file;    // the path as given (source file on import, resolved path on check)
  std::string check;   // short id: "parse", "key-strength", "key-match", "validity", ...
  std::string rule;    // what is required
  std::string actual;  // what was found

  bool ok() const { return severity == Severity::kOk; }
  // "error: <file>: <actual> (rule: <rule>)"; the rule part is left out when the actual text
  // already states it (file-rule messages from common/file_check).
  std::string Line() const;
};

Finding Ok(std::string file, std::string check, std::string rule, std::string actual);
Finding Warn(std::string file, std::string check, std::string rule, std::string actual);
Finding Error(std::string file, std::string check, std::string rule, std::string actual);

inline constexpr int kMinRsaBits = 3072;  // MindIE refuses smaller server keys
inline constexpr int kMinEcBits = 256;    // P-256 and larger curves
inline constexpr std::time_t kExpiryWarningSeconds = 30 * 24 * 3600;

// What the certificate is used for; decides the X.509 purpose checked in the chain.
enum class CertUse {
  kServer,           // HTTPS planes: the daemon is the TLS server
  kServerAndClient,  // inter-node mTLS: a node is server to some peers and client to others
};

// RSA >= 3072 bits or EC on a curve of >= 256 bits; anything else is refused.
Finding CheckKeyStrength(const std::string& file, const EVP_PKEY* key);

// The private key is the one of the certificate's public key.
Finding CheckKeyMatchesCert(const std::string& key_file, const EVP_PKEY* key,
                            const std::string& cert_file, const X509* cert);

// notBefore <= now <= notAfter; a warning when notAfter is within `warn_within` of now.
Finding CheckValidity(const std::string& file, const X509* cert, std::time_t now,
                      std::time_t warn_within = kExpiryWarningSeconds);

// The certificate may sign others (basicConstraints CA:TRUE or a v1 self-signed root).
Finding CheckIsCa(const std::string& file, const X509* cert);

// `cert` chains to one of `trusted` (via `intermediates` when needed) with OpenSSL's
// X509_verify_cert and the purpose of `use`. Time is not part of this check (CheckValidity
// reports it), so that an expired certificate gets one clear line, not two.
Finding CheckChain(const std::string& file, X509* cert, std::span<X509* const> intermediates,
                   std::span<X509* const> trusted, CertUse use,
                   const std::string& trusted_files_text);

// The subjectAltName covers `address` (an IP address, or a DNS name with wildcard rules).
// The subject CN is not consulted: TLS clients (gRPC, curl) only look at the SAN.
Finding CheckAddressCovered(const std::string& file, const X509* cert, const std::string& address);

// The CRL is signed by one of `cas` (issuer name and signature), its lastUpdate is not in the
// future and its nextUpdate has not passed.
Finding CheckCrl(const std::string& file, X509_CRL* crl, std::span<X509* const> cas,
                 std::time_t now);

// `cert` is not listed in `crl` (only CRLs of the certificate's issuer can list it).
Finding CheckNotRevoked(const std::string& cert_file, X509* cert, const std::string& crl_file,
                        X509_CRL* crl);

// "IP:127.0.0.1, DNS:localhost" (empty when there is no subjectAltName).
std::string SubjectAltNames(const X509* cert);

}  // namespace mies::certs
