#include "server/client_verify_store.h"

#include <sys/stat.h>

#include <ctime>

#include "absl/strings/str_join.h"
#include "certs/checks.h"
#include "common/file_check.h"
#include "common/logging.h"

namespace mies::server {

StatusOr<std::unique_ptr<ClientVerifyStore>> ClientVerifyStore::Create(
    std::string what, const std::vector<std::string>& ca_files, std::vector<std::string> crl_files,
    std::chrono::milliseconds check_interval) {
  if (crl_files.empty()) return InvalidArgument(what, ": no CRL file to watch");
  std::unique_ptr<ClientVerifyStore> s(new ClientVerifyStore());
  s->what_ = std::move(what);
  s->crl_files_ = std::move(crl_files);
  s->interval_ = check_interval;
  for (const std::string& file : ca_files) {
    MIES_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(file));
    auto certs = certs::ParseCertificatesPem(text);
    if (!certs.ok())
      return FailedPrecondition("TLS CA file ", file, ": ", certs.status().message());
    for (auto& c : *certs) s->cas_.push_back(std::move(c));
  }
  // Stamps first: a file replaced while it is being read is seen as changed at the next check.
  s->stamps_ = s->TakeStamps();
  MIES_ASSIGN_OR_RETURN(s->current_, s->Build());
  s->next_check_ = std::chrono::steady_clock::now() + s->interval_;
  return s;
}

ClientVerifyStore::~ClientVerifyStore() = default;

std::vector<ClientVerifyStore::Stamp> ClientVerifyStore::TakeStamps() const {
  std::vector<Stamp> out;
  for (const std::string& file : crl_files_) {
    Stamp st;
    struct stat sb {};
    if (::stat(file.c_str(), &sb) == 0) {
      st.exists = true;
      st.dev = sb.st_dev;
      st.ino = sb.st_ino;
      st.size = static_cast<unsigned long long>(sb.st_size);
      // Coarse kernel timestamps can repeat within a few ms; size and inode (an atomic rename
      // gives a new one) cover most same-tick rewrites.
      st.mtime_ns = sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
      st.ctime_ns = sb.st_ctim.tv_sec * 1000000000LL + sb.st_ctim.tv_nsec;
    }
    out.push_back(st);
  }
  return out;
}

StatusOr<ClientVerifyStore::StorePtr> ClientVerifyStore::Build() const {
  StorePtr store(X509_STORE_new());
  if (!store) return Internal("X509_STORE_new failed: ", certs::TakeOpenSslErrors());
  for (const auto& ca : cas_) {
    if (X509_STORE_add_cert(store.get(), ca.get()) != 1) {
      return Internal("cannot add a CA certificate: ", certs::TakeOpenSslErrors());
    }
  }
  std::vector<X509*> trusted;
  for (const auto& ca : cas_) trusted.push_back(ca.get());
  const std::time_t now = std::time(nullptr);
  for (const std::string& file : crl_files_) {
    // The same file rules and CRL checks as at start-up.
    auto text = ReadCheckedFile(file, RuleFromEnv(kConfigFileMode), "CRL file");
    if (!text.ok()) return FailedPrecondition("TLS CRL file ", file, ": ", text.status().message());
    auto crls = certs::ParseCrlsPem(*text);
    if (!crls.ok()) {
      return FailedPrecondition("TLS CRL file ", file,
                                ": does not parse: ", crls.status().message());
    }
    for (auto& crl : *crls) {
      certs::Finding f = certs::CheckCrl(file, crl.get(), trusted, now);
      if (f.severity == certs::Severity::kError) {
        return FailedPrecondition("TLS CRL file ", file, ": ", f.actual);
      }
      if (X509_STORE_add_crl(store.get(), crl.get()) != 1) {
        return FailedPrecondition("TLS CRL file ", file, ": ", certs::TakeOpenSslErrors());
      }
    }
  }
  X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  return store;
}

void ClientVerifyStore::MaybeReload() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_check_) return;
  next_check_ = now + interval_;
  std::vector<Stamp> stamps = TakeStamps();
  if (stamps == stamps_) return;
  stamps_ = std::move(stamps);
  auto built = Build();
  if (!built.ok()) {
    MIES_LOG_ERROR("{}: a changed CRL file was not loaded, the previous CRLs stay in force: {}",
                   what_, std::string(built.status().message()));
    return;
  }
  current_ = std::move(*built);
  ++reloads_;
  MIES_LOG_INFO("{}: reloaded CRL files {}", what_, absl::StrJoin(crl_files_, ", "));
}

void ClientVerifyStore::Apply(SSL* ssl) {
  std::lock_guard lock(mu_);
  MaybeReload();
  // Takes its own reference: a later swap cannot free the store under this connection.
  SSL_set1_verify_cert_store(ssl, current_.get());
}

X509_STORE* ClientVerifyStore::Current() {
  std::lock_guard lock(mu_);
  MaybeReload();
  X509_STORE_up_ref(current_.get());
  return current_.get();
}

int ClientVerifyStore::reloads() const {
  std::lock_guard lock(mu_);
  return reloads_;
}

}  // namespace mies::server
