#include "certs/plane.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_check.h"
#include "common/logging.h"

namespace mies::certs {
namespace {

constexpr uint64_t kMaxSourceBytes = 10ull << 20;

// Import sources may live anywhere (a download folder, a symlink into a secrets mount); they
// only need to be readable regular files of sane size. The copies get the strict modes.
Status CheckSourceFile(const std::string& path, const std::string& what) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return NotFound(what, " ", path, ": cannot stat: ", std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return FailedPrecondition(what, " ", path, ": not a regular file");
  if (st.st_size <= 0 || static_cast<uint64_t>(st.st_size) > kMaxSourceBytes) {
    return FailedPrecondition(what, " ", path, ": size ", st.st_size, " bytes (rule: size in (0, ",
                              kMaxSourceBytes, "] bytes)");
  }
  return OkStatus();
}

class Runner {
 public:
  Runner(const PlaneMaterial& m, const CheckOptions& o)
      : m_(m), o_(o), now_(o.now.value_or(std::time(nullptr))) {
    report_.plane = m.plane;
  }

  PlaneReport Run() {
    CheckCounts();
    LoadCas();
    LoadCert();
    LoadKey();
    LoadCrls();
    FillStatuses();
    return std::move(report_);
  }

 private:
  void Add(Finding f) { report_.findings.push_back(std::move(f)); }

  FileRow& Row(const std::string& role, const std::string& file) {
    report_.rows.push_back(FileRow{m_.plane, role, file, "-", "-", Severity::kOk, ""});
    return report_.rows.back();
  }

  void CheckCounts() {
    const std::string plane(PlaneName(m_.plane));
    if (m_.ca_files.empty() || m_.ca_files.size() > kMaxCaFiles) {
      Add(Error(absl::StrCat("(", plane, " CA files)"), "count",
                absl::StrCat("1 to ", kMaxCaFiles, " CA files per plane"),
                absl::StrCat(m_.ca_files.size(), " CA files given")));
    }
    if (m_.crl_files.size() > kMaxCrlFiles) {
      Add(Error(absl::StrCat("(", plane, " CRL files)"), "count",
                absl::StrCat("0 to ", kMaxCrlFiles, " CRL files per plane"),
                absl::StrCat(m_.crl_files.size(), " CRL files given")));
    }
    if (m_.cert_file.empty()) {
      Add(Error(absl::StrCat("(", plane, " certificate)"), "count", "a certificate file",
                "none given"));
    }
    if (m_.key_file.empty()) {
      Add(Error(absl::StrCat("(", plane, " private key)"), "count", "a private key file",
                "none given"));
    }
  }

  // File rule check then read; a failure becomes the file's one error line.
  std::optional<std::string> Read(const std::string& path, mode_t max_mode,
                                  const std::string& what) {
    Status st = o_.apply_file_rules ? CheckInputFile(path, RuleFromEnv(max_mode), what)
                                    : CheckSourceFile(path, what);
    if (st.ok()) {
      StatusOr<std::string> text = ReadWholeFile(path);
      if (text.ok()) return std::move(*text);
      st = text.status();
    }
    // File-rule messages state their rule; a missing file gets it spelled out.
    Add(Error(path, "file",
              st.code() == absl::StatusCode::kNotFound ? "every listed file exists" : "",
              std::string(st.message())));
    return std::nullopt;
  }

  void LoadCas() {
    for (const std::string& file : m_.ca_files) {
      FileRow& row = Row("ca", file);
      auto text = Read(file, kConfigFileMode, "CA file");
      if (!text) continue;
      auto certs = ParseCertificatesPem(*text);
      if (!certs.ok()) {
        Add(Error(file, "parse", "PEM file of CA certificates",
                  absl::StrCat("does not parse: ", certs.status().message())));
        continue;
      }
      std::optional<std::time_t> earliest;
      for (X509Ptr& ca : *certs) {
        Add(CheckIsCa(file, ca.get()));
        Add(CheckValidity(file, ca.get(), now_, o_.expiry_warning));
        auto na = AsnTimeToTimeT(X509_get0_notAfter(ca.get()));
        if (na && (!earliest || *na < *earliest)) earliest = na;
      }
      row.subject = SubjectOf(certs->front().get());
      if (certs->size() > 1) absl::StrAppend(&row.subject, " (+", certs->size() - 1, " more)");
      if (earliest) row.expiry = FormatUtc(*earliest);
      for (X509Ptr& ca : *certs) cas_.push_back(std::move(ca));
    }
  }

  void LoadCert() {
    if (m_.cert_file.empty()) return;
    const std::string& file = m_.cert_file;
    FileRow& row = Row("cert", file);
    auto text = Read(file, kConfigFileMode, "certificate file");
    if (!text) return;
    auto certs = ParseCertificatesPem(*text);
    if (!certs.ok()) {
      Add(Error(file, "parse", "PEM certificate (leaf first, then intermediates)",
                absl::StrCat("does not parse: ", certs.status().message())));
      return;
    }
    chain_ = std::move(*certs);
    X509* leaf = chain_.front().get();
    row.subject = SubjectOf(leaf);
    if (auto na = AsnTimeToTimeT(X509_get0_notAfter(leaf))) row.expiry = FormatUtc(*na);
    Add(CheckValidity(file, leaf, now_, o_.expiry_warning));
    for (size_t i = 1; i < chain_.size(); ++i) {
      Add(CheckValidity(file, chain_[i].get(), now_, o_.expiry_warning));
    }
    Add(CheckKeyStrength(file, X509_get0_pubkey(leaf)));
    if (!cas_.empty()) {
      std::vector<X509*> intermediates;
      for (size_t i = 1; i < chain_.size(); ++i) intermediates.push_back(chain_[i].get());
      std::vector<X509*> trusted;
      for (const X509Ptr& ca : cas_) trusted.push_back(ca.get());
      const CertUse use =
          config::TlsPlaneOf(m_.plane).node_identity ? CertUse::kServerAndClient : CertUse::kServer;
      Add(CheckChain(file, leaf, intermediates, trusted, use, absl::StrJoin(m_.ca_files, ", ")));
    }
    if (!m_.node_address.empty()) Add(CheckAddressCovered(file, leaf, m_.node_address));
  }

  void LoadKey() {
    if (m_.key_file.empty()) return;
    const std::string& file = m_.key_file;
    Row("key", file);
    std::optional<SecretString> password;
    if (!m_.key_password_file.empty()) {
      Row("password", m_.key_password_file);
      auto text = Read(m_.key_password_file, kPrivateKeyMode, "key password file");
      if (!text) return;
      SecretString whole(std::move(*text));
      SecretString first(whole.str().substr(0, whole.str().find_first_of("\r\n")));
      if (first.empty()) {
        Add(Error(m_.key_password_file, "parse", "the password on the first line",
                  "password file is empty"));
        return;
      }
      password = std::move(first);
    }
    auto text = Read(file, kPrivateKeyMode, "private key file");
    if (!text) return;
    SecretString pem(std::move(*text));
    const bool encrypted = IsEncryptedKeyPem(pem.str());
    auto key = ParsePrivateKeyPem(pem.str(), password);
    if (!key.ok()) {
      Add(Error(file, "parse",
                encrypted ? "encrypted PEM private key that the password file decrypts"
                          : "PEM private key",
                std::string(key.status().message())));
      return;
    }
    if (password && !encrypted) {
      Add(Warn(m_.key_password_file, "parse", "a password file only for an encrypted key",
               "the private key is not encrypted; the password file is not needed"));
    }
    Add(Ok(file, "parse", "PEM private key",
           absl::StrCat(encrypted ? "encrypted " : "", DescribeKey(key->get()))));
    if (!chain_.empty()) {
      Add(CheckKeyMatchesCert(file, key->get(), m_.cert_file, chain_.front().get()));
    }
  }

  void LoadCrls() {
    for (const std::string& file : m_.crl_files) {
      FileRow& row = Row("crl", file);
      auto text = Read(file, kConfigFileMode, "CRL file");
      if (!text) continue;
      auto crls = ParseCrlsPem(*text);
      if (!crls.ok()) {
        Add(Error(file, "parse", "PEM CRL",
                  absl::StrCat("does not parse: ", crls.status().message())));
        continue;
      }
      row.subject = absl::StrCat("CRL of ", NameOneLine(X509_CRL_get_issuer(crls->front().get())));
      if (auto nu = AsnTimeToTimeT(X509_CRL_get0_nextUpdate(crls->front().get()))) {
        row.expiry = FormatUtc(*nu);
      }
      std::vector<X509*> trusted;
      for (const X509Ptr& ca : cas_) trusted.push_back(ca.get());
      for (X509CrlPtr& crl : *crls) {
        Add(CheckCrl(file, crl.get(), trusted, now_));
        if (!chain_.empty()) {
          Add(CheckNotRevoked(m_.cert_file, chain_.front().get(), file, crl.get()));
        }
      }
    }
  }

  void FillStatuses() {
    for (FileRow& row : report_.rows) {
      for (const Finding& f : report_.findings) {
        if (f.file != row.file || f.severity <= row.status) continue;
        row.status = f.severity;
        row.detail = f.actual;
      }
    }
  }

  const PlaneMaterial& m_;
  const CheckOptions& o_;
  const std::time_t now_;
  PlaneReport report_;
  std::vector<X509Ptr> cas_;
  std::vector<X509Ptr> chain_;  // leaf first
};

}  // namespace

const char* PlaneName(Plane plane) { return config::TlsPlaneOf(plane).name; }

StatusOr<Plane> ParsePlane(std::string_view name) {
  std::string expected;
  for (size_t i = 0; i < kAllPlanes.size(); ++i) {
    if (name == PlaneName(kAllPlanes[i])) return kAllPlanes[i];
    const char* separator = i == 0 ? "" : i + 1 < kAllPlanes.size() ? ", " : " or ";
    absl::StrAppend(&expected, separator, PlaneName(kAllPlanes[i]));
  }
  return InvalidArgument("unknown plane \"", std::string(name), "\" (expected ", expected, ")");
}

const Finding* PlaneReport::FirstError() const {
  for (const Finding& f : findings) {
    if (f.severity == Severity::kError) return &f;
  }
  return nullptr;
}

std::vector<const Finding*> PlaneReport::Problems() const {
  std::vector<const Finding*> out;
  for (const Finding& f : findings) {
    if (!f.ok()) out.push_back(&f);
  }
  return out;
}

PlaneReport RunPlaneChecks(const PlaneMaterial& material, const CheckOptions& options) {
  return Runner(material, options).Run();
}

Status CheckPlaneMaterial(const PlaneMaterial& material, const CheckOptions& options) {
  PlaneReport report = RunPlaneChecks(material, options);
  for (const Finding& f : report.findings) {
    if (f.severity == Severity::kWarning) {
      MIES_LOG_WARN("{} plane TLS material: {}", PlaneName(material.plane), f.Line());
    }
  }
  if (const Finding* e = report.FirstError()) {
    return FailedPrecondition(PlaneName(material.plane), " plane TLS material: ", e->Line());
  }
  return OkStatus();
}

StatusOr<SecretString> LoadPlainPrivateKey(const std::string& key_file,
                                           const std::string& key_password_file,
                                           bool apply_file_rules) {
  auto check = [&](const std::string& path, const std::string& what) {
    return apply_file_rules ? CheckInputFile(path, RuleFromEnv(kPrivateKeyMode), what)
                            : CheckSourceFile(path, what);
  };
  std::optional<SecretString> password;
  if (!key_password_file.empty()) {
    MIES_RETURN_IF_ERROR(check(key_password_file, "key password file"));
    MIES_ASSIGN_OR_RETURN(SecretString p, ReadPasswordFile(key_password_file));
    password = std::move(p);
  }
  MIES_RETURN_IF_ERROR(check(key_file, "private key file"));
  MIES_ASSIGN_OR_RETURN(std::string raw, ReadWholeFile(key_file));
  SecretString pem(std::move(raw));
  StatusOr<EvpPkeyPtr> key = ParsePrivateKeyPem(pem.str(), password);
  if (!key.ok())
    return InvalidArgument("private key file ", key_file, ": ", key.status().message());
  return PlainPrivateKeyPem(key->get());
}

}  // namespace mies::certs
