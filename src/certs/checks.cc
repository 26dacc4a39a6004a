#include "certs/checks.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "certs/ossl.h"

namespace mies::certs {
namespace {

struct StoreDeleter {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct StoreCtxDeleter {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct StackDeleter {
  void operator()(STACK_OF(X509) * p) const { sk_X509_free(p); }  // borrowed certs: no pop_free
};
struct GeneralNamesDeleter {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};

std::string Days(std::time_t seconds) {
  return absl::StrCat(seconds / 86400, seconds / 86400 == 1 ? " day" : " days");
}

// Verifies once for one purpose; returns "" on success or OpenSSL's reason.
std::string VerifyOnce(X509* cert, STACK_OF(X509) * untrusted, std::span<X509* const> trusted,
                       int purpose) {
  std::unique_ptr<X509_STORE, StoreDeleter> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> ctx(X509_STORE_CTX_new());
  if (!store || !ctx) return "out of memory";
  for (X509* ca : trusted) X509_STORE_add_cert(store.get(), ca);  // duplicates are harmless
  ERR_clear_error();
  if (X509_STORE_CTX_init(ctx.get(), store.get(), cert, untrusted) != 1) {
    return "cannot set up verification: " + TakeOpenSslErrors();
  }
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_NO_CHECK_TIME);
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  if (X509_verify_cert(ctx.get()) == 1) return "";
  int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return X509_verify_cert_error_string(err);
}

}  // namespace

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kOk:
      return "ok";
    case Severity::kWarning:
      return "warning";
    case Severity::kError:
      return "error";
  }
  return "?";
}

std::string Finding::Line() const {
  std::string line = absl::StrCat(SeverityName(severity), ": ", file, ": ", actual);
  if (!rule.empty()) absl::StrAppend(&line, " (rule: ", rule, ")");
  return line;
}

Finding Ok(std::string file, std::string check, std::string rule, std::string actual) {
  return {Severity::kOk, std::move(file), std::move(check), std::move(rule), std::move(actual)};
}
Finding Warn(std::string file, std::string check, std::string rule, std::string actual) {
  return {Severity::kWarning, std::move(file), std::move(check), std::move(rule),
          std::move(actual)};
}
Finding Error(std::string file, std::string check, std::string rule, std::string actual) {
  return {Severity::kError, std::move(file), std::move(check), std::move(rule), std::move(actual)};
}

Finding CheckKeyStrength(const std::string& file, const EVP_PKEY* key) {
  const std::string rule = absl::StrCat("RSA >= ", kMinRsaBits, " bits or EC P-256 or larger");
  const std::string desc = DescribeKey(key);
  const int bits = EVP_PKEY_get_bits(key);
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
      if (bits >= kMinRsaBits) return Ok(file, "key-strength", rule, desc);
      return Error(file, "key-strength", rule, absl::StrCat("public key is ", desc, ", too short"));
    case EVP_PKEY_EC:
      if (bits >= kMinEcBits) return Ok(file, "key-strength", rule, desc);
      return Error(file, "key-strength", rule, absl::StrCat("public key is ", desc, ", too small"));
    default:
      return Error(file, "key-strength", rule,
                   absl::StrCat("public key is ", desc, ", an algorithm that is not accepted"));
  }
}

Finding CheckKeyMatchesCert(const std::string& key_file, const EVP_PKEY* key,
                            const std::string& cert_file, const X509* cert) {
  const std::string rule = absl::StrCat("private key belongs to the certificate ", cert_file);
  const EVP_PKEY* pub = X509_get0_pubkey(cert);
  ERR_clear_error();
  if (pub != nullptr && EVP_PKEY_eq(pub, key) == 1) {
    return Ok(key_file, "key-match", rule, "matches");
  }
  ERR_clear_error();
  return Error(
      key_file, "key-match", rule,
      absl::StrCat("private key (", DescribeKey(key),
                   ") does not match the certificate's public key (", DescribeKey(pub), ")"));
}

Finding CheckValidity(const std::string& file, const X509* cert, std::time_t now,
                      std::time_t warn_within) {
  const std::string rule = "certificate within its validity window";
  auto not_before = AsnTimeToTimeT(X509_get0_notBefore(cert));
  auto not_after = AsnTimeToTimeT(X509_get0_notAfter(cert));
  const std::string subject = SubjectOf(cert);
  if (!not_before || !not_after) {
    return Error(file, "validity", rule,
                 absl::StrCat("certificate ", subject, " has an unreadable validity time"));
  }
  if (now < *not_before) {
    return Error(file, "validity", rule,
                 absl::StrCat("certificate ", subject, " is not yet valid: notBefore ",
                              FormatUtc(*not_before), " is after now ", FormatUtc(now)));
  }
  if (now > *not_after) {
    return Error(file, "validity", rule,
                 absl::StrCat("certificate ", subject, " expired: notAfter ", FormatUtc(*not_after),
                              " is before now ", FormatUtc(now)));
  }
  if (*not_after - now < warn_within) {
    return Warn(file, "validity",
                absl::StrCat(rule, "; warn when it expires within ", Days(warn_within)),
                absl::StrCat("certificate ", subject, " expires in ", Days(*not_after - now),
                             " (notAfter ", FormatUtc(*not_after), ")"));
  }
  return Ok(file, "validity", rule, absl::StrCat("valid until ", FormatUtc(*not_after)));
}

Finding CheckIsCa(const std::string& file, const X509* cert) {
  const std::string rule = "a CA file holds CA certificates (basicConstraints CA:TRUE)";
  // X509_check_ca caches extension data, hence non-const; it does not change the certificate.
  if (X509_check_ca(const_cast<X509*>(cert)) >= 1) return Ok(file, "ca", rule, "is a CA");
  return Error(file, "ca", rule,
               absl::StrCat("certificate ", SubjectOf(cert), " is not a CA certificate"));
}

Finding CheckChain(const std::string& file, X509* cert, std::span<X509* const> intermediates,
                   std::span<X509* const> trusted, CertUse use,
                   const std::string& trusted_files_text) {
  const bool both = use == CertUse::kServerAndClient;
  const std::string rule = absl::StrCat("chains to one of the CAs (", trusted_files_text, ") for ",
                                        both ? "TLS server and client use" : "TLS server use");
  std::unique_ptr<STACK_OF(X509), StackDeleter> untrusted(sk_X509_new_null());
  for (X509* c : intermediates) sk_X509_push(untrusted.get(), c);
  const std::string issuer = NameOneLine(X509_get_issuer_name(cert));
  std::string why = VerifyOnce(cert, untrusted.get(), trusted, X509_PURPOSE_SSL_SERVER);
  if (!why.empty()) {
    return Error(
        file, "chain", rule,
        absl::StrCat("certificate (issuer ", issuer, ") does not verify as a TLS server: ", why));
  }
  if (both) {
    why = VerifyOnce(cert, untrusted.get(), trusted, X509_PURPOSE_SSL_CLIENT);
    if (!why.empty()) {
      return Error(
          file, "chain", rule,
          absl::StrCat("certificate (issuer ", issuer, ") does not verify as a TLS client: ", why));
    }
  }
  return Ok(file, "chain", rule, absl::StrCat("issued by ", issuer));
}

std::string SubjectAltNames(const X509* cert) {
  std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return "";
  std::string out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    std::string item;
    if (gn->type == GEN_DNS) {
      const ASN1_STRING* s = gn->d.dNSName;
      item =
          absl::StrCat("DNS:", std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                           ASN1_STRING_length(s)));
    } else if (gn->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* s = gn->d.iPAddress;
      char buf[INET6_ADDRSTRLEN] = {0};
      int len = ASN1_STRING_length(s);
      int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
      if (family != 0 && inet_ntop(family, ASN1_STRING_get0_data(s), buf, sizeof buf)) {
        item = absl::StrCat("IP:", buf);
      } else {
        item = "IP:<malformed>";
      }
    } else {
      continue;  // email, URI, ... do not name a host
    }
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

Finding CheckAddressCovered(const std::string& file, const X509* cert, const std::string& address) {
  const std::string rule = absl::StrCat("subjectAltName covers the node address ", address);
  X509* c = const_cast<X509*>(cert);  // the check functions only read (they cache extensions)
  unsigned char ip[16];
  const bool is_ip =
      inet_pton(AF_INET, address.c_str(), ip) == 1 || inet_pton(AF_INET6, address.c_str(), ip) == 1;
  int match = is_ip ? X509_check_ip_asc(c, address.c_str(), 0)
                    : X509_check_host(c, address.data(), address.size(),
                                      X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr);
  ERR_clear_error();
  if (match == 1) return Ok(file, "san", rule, absl::StrCat("covered by ", SubjectAltNames(cert)));
  const std::string sans = SubjectAltNames(cert);
  return Error(
      file, "san", rule,
      absl::StrCat("subjectAltName [", sans.empty() ? "none" : sans, "] does not cover ", address));
}

Finding CheckCrl(const std::string& file, X509_CRL* crl, std::span<X509* const> cas,
                 std::time_t now) {
  const std::string rule = "CRL signed by one of the plane's CAs and within lastUpdate..nextUpdate";
  const X509_NAME* issuer = X509_CRL_get_issuer(crl);
  const std::string issuer_text = NameOneLine(issuer);
  bool name_matched = false;
  bool signed_by_ca = false;
  for (X509* ca : cas) {
    if (X509_NAME_cmp(X509_get_subject_name(ca), issuer) != 0) continue;
    name_matched = true;
    EVP_PKEY* pub = X509_get0_pubkey(ca);
    if (pub != nullptr && X509_CRL_verify(crl, pub) == 1) {
      signed_by_ca = true;
      break;
    }
  }
  ERR_clear_error();
  if (!signed_by_ca) {
    return Error(file, "crl", rule,
                 name_matched
                     ? absl::StrCat("CRL of ", issuer_text,
                                    " has a signature that does not verify with that CA's key")
                     : absl::StrCat("CRL issuer ", issuer_text, " is none of the plane's CAs"));
  }
  auto last = AsnTimeToTimeT(X509_CRL_get0_lastUpdate(crl));
  if (!last) return Error(file, "crl", rule, "CRL has an unreadable lastUpdate");
  if (*last > now) {
    return Error(file, "crl", rule,
                 absl::StrCat("CRL of ", issuer_text, " is not yet valid: lastUpdate ",
                              FormatUtc(*last), " is after now ", FormatUtc(now)));
  }
  const ASN1_TIME* next_asn = X509_CRL_get0_nextUpdate(crl);
  if (next_asn == nullptr) {
    return Ok(file, "crl", rule, absl::StrCat("CRL of ", issuer_text, ", no nextUpdate"));
  }
  auto next = AsnTimeToTimeT(next_asn);
  if (!next) return Error(file, "crl", rule, "CRL has an unreadable nextUpdate");
  if (*next < now) {
    return Error(file, "crl", rule,
                 absl::StrCat("CRL of ", issuer_text, " expired: nextUpdate ", FormatUtc(*next),
                              " is before now ", FormatUtc(now)));
  }
  return Ok(file, "crl", rule,
            absl::StrCat("CRL of ", issuer_text, ", next update ", FormatUtc(*next)));
}

Finding CheckNotRevoked(const std::string& cert_file, X509* cert, const std::string& crl_file,
                        X509_CRL* crl) {
  const std::string rule = absl::StrCat("certificate not listed in the CRL ", crl_file);
  if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_CRL_get_issuer(crl)) != 0) {
    return Ok(cert_file, "revoked", rule, "CRL is of another issuer");
  }
  X509_REVOKED* entry = nullptr;
  int r = X509_CRL_get0_by_cert(crl, &entry, cert);
  ERR_clear_error();
  if (r == 1 && entry != nullptr) {
    auto when = AsnTimeToTimeT(X509_REVOKED_get0_revocationDate(entry));
    return Error(cert_file, "revoked", rule,
                 absl::StrCat("certificate ", SubjectOf(cert), " is revoked by ", crl_file,
                              when ? absl::StrCat(" since ", FormatUtc(*when)) : ""));
  }
  return Ok(cert_file, "revoked", rule, "not revoked");
}

}  // namespace mies::certs
