#include "certs/ossl.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstring>

#include "common/file_check.h"

namespace mies::certs {
namespace {

struct BioDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr MemBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// One "-----BEGIN <name>-----" block of a PEM text, base64-decoded.
struct PemBlock {
  std::string name;
  std::string header;
  std::string der;
};

// All PEM blocks of a text. Text outside blocks is ignored (as OpenSSL does); a block that does
// not decode is an error.
StatusOr<std::vector<PemBlock>> SplitPem(std::string_view pem) {
  ERR_clear_error();
  BioPtr bio = MemBio(pem);
  if (!bio) return Internal("out of memory reading PEM");
  std::vector<PemBlock> blocks;
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
      unsigned long err = ERR_peek_last_error();
      if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        break;  // the normal end of the text
      }
      return InvalidArgument("malformed PEM block: ", TakeOpenSslErrors());
    }
    blocks.push_back({name, header, std::string(reinterpret_cast<char*>(data), len)});
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
  return blocks;
}

int PasswordCallback(char* buf, int size, int /*rwflag*/, void* u) {
  const auto* pass = static_cast<const std::string*>(u);
  if (pass == nullptr || size <= 0) return -1;
  int n = static_cast<int>(std::min<size_t>(pass->size(), static_cast<size_t>(size)));
  // OpenSSL takes the length we return; the buffer needs no terminator.
  std::memcpy(buf, pass->data(), n);  // NOLINT(bugprone-not-null-terminated-result)
  return n;
}

}  // namespace

SecretString::SecretString(SecretString&& other) noexcept : value_(std::move(other.value_)) {
  other.Wipe();
}
SecretString& SecretString::operator=(SecretString&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_ = std::move(other.value_);
    other.Wipe();
  }
  return *this;
}
SecretString::~SecretString() { Wipe(); }
void SecretString::Wipe() {
  if (!value_.empty()) OPENSSL_cleanse(value_.data(), value_.size());
  value_.clear();
}

std::string TakeOpenSslErrors() {
  std::string out;
  while (unsigned long err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof buf);
    // Keep the reason text only ("error:1E08010C:DECODER routines::unsupported" -> last part),
    // once: OpenSSL often queues the same reason from several layers.
    const char* reason = ERR_reason_error_string(err);
    std::string text = reason != nullptr ? reason : buf;
    if (out == text || out.find(text + ";") != std::string::npos ||
        (out.size() > text.size() && out.ends_with("; " + text))) {
      continue;
    }
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out;
}

StatusOr<std::vector<X509Ptr>> ParseCertificatesPem(std::string_view pem) {
  MIES_ASSIGN_OR_RETURN(std::vector<PemBlock> blocks, SplitPem(pem));
  std::vector<X509Ptr> certs;
  for (const PemBlock& b : blocks) {
    if (b.name != "CERTIFICATE" && b.name != "X509 CERTIFICATE" &&
        b.name != "TRUSTED CERTIFICATE") {
      continue;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(b.der.data());
    const unsigned char* start = p;
    const long len = static_cast<long>(b.der.size());  // blocks are <= 10 MB
    X509Ptr cert(b.name == "TRUSTED CERTIFICATE" ? d2i_X509_AUX(nullptr, &p, len)
                                                 : d2i_X509(nullptr, &p, len));
    if (!cert || static_cast<size_t>(p - start) != b.der.size()) {
      return InvalidArgument("certificate ", certs.size() + 1,
                             " does not decode as X.509 DER: ", TakeOpenSslErrors());
    }
    certs.push_back(std::move(cert));
  }
  if (certs.empty()) return InvalidArgument("no PEM \"CERTIFICATE\" block found");
  return certs;
}

StatusOr<std::vector<X509CrlPtr>> ParseCrlsPem(std::string_view pem) {
  MIES_ASSIGN_OR_RETURN(std::vector<PemBlock> blocks, SplitPem(pem));
  std::vector<X509CrlPtr> crls;
  for (const PemBlock& b : blocks) {
    if (b.name != "X509 CRL") continue;
    const auto* p = reinterpret_cast<const unsigned char*>(b.der.data());
    const unsigned char* start = p;
    X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(b.der.size())));
    if (!crl || static_cast<size_t>(p - start) != b.der.size()) {
      return InvalidArgument("CRL ", crls.size() + 1,
                             " does not decode as X.509 CRL DER: ", TakeOpenSslErrors());
    }
    crls.push_back(std::move(crl));
  }
  if (crls.empty()) return InvalidArgument("no PEM \"X509 CRL\" block found");
  return crls;
}

bool IsEncryptedKeyPem(std::string_view pem) {
  return pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos ||
         pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
}

StatusOr<EvpPkeyPtr> ParsePrivateKeyPem(std::string_view pem,
                                        const std::optional<SecretString>& password) {
  const bool encrypted = IsEncryptedKeyPem(pem);
  if (encrypted && (!password.has_value() || password->empty())) {
    return InvalidArgument("private key is encrypted and no password file was given");
  }
  ERR_clear_error();
  BioPtr bio = MemBio(pem);
  if (!bio) return Internal("out of memory reading PEM");
  // An unencrypted key never calls the callback; a null user pointer makes any prompt fail
  // instead of reading the terminal.
  void* u = encrypted ? const_cast<std::string*>(&password->str()) : nullptr;
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, PasswordCallback, u));
  if (!key) {
    std::string why = TakeOpenSslErrors();
    if (encrypted)
      return InvalidArgument("cannot decrypt the private key: wrong password (", why, ")");
    return InvalidArgument("does not parse as a PEM private key (", why.empty() ? "no key" : why,
                           ")");
  }
  return key;
}

StatusOr<SecretString> PlainPrivateKeyPem(EVP_PKEY* key) {
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out ||
      PEM_write_bio_PrivateKey(out.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Internal("cannot write the private key as PEM: ", TakeOpenSslErrors());
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(out.get(), &data);
  SecretString pem(std::string(data, static_cast<size_t>(len)));
  OPENSSL_cleanse(data, static_cast<size_t>(len));
  return pem;
}

StatusOr<SecretString> ReadPasswordFile(const std::string& path) {
  MIES_ASSIGN_OR_RETURN(std::string raw, ReadWholeFile(path));
  SecretString whole(std::move(raw));
  const std::string& s = whole.str();
  size_t end = s.find_first_of("\r\n");
  SecretString pass(s.substr(0, end));
  if (pass.empty()) return InvalidArgument("password file ", path, " is empty");
  return pass;
}

std::string NameOneLine(const X509_NAME* name) {
  if (name == nullptr) return "";
  BioPtr out(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(out.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long len = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string SubjectOf(const X509* cert) { return NameOneLine(X509_get_subject_name(cert)); }

std::optional<std::time_t> AsnTimeToTimeT(const ASN1_TIME* t) {
  if (t == nullptr) return std::nullopt;
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return timegm(&tm);
}

std::string FormatUtc(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string DescribeKey(const EVP_PKEY* key) {
  if (key == nullptr) return "no key";
  const int bits = EVP_PKEY_get_bits(key);
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
      return absl::StrCat("RSA ", bits, " bits");
    case EVP_PKEY_EC: {
      char group[80] = {0};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                         &len) != 1) {
        std::strcpy(group, "unknown curve");
      }
      return absl::StrCat("EC ", group, " (", bits, " bits)");
    }
    default: {
      const char* name = EVP_PKEY_get0_type_name(key);
      return absl::StrCat(name != nullptr ? name : "unknown key type", " (", bits, " bits)");
    }
  }
}

}  // namespace mies::certs
