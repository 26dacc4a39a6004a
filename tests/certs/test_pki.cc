#include "test_pki.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace mies::certs::testing {
namespace {

struct BioDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

void AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) throw std::runtime_error("bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509Ptr LoadCert(const std::string& path) {
  std::string pem = ReadFile(path);
  auto certs = ParseCertificatesPem(pem);
  if (!certs.ok()) throw std::runtime_error("cannot load " + path);
  return std::move(certs->front());
}

EvpPkeyPtr LoadKey(const std::string& path) {
  auto key = ParsePrivateKeyPem(ReadFile(path), std::nullopt);
  if (!key.ok()) throw std::runtime_error("cannot load " + path);
  return std::move(*key);
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base ? base : "/tmp") + "/mies-certs-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  // Imported keys are 0400 and their directories 0700: removal as the owner still works.
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::string& path, const std::string& content, mode_t mode) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::error_code ec;
  std::filesystem::remove(path, ec);  // it may be read-only (0400) from a previous write
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  ASSERT_TRUE(out.good()) << "cannot write " << path;
  ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

// gtest_discover_tests runs every test in its own process, so the gen-certs.sh output is
// cached in the build tree (never in the source tree) and shared under a file lock; it is made
// again after a week so that its 30-day CRL and one-year certificates never run out.
std::string CachedGenCertsDir() {
  const std::string dir = std::string(MIES_BINARY_DIR) + "/tests/certs/gen-certs-cache";
  const std::string marker = dir + "/complete";
  const std::string lock_path = dir + ".lock";
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path());
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 || flock(fd, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + lock_path);
  struct stat st {};
  const bool fresh = stat(marker.c_str(), &st) == 0 && std::time(nullptr) - st.st_mtime < 7 * 86400;
  if (!fresh) {
    std::filesystem::remove_all(dir);
    std::string cmd = std::string("bash ") + MIES_SOURCE_DIR + "/scripts/gen-certs.sh " + dir +
                      " --ip 127.0.1.1 >/dev/null";
    if (std::system(cmd.c_str()) != 0) {
      close(fd);
      throw std::runtime_error("gen-certs.sh failed: " + cmd);
    }
    std::ofstream(marker) << "made by tests/certs/test_pki.cc\n";
  }
  close(fd);  // releases the lock
  return dir;
}

}  // namespace

const Pki& SharedPki() {
  static const Pki* pki = [] {
    auto* p = new Pki;
    p->dir = CachedGenCertsDir();
    p->ca = LoadCert(p->File("ca.pem"));
    p->foreign_ca = LoadCert(p->File("foreign-ca.pem"));
    p->server = LoadCert(p->File("server.pem"));
    p->node = LoadCert(p->File("node.pem"));
    p->client = LoadCert(p->File("client.pem"));
    p->ca_key = LoadKey(p->File("ca.key.pem"));
    p->foreign_ca_key = LoadKey(p->File("foreign-ca.key.pem"));
    p->server_key = LoadKey(p->File("server.key.pem"));
    p->node_key = LoadKey(p->File("node.key.pem"));
    p->client_key = LoadKey(p->File("client.key.pem"));
    return p;
  }();
  return *pki;
}

EvpPkeyPtr GenerateRsa(int bits) { return EvpPkeyPtr(EVP_RSA_gen(static_cast<unsigned>(bits))); }
EvpPkeyPtr GenerateEc(const char* curve) { return EvpPkeyPtr(EVP_EC_gen(curve)); }

X509Ptr MintCert(const CertSpec& spec) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before_s);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.not_after_s);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("mies test"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1, 0);
  X509* issuer = spec.issuer != nullptr ? spec.issuer : cert.get();
  EVP_PKEY* issuer_key = spec.issuer_key != nullptr ? spec.issuer_key : spec.key;
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer));
  X509_set_pubkey(cert.get(), spec.key);
  if (spec.ca) {
    AddExt(cert.get(), issuer, NID_basic_constraints, "critical,CA:TRUE");
    AddExt(cert.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExt(cert.get(), issuer, NID_basic_constraints, "critical,CA:FALSE");
    AddExt(cert.get(), issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
  }
  if (!spec.eku.empty()) AddExt(cert.get(), issuer, NID_ext_key_usage, spec.eku);
  if (!spec.san.empty()) AddExt(cert.get(), issuer, NID_subject_alt_name, spec.san);
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) throw std::runtime_error("sign");
  return cert;
}

std::string CertPem(const X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return BioText(bio.get());
}

std::string KeyPem(const EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return BioText(bio.get());
}

std::string EncryptedKeyPem(const EVP_PKEY* key, const std::string& password) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PKCS8PrivateKey(bio.get(), key, EVP_aes_256_cbc(), password.data(),
                                static_cast<int>(password.size()), nullptr, nullptr);
  return BioText(bio.get());
}

std::string TraditionalEncryptedKeyPem(const EVP_PKEY* key, const std::string& password) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  auto* pass = reinterpret_cast<const unsigned char*>(password.data());
  PEM_write_bio_PrivateKey_traditional(bio.get(), key, EVP_aes_256_cbc(), pass,
                                       static_cast<int>(password.size()), nullptr, nullptr);
  return BioText(bio.get());
}

std::string MintCrlPem(const X509* issuer, EVP_PKEY* issuer_key, const std::vector<X509*>& revoked,
                       long last_update_s, long next_update_s) {
  X509CrlPtr crl(X509_CRL_new());
  X509_CRL_set_version(crl.get(), 1);
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer));
  ASN1_TIME* last = X509_gmtime_adj(nullptr, last_update_s);
  ASN1_TIME* next = X509_gmtime_adj(nullptr, next_update_s);
  X509_CRL_set1_lastUpdate(crl.get(), last);
  X509_CRL_set1_nextUpdate(crl.get(), next);
  for (X509* cert : revoked) {
    X509_REVOKED* r = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(cert));
    X509_REVOKED_set_revocationDate(r, last);
    X509_CRL_add0_revoked(crl.get(), r);
  }
  ASN1_TIME_free(last);
  ASN1_TIME_free(next);
  X509_CRL_sort(crl.get());
  if (X509_CRL_sign(crl.get(), issuer_key, EVP_sha256()) <= 0) throw std::runtime_error("crl sign");
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_CRL(bio.get(), crl.get());
  return BioText(bio.get());
}

}  // namespace mies::certs::testing
