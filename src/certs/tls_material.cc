#include "certs/tls_material.h"

#include <openssl/pem.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/file_check.h"

namespace mies::certs {

StatusOr<PlanePem> LoadPlanePem(const PlaneMaterial& m, const CheckOptions& options) {
  MIES_RETURN_IF_ERROR(CheckPlaneMaterial(m, options));
  PlanePem pem;
  for (const std::string& ca : m.ca_files) {
    MIES_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(ca));
    if (!text.empty() && text.back() != '\n') text += '\n';
    pem.ca_bundle += text;
  }
  MIES_ASSIGN_OR_RETURN(pem.cert_chain, ReadWholeFile(m.cert_file));
  MIES_ASSIGN_OR_RETURN(pem.private_key, LoadPlainPrivateKey(m.key_file, m.key_password_file,
                                                             options.apply_file_rules));
  for (const std::string& crl : m.crl_files) {
    MIES_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(crl));
    pem.crls.push_back(std::move(text));
  }
  return pem;
}

StatusOr<std::vector<std::string>> WriteHashedCrlDir(const std::vector<std::string>& crl_files,
                                                     const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Internal("cannot create CRL directory ", dir, ": ", ec.message());
  chmod(dir.c_str(), 0700);
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() > 10 && name[8] == '.' && name[9] == 'r') fs::remove(e.path(), ec);
  }
  std::map<unsigned long, int> next_index;  // per issuer hash: .r0, .r1, ...
  std::vector<std::string> written;
  for (const std::string& file : crl_files) {
    MIES_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(file));
    StatusOr<std::vector<X509CrlPtr>> crls = ParseCrlsPem(text);
    if (!crls.ok()) return InvalidArgument("CRL file ", file, ": ", crls.status().message());
    for (const X509CrlPtr& crl : *crls) {
      int ok = 0;
      // The same hash `openssl crl -hash` prints and by_dir looks up (SHA-1 of the canonical name).
      unsigned long hash = X509_NAME_hash_ex(X509_CRL_get_issuer(crl.get()), nullptr, nullptr, &ok);
      if (ok != 1) return Internal("cannot hash the issuer of CRL ", file);
      char name[32];
      std::snprintf(name, sizeof name, "%08lx.r%d", hash, next_index[hash]++);
      const std::string path = (fs::path(dir) / name).string();
      std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new_file(path.c_str(), "w"), BIO_free);
      if (!out || PEM_write_bio_X509_CRL(out.get(), crl.get()) != 1) {
        return Internal("cannot write ", path, ": ", TakeOpenSslErrors());
      }
      out.reset();
      chmod(path.c_str(), 0600);
      written.push_back(name);
    }
  }
  return written;
}

}  // namespace mies::certs
