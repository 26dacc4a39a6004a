// `mies-certs import`: checks a plane's material, then puts each file where config.json names it
// with MindIE's modes. All-or-nothing: the files are staged next to their targets, checked again
// there under MindIE's file rules, and only then renamed into place; any failure removes what
// was staged (and directories it created) and restores what was replaced.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "certs/plane.h"
#include "common/status.h"
#include "config/config.h"

namespace mies::certs {

inline constexpr mode_t kDirMode = 0700;
inline constexpr mode_t kPublicFileMode = 0600;  // CA, certificate, CRL
inline constexpr mode_t kSecretFileMode = 0400;  // private key, password file

struct ImportRequest {
  Plane plane = Plane::kService;
  std::vector<std::string> ca_files;  // 1..3
  std::string cert_file;
  std::string key_file;
  std::string key_password_file;       // for an encrypted key
  std::vector<std::string> crl_files;  // 0..3
  std::string node_address;            // ranktable address the certificate's SAN must cover
};

struct ImportedFile {
  std::string role;  // "ca", "cert", "key", "password", "crl"
  std::string source;
  std::string target;
  mode_t mode = 0;
};

struct ImportResult {
  Status status;                    // OK, or why nothing was imported
  PlaneReport report;               // the checks over the source files
  std::vector<ImportedFile> files;  // what was put in place (empty when refused)
  std::vector<std::string> notes;   // follow-ups for the operator (config keys to add, ...)
};

// `options.now` / `expiry_warning` apply; file rules apply only to the staged copies.
ImportResult ImportPlane(const config::Config& config, const ImportRequest& request,
                         const CheckOptions& options = {});

}  // namespace mies::certs
