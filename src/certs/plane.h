// The TLS material of one plane (CA files, certificate, key, optional key password file, CRLs)
// and the checks run over it: at import (source files anywhere), in `mies-certs check` and by
// the daemon at start-up (files under the install home, with MindIE's owner/mode rules).
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "certs/checks.h"
#include "certs/ossl.h"
#include "common/status.h"
#include "config/tls_planes.h"

namespace mies::certs {

// Planes, their names and file counts come from the plane table (config/tls_planes.h).
using Plane = config::TlsPlane;
// Every plane whose material mies checks and loads (the inter-comm plane is only parsed).
inline constexpr const auto& kAllPlanes = config::kLoadedTlsPlanes;
using config::kMaxCaFiles;
using config::kMaxCrlFiles;

const char* PlaneName(Plane plane);  // "service", "management", "metrics", "internode"
StatusOr<Plane> ParsePlane(std::string_view name);  // one of kAllPlanes

struct PlaneMaterial {
  Plane plane = Plane::kService;
  std::vector<std::string> ca_files;
  std::string cert_file;  // the server/node certificate, optionally followed by intermediates
  std::string key_file;
  std::string key_password_file;  // empty: the key must be unencrypted
  std::vector<std::string> crl_files;
  std::string node_address;  // non-empty: the certificate's SAN must cover it
};

struct CheckOptions {
  // Files under the install home obey MindIE's rules (regular file, owner, mode <= 0640, keys and
  // password files <= 0600, size <= 10 MB; the owner/mode part follows
  // MINDIE_CHECK_INPUTFILES_PERMISSION). Import sources only need to be readable files.
  bool apply_file_rules = true;
  std::optional<std::time_t> now;  // unset: the current time
  std::time_t expiry_warning = kExpiryWarningSeconds;
};

// One row of `mies-certs check`'s table.
struct FileRow {
  Plane plane = Plane::kService;
  std::string role;  // "ca", "cert", "key", "password", "crl"
  std::string file;
  std::string subject;  // subject of a certificate, issuer of a CRL, "-" for keys
  std::string expiry;   // notAfter of a certificate, nextUpdate of a CRL, "-" otherwise
  Severity status = Severity::kOk;
  std::string detail;  // the first error (or warning) line's "actual", when any
};

struct PlaneReport {
  Plane plane = Plane::kService;
  std::vector<Finding> findings;  // every check that ran, in order
  std::vector<FileRow> rows;      // one per file

  bool ok() const { return FirstError() == nullptr; }
  const Finding* FirstError() const;
  std::vector<const Finding*> Problems() const;  // errors and warnings
};

PlaneReport RunPlaneChecks(const PlaneMaterial& material, const CheckOptions& options = {});

// What the daemon calls at start-up: OK, or FailedPrecondition naming the plane, the failing
// file and the reason (the first error's line). Warnings are logged.
Status CheckPlaneMaterial(const PlaneMaterial& material, const CheckOptions& options = {});

// The plane's private key as unencrypted PEM, decrypting it with the password file when it is
// encrypted; for TLS stacks that take no password (gRPC). The plain key never touches disk.
StatusOr<SecretString> LoadPlainPrivateKey(const std::string& key_file,
                                           const std::string& key_password_file,
                                           bool apply_file_rules = true);

}  // namespace mies::certs
